#!/usr/bin/env python3
"""pool_bench's Python peer: concurrent.futures.ProcessPoolExecutor running
the same no-op task as the other pools, on the same number of workers.

Measures, in this order: sync round trips (submit one task, wait for it),
submit-then-wait throughput (one submit per task, all waited at the end),
and map throughput with a large chunksize. With --callers, only this:
that many threads each making sync round trips on the one executor.
Prints one JSON line on stdout; bench/peers/py_peer.c runs this script
and parses that line.
"""
import argparse
import concurrent.futures as cf
import ctypes
import itertools
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
SIGKILL = 9


def noop(x):
    return x


def die_with_parent(parent):
    """Worker initializer: be killed when the pool's process dies, so a
    killed benchmark leaves no worker behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def thread_switches(pid):
    """Context switches of every thread of pid (/proc counts per thread)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches",
                                        "nonvoluntary_ctxt_switches")):
                        total += int(line.split(":")[1])
        except (OSError, ValueError):
            pass
    return total


def group_switches(ex):
    """This process (every thread, via getrusage) plus the workers."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    total = ru.ru_nvcsw + ru.ru_nivcsw
    for pid in list(getattr(ex, "_processes", {}) or {}):
        total += thread_switches(pid)
    return total


def group_cpu_ns(ex):
    """CPU time of this process plus the workers (utime + stime)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    total = (ru.ru_utime + ru.ru_stime) * 1e9
    tick = os.sysconf("SC_CLK_TCK")
    for pid in list(getattr(ex, "_processes", {}) or {}):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 1e9 / tick
        except (OSError, ValueError, IndexError):
            pass
    return total


def pct(samples, p):
    """Nearest rank, as bench_util does: microseconds."""
    k = max(1, min(len(samples), math.ceil(p * len(samples))))
    return samples[k - 1] / 1000.0


def run_sync(ex, warmup, roundtrips):
    lat = []
    for i in range(warmup + roundtrips):
        if i == warmup:
            csw = group_switches(ex)
        t0 = time.perf_counter_ns()
        if ex.submit(noop, i).result() != i:
            raise RuntimeError("wrong result")
        if i >= warmup:
            lat.append(time.perf_counter_ns() - t0)
    csw = group_switches(ex) - csw
    lat.sort()
    return {
        "sync_roundtrips": roundtrips,
        "sync_p50_us": pct(lat, 0.50),
        "sync_p99_us": pct(lat, 0.99),
        "sync_p999_us": pct(lat, 0.999),
        "sync_max_us": lat[-1] / 1000.0,
        "sync_ctx_switches_per_task": csw / roundtrips,
    }


def run_contended(ex, callers, warmup, roundtrips):
    """callers threads, each submit(noop, i).result() one at a time: after
    a warm-up, timed until roundtrips have been made by all of them
    together (as pool_bench's own callers do)."""
    warm = max(10, warmup // callers)
    started = itertools.count()  # next() is atomic under the GIL
    stop = threading.Event()
    ready = threading.Barrier(callers + 1)
    lats = [[] for _ in range(callers)]
    errors = []

    def caller(k):
        i = k << 40
        try:
            for i in range(i, i + warm):
                if ex.submit(noop, i).result() != i:
                    raise RuntimeError("wrong result")
        except Exception as e:  # reported below, after the barrier
            errors.append(e)
            stop.set()
        ready.wait()
        lat = lats[k]
        try:
            while not stop.is_set() and next(started) < roundtrips:
                i += 1
                t0 = time.perf_counter_ns()
                if ex.submit(noop, i).result() != i:
                    raise RuntimeError("wrong result")
                lat.append(time.perf_counter_ns() - t0)
        except Exception as e:
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=caller, args=(k,))
               for k in range(callers)]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.perf_counter_ns()
    for t in threads:
        t.join()
    dt = time.perf_counter_ns() - t0
    if errors:
        raise errors[0]
    counts = [len(x) for x in lats]
    lat = sorted(v for x in lats for v in x)
    return {
        "contended_callers": callers,
        "contended_roundtrips": len(lat),
        "contended_p50_us": pct(lat, 0.50),
        "contended_p99_us": pct(lat, 0.99),
        "contended_p999_us": pct(lat, 0.999),
        "contended_max_us": lat[-1] / 1000.0,
        "contended_tasks_per_s": len(lat) * 1e9 / dt,
        "contended_fewest": min(counts),
        "contended_most": max(counts),
    }


def run_submit(ex, tasks):
    csw = group_switches(ex)
    t0 = time.perf_counter_ns()
    futs = [ex.submit(noop, i) for i in range(tasks)]
    total = sum(f.result() for f in futs)
    dt = time.perf_counter_ns() - t0
    if total != tasks * (tasks - 1) // 2:
        raise RuntimeError("wrong results")
    return {
        "submit_tasks": tasks,
        "submit_tasks_per_s": tasks * 1e9 / dt,
        "submit_ctx_switches_per_task": (group_switches(ex) - csw) / tasks,
    }


def run_map(ex, tasks, chunksize):
    csw = group_switches(ex)
    cpu = group_cpu_ns(ex)
    t0 = time.perf_counter_ns()
    total = sum(ex.map(noop, range(tasks), chunksize=chunksize))
    dt = time.perf_counter_ns() - t0
    if total != tasks * (tasks - 1) // 2:
        raise RuntimeError("wrong results")
    return {
        "map_tasks": tasks,
        "map_chunksize": chunksize,
        "map_tasks_per_s": tasks * 1e9 / dt,
        "map_ctx_switches_per_task": (group_switches(ex) - csw) / tasks,
        "map_cpu_us_per_task": (group_cpu_ns(ex) - cpu) / 1e3 / tasks,
    }


def per_task(a):
    """A fresh worker process per task: max_tasks_per_child=1 (which
    Python runs with the spawn start method). Sync round trips, then
    submit-then-wait throughput."""
    out = {"ok": False, "python": sys.version.split()[0], "workers": a.workers}
    with cf.ProcessPoolExecutor(max_workers=a.workers,
                                max_tasks_per_child=1,
                                initializer=die_with_parent,
                                initargs=(os.getpid(),)) as ex:
        out["start_method"] = ex._mp_context.get_start_method()
        out.update(run_sync(ex, a.warmup, a.roundtrips))
        out.update(run_submit(ex, a.submit_tasks))
    out["ok"] = True
    print(json.dumps(out), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--roundtrips", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--callers", type=int, default=0,
                    help="only the contended run, with this many threads")
    ap.add_argument("--map-tasks", type=int)
    ap.add_argument("--submit-tasks", type=int)
    ap.add_argument("--per-task", action="store_true",
                    help="only sync and submit, max_tasks_per_child=1")
    a = ap.parse_args()
    if a.per_task and a.submit_tasks is None:
        ap.error("--per-task needs --submit-tasks")
    if a.callers < 0 or (not a.callers and not a.per_task and
                         (a.map_tasks is None or a.submit_tasks is None)):
        ap.error("--map-tasks and --submit-tasks, or --callers N")
    if a.per_task:
        return per_task(a)

    out = {
        "ok": False,
        "python": sys.version.split()[0],
        "start_method": mp.get_start_method(),
        "workers": a.workers,
    }
    with cf.ProcessPoolExecutor(max_workers=a.workers,
                                initializer=die_with_parent,
                                initargs=(os.getpid(),)) as ex:
        # Warm-up: every worker started and has run tasks.
        sum(ex.map(noop, range(1000), chunksize=50))
        if a.callers:
            out.update(run_contended(ex, a.callers, a.warmup,
                                     a.roundtrips))
        else:
            chunksize = max(1, min(10000,
                                   a.map_tasks // (4 * a.workers)))
            out.update(run_sync(ex, a.warmup, a.roundtrips))
            out.update(run_submit(ex, a.submit_tasks))
            out.update(run_map(ex, a.map_tasks, chunksize))
    out["ok"] = True
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
