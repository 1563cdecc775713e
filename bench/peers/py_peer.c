/*
 * The Python peer: runs bench/peers/py_pool.py (ProcessPoolExecutor) with
 * python3 from PATH and reads back the one JSON line it prints.
 *
 * python3 runs in a process group of its own with PR_SET_PDEATHSIG, and
 * its workers set PR_SET_PDEATHSIG too (the script's initializer); the
 * whole group is killed if the script overruns its deadline, and swept
 * once it has exited, so nothing outlives the run. A missing python3 (or
 * script) is not a failure: the peer's note says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench/peers/peer.h"

#define SCRIPT		 "bench/peers/py_pool.py"
#define WORKSPACE	 "processpool"
#define OUT_MAX		 8192
#define DEADLINE_S	 300
#define QUICK_DEADLINE_S 60
/* Python's submit costs ~100 us a task: fewer tasks keep the run short. */
#define SUBMIT_TASKS	   20000ull
#define QUICK_SUBMIT_TASKS 5000ull
#define SYNC_ROUNDTRIPS	   20000ull
/* 8 threads on 2 workers: ~1,300 round trips a second. */
#define CONTENDED_ROUNDTRIPS 5000ull

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/*
 * The script, wherever this run can see it: an explicit override, the
 * Bazel runfiles tree (bazel run, or the binary started by hand), the
 * current directory, or the source tree bazel run came from.
 */
static bool find_script(const char *argv0, char *buf, size_t len)
{
	const char *env = getenv("POOL_BENCH_PY_POOL");
	const char *runfiles = getenv("RUNFILES_DIR");
	const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY");

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return readable(buf);
	}
	if (runfiles) {
		snprintf(buf, len, "%s/" WORKSPACE "/" SCRIPT, runfiles);
		if (readable(buf))
			return true;
	}
	if (argv0) {
		snprintf(buf, len, "%s.runfiles/" WORKSPACE "/" SCRIPT, argv0);
		if (readable(buf))
			return true;
	}
	snprintf(buf, len, SCRIPT);
	if (readable(buf))
		return true;
	if (ws) {
		snprintf(buf, len, "%s/" SCRIPT, ws);
		return readable(buf);
	}
	return false;
}

/* The child: its own process group, dies with us, then python3. */
static void exec_python(pid_t parent, char *const argv[], int out_fd,
			int err_fd)
{
	int e;

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127);
	if (dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	execvp(argv[0], argv);
	/* Tell the parent why, through the CLOEXEC pipe. */
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

struct child {
	pid_t pid;
	int out_fd; /* the script's stdout */
	int err_fd; /* exec's errno, or EOF once python3 runs */
};

static int spawn(char *const argv[], struct child *c)
{
	int out[2], err[2];
	pid_t parent = getpid();

	if (pipe2(out, O_CLOEXEC))
		return -errno;
	if (pipe2(err, O_CLOEXEC)) {
		close(out[0]);
		close(out[1]);
		return -errno;
	}
	fflush(stdout);
	fflush(stderr);
	c->pid = fork();
	if (c->pid == 0)
		exec_python(parent, argv, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	c->out_fd = out[0];
	c->err_fd = err[0];
	if (c->pid < 0) {
		close(out[0]);
		close(err[0]);
		return -errno;
	}
	/* Also here, so the group exists before any kill(-pid). */
	setpgid(c->pid, c->pid);
	return 0;
}

/* The errno exec failed with, or 0 once python3 is running. */
static int exec_errno(const struct child *c)
{
	int e = 0;
	ssize_t n;

	do
		n = read(c->err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(e) ? e : 0;
}

/* Read the script's stdout until EOF (or len - 1 bytes) or the deadline. */
static int read_output(const struct child *c, char *buf, size_t len,
		       int64_t deadline)
{
	struct pollfd pfd = {.fd = c->out_fd, .events = POLLIN};
	size_t have = 0;
	ssize_t n;
	int left;

	while (have < len - 1) {
		left = (int)((deadline - bu_now_ns()) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) <= 0)
			continue; /* EINTR, or the deadline: checked above */
		n = read(c->out_fd, buf + have, len - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	return 0;
}

/* Kill whatever is left in the script's group, and reap the script. */
static int finish(struct child *c, bool kill_first)
{
	int st;

	if (kill_first)
		kill(-c->pid, SIGKILL);
	st = bu_reap(c->pid);
	kill(-c->pid, SIGKILL); /* stragglers; ESRCH when none */
	close(c->out_fd);
	close(c->err_fd);
	return st;
}

/* A number after "key": in the JSON line, NaN if absent or null. */
static double json_num(const char *buf, const char *key)
{
	char pat[80];
	const char *p;
	char *end;
	double v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(buf, pat);
	if (!p)
		return NAN;
	v = strtod(p + strlen(pat), &end);
	return end == p + strlen(pat) ? NAN : v;
}

/* A string after "key": copied into out ("?" if absent). */
static void json_str(const char *buf, const char *key, char *out, size_t len)
{
	char pat[80];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(buf, pat);
	snprintf(out, len, "?");
	if (!p)
		return;
	p += strlen(pat);
	n = strcspn(p, "\"");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

static void parse(const char *buf, struct peer_result *r)
{
	char ver[16], method[16];

	r->batched_tps = json_num(buf, "map_tasks_per_s");
	r->batched_csw = json_num(buf, "map_ctx_switches_per_task");
	r->batched_cpu_us = json_num(buf, "map_cpu_us_per_task");
	r->unbatched_tps = json_num(buf, "submit_tasks_per_s");
	r->sync.p50 = json_num(buf, "sync_p50_us");
	r->sync.p99 = json_num(buf, "sync_p99_us");
	r->sync.p999 = json_num(buf, "sync_p999_us");
	r->sync.max = json_num(buf, "sync_max_us");
	r->sync_csw = json_num(buf, "sync_ctx_switches_per_task");
	json_str(buf, "python", ver, sizeof(ver));
	json_str(buf, "start_method", method, sizeof(method));
	snprintf(r->note, sizeof(r->note),
		 "Python %s, start method %s; map chunksize %.0f; %.0f "
		 "submits; %.0f sync round trips",
		 ver, method, json_num(buf, "map_chunksize"),
		 json_num(buf, "submit_tasks"),
		 json_num(buf, "sync_roundtrips"));
	r->ran = strstr(buf, "\"ok\": true") != NULL;
}

static unsigned long long min_u64(unsigned long long a, unsigned long long b)
{
	return a < b ? a : b;
}

/* The script's command line, in the caller's buffers. */
static void build_argv(const struct peer_opts *o, const char *script,
		       char num[4][24], char *argv[12])
{
	unsigned long long submit =
	    o->quick ? QUICK_SUBMIT_TASKS : SUBMIT_TASKS;

	snprintf(num[0], 24, "%d", o->workers);
	snprintf(num[1], 24, "%llu", (unsigned long long)o->tasks);
	snprintf(num[2], 24, "%llu", min_u64(submit, o->tasks));
	snprintf(num[3], 24, "%llu", min_u64(SYNC_ROUNDTRIPS, o->roundtrips));
	argv[0] = "python3";
	argv[1] = (char *)script;
	argv[2] = "--workers";
	argv[3] = num[0];
	argv[4] = "--map-tasks";
	argv[5] = num[1];
	argv[6] = "--submit-tasks";
	argv[7] = num[2];
	argv[8] = "--roundtrips";
	argv[9] = num[3];
	argv[10] = NULL;
}

/*
 * Run python3 with argv; the JSON line it printed into out. Returns 0,
 * -errno (why says how it failed), or 1 when python3 cannot be run
 * from PATH, which is not a failure.
 */
static int run_argv(const struct peer_opts *o, char *const argv[], char *out,
		    size_t len, char *why, size_t why_len)
{
	int64_t deadline =
	    bu_now_ns() +
	    (o->quick ? QUICK_DEADLINE_S : DEADLINE_S) * 1000000000LL;
	struct child c;
	int err, st;

	err = spawn(argv, &c);
	if (err) {
		snprintf(why, why_len, "cannot start python3: %s",
			 strerror(-err));
		return err;
	}
	err = exec_errno(&c);
	if (err) {
		finish(&c, false);
		snprintf(why, why_len,
			 "python3 not runnable from PATH (%s): not measured",
			 strerror(err));
		return err == ENOENT ? 1 : -err;
	}
	err = read_output(&c, out, len, deadline);
	st = finish(&c, err != 0);
	if (!err && st)
		err = -ECHILD;
	if (err)
		snprintf(why, why_len, "py_pool.py failed: %s (exit status %d)",
			 strerror(-err), st);
	return err;
}

static int run_script(const struct peer_opts *o, const char *script,
		      struct peer_result *r)
{
	char num[4][24], *argv[12], out[OUT_MAX], why[160];
	int err;

	build_argv(o, script, num, argv);
	err = run_argv(o, argv, out, sizeof(out), why, sizeof(why));
	if (err) {
		peer_fail(r, "%s", why);
		return err > 0 ? 0 : err;
	}
	parse(out, r);
	if (!r->ran)
		peer_fail(r, "py_pool.py printed no result");
	return r->ran ? 0 : -EBADMSG;
}

int peer_python_run(const struct peer_opts *o, struct peer_result *r)
{
	char script[4096];

	peer_result_init(r);
	if (!find_script(o->argv0, script, sizeof(script))) {
		peer_fail(r,
			  "%s not found (set POOL_BENCH_PY_POOL): "
			  "not measured",
			  SCRIPT);
		return 0;
	}
	return run_script(o, script, r);
}

static void parse_contended(const char *buf, struct peer_contended *c)
{
	char ver[16];

	c->callers = (int)json_num(buf, "contended_callers");
	c->workers = (int)json_num(buf, "workers");
	c->lat.p50 = json_num(buf, "contended_p50_us");
	c->lat.p99 = json_num(buf, "contended_p99_us");
	c->lat.p999 = json_num(buf, "contended_p999_us");
	c->lat.max = json_num(buf, "contended_max_us");
	c->tps = json_num(buf, "contended_tasks_per_s");
	c->total = (uint64_t)json_num(buf, "contended_roundtrips");
	c->fewest = (uint64_t)json_num(buf, "contended_fewest");
	c->most = (uint64_t)json_num(buf, "contended_most");
	json_str(buf, "python", ver, sizeof(ver));
	snprintf(c->note, sizeof(c->note),
		 "Python %s: %d threads, each submit(noop).result() in a "
		 "loop on one executor",
		 ver, c->callers);
	c->ran = strstr(buf, "\"ok\": true") != NULL && !isnan(c->lat.p50);
}

int peer_python_contended(const struct peer_opts *o, int callers,
			  struct peer_contended *out)
{
	char script[4096], num[3][24], *argv[10], buf[OUT_MAX], why[160];
	int err;

	peer_contended_init(out, "");
	if (!find_script(o->argv0, script, sizeof(script))) {
		peer_fail_contended(out,
				    "%s not found (set POOL_BENCH_PY_POOL): "
				    "not measured",
				    SCRIPT);
		return 0;
	}
	snprintf(num[0], 24, "%d", o->workers);
	snprintf(num[1], 24, "%d", callers);
	snprintf(num[2], 24, "%llu",
		 min_u64(CONTENDED_ROUNDTRIPS, o->roundtrips));
	argv[0] = "python3";
	argv[1] = script;
	argv[2] = "--workers";
	argv[3] = num[0];
	argv[4] = "--callers";
	argv[5] = num[1];
	argv[6] = "--roundtrips";
	argv[7] = num[2];
	argv[8] = NULL;
	err = run_argv(o, argv, buf, sizeof(buf), why, sizeof(why));
	if (err) {
		peer_fail_contended(out, "%s", why);
		return err > 0 ? 0 : err;
	}
	parse_contended(buf, out);
	if (!out->ran)
		peer_fail_contended(out, "py_pool.py printed no result");
	return out->ran ? 0 : -EBADMSG;
}

/* Few: a fresh Python interpreter per task costs ~0.3 s here. */
#define PER_TASK_SUBMITS       60ull
#define PER_TASK_ROUNDTRIPS    30ull
#define QUICK_PER_TASK_SUBMITS 20ull

int peer_python_per_task(const struct peer_opts *o, struct peer_result *r)
{
	char script[4096], num[3][24], *argv[14], buf[OUT_MAX], why[160];
	char ver[16], method[16];
	int err;

	peer_result_init(r);
	if (!find_script(o->argv0, script, sizeof(script))) {
		peer_fail(r,
			  "%s not found (set POOL_BENCH_PY_POOL): "
			  "not measured",
			  SCRIPT);
		return 0;
	}
	snprintf(num[0], 24, "%d", o->workers);
	snprintf(num[1], 24, "%llu",
		 o->quick ? QUICK_PER_TASK_SUBMITS : PER_TASK_SUBMITS);
	snprintf(num[2], 24, "%llu",
		 o->quick ? QUICK_PER_TASK_SUBMITS / 2 : PER_TASK_ROUNDTRIPS);
	argv[0] = "python3";
	argv[1] = script;
	argv[2] = "--workers";
	argv[3] = num[0];
	argv[4] = "--per-task";
	argv[5] = "--submit-tasks";
	argv[6] = num[1];
	argv[7] = "--roundtrips";
	argv[8] = num[2];
	argv[9] = "--warmup";
	argv[10] = "2";
	argv[11] = NULL;
	err = run_argv(o, argv, buf, sizeof(buf), why, sizeof(why));
	if (err) {
		peer_fail(r, "%s", why);
		return err > 0 ? 0 : err;
	}
	r->unbatched_tps = json_num(buf, "submit_tasks_per_s");
	r->sync.p50 = json_num(buf, "sync_p50_us");
	r->sync.p99 = json_num(buf, "sync_p99_us");
	r->sync.p999 = json_num(buf, "sync_p999_us");
	r->sync.max = json_num(buf, "sync_max_us");
	json_str(buf, "python", ver, sizeof(ver));
	json_str(buf, "start_method", method, sizeof(method));
	snprintf(r->note, sizeof(r->note),
		 "Python %.15s, max_tasks_per_child=1, start method %.15s; "
		 "%.8s submits, %.8s sync round trips",
		 ver, method, num[1], num[2]);
	r->ran = strstr(buf, "\"ok\": true") != NULL && !isnan(r->sync.p50);
	if (!r->ran)
		peer_fail(r, "py_pool.py printed no result");
	return r->ran ? 0 : -EBADMSG;
}
