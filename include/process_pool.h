/*
 * processpool — a hardened process pool for Linux.
 *
 * Public API. Every function that returns int returns 0 (or a count) on
 * success and a negative POOL_E* code on failure; pool_strerror() names it.
 */
#ifndef PROCESS_POOL_H
#define PROCESS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROCESS_POOL_VERSION_MAJOR 0
#define PROCESS_POOL_VERSION_MINOR 1
#define PROCESS_POOL_VERSION_PATCH 0

/*
 * Error codes: one table, so the enum, the names and the messages can never
 * drift apart. The values are negative errno numbers where one fits, so a
 * POOL_E* code can be passed to strerror(-code) too.
 */
#define POOL_ERRNO_MAP(X)                                                      \
	X(EINVAL, -22, "invalid argument")                                     \
	X(ENOMEM, -12, "out of memory")                                        \
	X(EAGAIN, -11, "resource temporarily unavailable (queue full)")        \
	X(ETIMEDOUT, -110, "timed out")                                        \
	X(ECANCELED, -125, "operation cancelled")                              \
	X(EPROTO, -71, "protocol violation by the other side")                 \
	X(ESTATE, -77, "operation not valid in the current state")             \
	X(ENOSPC, -28, "no space left in the shared arena")                    \
	X(EMSGSIZE, -90, "message too long")                                   \
	X(ENOSYS, -38, "kernel facility not available")                        \
	X(EPERM, -1, "operation not permitted")                                \
	X(EALREADY, -114, "already taken: an earlier wait got the output")     \
	X(ESYS, -5, "system call failed (see the log)")

typedef enum pool_errno {
	POOL_OK = 0,
#define POOL_ERRNO_ENUM(name, value, msg) POOL_##name = (value),
	POOL_ERRNO_MAP(POOL_ERRNO_ENUM)
#undef POOL_ERRNO_ENUM
} pool_errno_t;

/* ---- Types ------------------------------------------------------------ */

/* An opaque pool of worker processes. */
typedef struct process_pool process_pool_t;

/* An opaque handle on one submitted task's outcome. */
typedef struct task_future task_future_t;

/*
 * A task function, run inside a worker process.
 *
 * input/input_size: the submitted bytes, read-only for the task (they live
 * in shared memory; input is NULL when input_size is 0). To hand back
 * output, point *output at memory from malloc() (the worker frees it after
 * copying) or from pool_output_alloc() (written straight into shared
 * memory, no copy), and set *output_size. user_data is the value given at
 * submit time, passed through untouched: a fork-mode worker is a copy of
 * the parent, so a pointer to memory the parent had at the last spawn is
 * valid there; a clean-room worker (POOL_SPAWN_CLEANROOM) has none of the
 * parent's memory, so there user_data is only an opaque integer. Return 0
 * for success; any other value makes the task TASK_STATUS_FAILED with that
 * return_code.
 *
 * A task must return rather than call exit(): exit() ends its worker
 * process at once (the host's atexit handlers do not run there, and the
 * stdio buffers a fork-mode worker inherited from the host were emptied
 * when it started, so the host's unflushed output is written once, by the
 * host), the pool replaces the worker, and the task ends
 * TASK_STATUS_CRASHED, not retried, with return_code 0 (the function never
 * returned) and the detail "task called exit(N) in worker PID". A task
 * that calls _exit() or dies of a signal ends CRASHED too (retried up to
 * max_retries), the exit code or the signal in the detail.
 */
typedef int (*task_func_t)(void *input, size_t input_size, void **output,
			   size_t *output_size, void *user_data);

/*
 * A worker initializer (pool_config_t.worker_init), run in each new
 * worker process before it is confined. arg/arg_size: the worker's own
 * copy of the config's worker_init_arg (NULL when the size is 0), valid
 * for the worker's whole life. Set *state (NULL before the call) to what
 * tasks should find with pool_worker_state(). Return 0 when the worker
 * may take tasks; any other value fails its start.
 */
typedef int (*pool_worker_init_t)(const void *arg, size_t arg_size,
				  void **state);

typedef enum task_priority {
	TASK_PRIORITY_LOW = 0,
	TASK_PRIORITY_NORMAL = 1,
	TASK_PRIORITY_HIGH = 2,
	TASK_PRIORITY_CRITICAL = 3,
} task_priority_t;

#define TASK_PRIORITY_COUNT 4

/* How a task ended. Every submitted task ends in exactly one of these. */
typedef enum task_status {
	TASK_STATUS_PENDING = 0,       /* not finished (never in a result) */
	TASK_STATUS_COMPLETED,	       /* the function returned 0 */
	TASK_STATUS_FAILED,	       /* the function returned non-zero */
	TASK_STATUS_TIMEOUT,	       /* its deadline passed */
	TASK_STATUS_CANCELLED,	       /* pool_future_cancel or pool_stop */
	TASK_STATUS_CRASHED,	       /* its worker died running it */
	TASK_STATUS_SANDBOX_VIOLATION, /* the worker's confinement stopped it */
	TASK_STATUS_RESOURCE_LIMIT,    /* a memory/pids/CPU limit stopped it */
	TASK_STATUS_PROTOCOL_ERROR,    /* its worker broke the IPC protocol */
	TASK_STATUS_REJECTED,	       /* never run: output too large, ... */
} task_status_t;

#define TASK_STATUS_COUNT 10

typedef enum log_level {
	LOG_LEVEL_DEFAULT = 0, /* PROCESS_POOL_LOG_LEVEL, else WARN */
	LOG_LEVEL_DEBUG = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_WARN = 3,
	LOG_LEVEL_ERROR = 4,
	LOG_LEVEL_NONE = 5,
} log_level_t;

#define LOG_LEVEL_WARNING LOG_LEVEL_WARN

/*
 * Pool configuration. A zeroed struct gives sane defaults for every field;
 * fields added later keep 0 meaning "default".
 */
typedef struct pool_config {
	int worker_count;	     /* workers at start; 0: online CPUs */
	int max_workers;	     /* 0: max(worker_count, min_workers) */
	int min_workers;	     /* 0: 1 with scaling, else worker_count */
	size_t queue_size;	     /* pending tasks accepted; 0: 65536 */
	int worker_idle_timeout;     /* ms before scaling down an idle worker;
				      * 0: 30000 */
	int task_timeout;	     /* default deadline in ms; 0: none */
	bool enable_dynamic_scaling; /* grow/shrink between min and max */
	bool enable_worker_affinity; /* pin each worker to one of the CPUs
				      * the pool may use (round robin) and
				      * prefer memory from that CPU's NUMA
				      * node */
	int log_level;		     /* log_level_t for this pool's lines, as
				      * pool_set_log_level(pool, level);
				      * LOG_LEVEL_DEFAULT: the process-wide
				      * level */
	char pool_name[64];	     /* for logs; "" gives "pool" */
	/* Extensions. */
	int max_retries;	  /* re-runs of a task whose worker crashed;
				   * 0: none */
	int max_in_flight;	  /* tasks queued on one worker, 1..256;
				   * 0: 256 (a deep pipeline keeps workers
				   * busy between the supervisor's turns) */
	int max_tasks_per_worker; /* recycle a worker after this many tasks,
				   * plus up to 25 % jitter (counting the
				   * tasks already sent to it; a bulk chunk
				   * is never larger); 0: never */
	size_t arena_size;	  /* shared payload bytes per worker and
				   * direction; 0: 64 MiB, 4 MiB in a
				   * POOL_ISOLATE_TASK pool (a worker
				   * that carries one payload reuses no
				   * page), an eighth of rlimit_as when
				   * that is less (at least 64 KiB).
				   * Only pages a payload touched take
				   * memory; they stay for the next
				   * payload, except those beyond the
				   * first 4 MiB of each direction, given
				   * back once the worker has finished no
				   * task for a second. A payload larger
				   * than the arena travels as a sealed
				   * memfd of its own instead */
	size_t max_output_size;	  /* larger outputs end REJECTED, the
				   * detail naming the limit; 0: 1 GiB;
				   * at most 1 TiB */
	/*
	 * Confinement (see README, "Security"). By default every worker
	 * drops all capabilities, sets no_new_privs, is not dumpable, has
	 * core dumps off, and runs under the compute seccomp profile; a
	 * denied syscall ends the task TASK_STATUS_SANDBOX_VIOLATION naming
	 * the syscall.
	 */
	int sandbox_off;	   /* 1: no confinement at all (not advised) */
	int seccomp_profile;	   /* 0: compute profile, 1: strict (the
				    * worker runtime only) */
	int seccomp_errno;	   /* 1: a denied syscall fails with EPERM
				    * and the task goes on (its outcome is
				    * still SANDBOX_VIOLATION); 0: the
				    * worker is stopped at once */
	const char *seccomp_allow; /* more syscalls or groups to allow,
				    * comma-separated: "openat,@network";
				    * copied by pool_create */
	int seccomp_learn;	   /* 1: learning mode, a development tool,
				    * never a confinement: every syscall the
				    * policy lacks is let through and recorded
				    * (pool_seccomp_learned); also turned on by
				    * PROCESS_POOL_SECCOMP_LEARN=1 */
	/* Per-worker resource limits (setrlimit); 0: unchanged. A worker
	 * stopped by its CPU limit ends its task RESOURCE_LIMIT. */
	size_t rlimit_as;	/* address space, bytes */
	unsigned rlimit_nofile; /* open files */
	unsigned rlimit_cpu_s;	/* CPU seconds per worker process */
	unsigned rlimit_nproc;	/* processes of the worker's user */
	/* When the pool runs as root: the uid/gid workers switch to before
	 * dropping capabilities (0: a uid of each worker's own, see
	 * worker_uid_base; the gid then follows it). An explicit worker_uid
	 * is used for every worker, and worker_uid_base is ignored. */
	unsigned worker_uid;
	unsigned worker_gid;
	/*
	 * cgroup v2: a group per pool and a leaf per worker, under
	 * cgroup_parent (a delegated group, e.g. a systemd service with
	 * Delegate=yes) or, when NULL, under the process's own group.
	 * Limits need the controller enabled there, which a group with
	 * processes of its own cannot do (README, "cgroup v2 and
	 * delegation"); see cgroup_mode.
	 */
	const char *cgroup_parent; /* copied by pool_create */
	int cgroup_mode;	   /* POOL_CGROUP_BEST_EFFORT (0): run without
				    * what is missing, log it once, report it
				    * in the stats; POOL_CGROUP_REQUIRED:
				    * pool_start fails naming what is
				    * missing; POOL_CGROUP_OFF: no groups */
	size_t memory_max;	   /* bytes per worker (memory.max), 0: none;
				    * an OOM kill ends the task
				    * RESOURCE_LIMIT */
	unsigned pids_max;	   /* processes per worker (pids.max) */
	unsigned cpu_max_percent;  /* of one CPU per worker (cpu.max) */
	/*
	 * How workers start (see README, "Spawn modes").
	 * POOL_SPAWN_FORK (0): a fork of the pool's process, which shares
	 * its memory image as of the spawn. POOL_SPAWN_CLEANROOM: a fresh
	 * exec of the program, entered through this library before main,
	 * inheriting only its channel: its own ASLR layout, none of the
	 * parent's heap, globals or locks. Task functions must then live in
	 * the executable or in a shared library loaded at startup (not
	 * dlopen'd); any other function is refused at submit with
	 * POOL_EINVAL (errno EINVAL). The library must be linked into the
	 * program or preloaded (LD_PRELOAD), not dlopen'd: pool_create
	 * refuses clean-room mode (EINVAL) in a host that dlopen'd it.
	 */
	int spawn_mode;
	/* The workers' share of CPU time against their siblings under
	 * contention (cgroup v2 cpu.weight, 1..10000; the kernel's default
	 * is 100); 0: leave it. Needs the cpu controller, as
	 * cpu_max_percent does. */
	unsigned cpu_weight;
	/* Capabilities the workers keep, comma-separated, with or without
	 * "cap_": "net_bind_service,sys_nice". Kept in the effective,
	 * permitted and (when the pool may change it) bounding sets, across
	 * the uid switch; every other capability goes, and the inheritable
	 * and ambient sets stay empty. The pool's process must hold each in
	 * its permitted set, else pool_create fails (EINVAL) naming it.
	 * NULL: keep none (the default). Read by pool_create only. */
	const char *keep_caps;
	/*
	 * What a submit does when the queue (queue_size) is full. 0: fail
	 * at once, POOL_EAGAIN (errno EAGAIN), as always; > 0: wait up to
	 * this many ms for room, then fail the same way; < 0: wait for room
	 * without a limit. A waiting submitter sleeps (no polling) and is
	 * woken as soon as the supervisor hands queued tasks to workers;
	 * pool_stop wakes it, and it then fails POOL_ESTATE (errno EBADFD).
	 * A batch queues what fits as room appears; entries still without
	 * room when the wait ends are NULL with errno EAGAIN.
	 */
	int submit_block_ms;
	/*
	 * Unprivileged workers (see README, "Unprivileged workers"). When
	 * the pool is created by root and worker_uid is 0, every worker slot
	 * runs under a uid of its own, and a gid of the same number unless
	 * worker_gid is set, so that no kernel check that trusts a shared
	 * uid (signals, SIGIO owners, /proc, ptrace, RLIMIT_NPROC) gives a
	 * worker power over the host or over another worker. Slot k of a
	 * pool runs as its first uid + k, across respawns. Each pool takes
	 * max_workers consecutive uids of [worker_uid_base, worker_uid_base +
	 * worker_uid_count), the next block for each pool this process
	 * creates, round robin; processes do not coordinate, so give
	 * services that run pools side by side ranges of their own.
	 * 0, 0: POOL_WORKER_UID_BASE_DEFAULT and _COUNT_DEFAULT, 65536 uids
	 * from 1879048192 (0x70000000): above the users, systemd's dynamic
	 * and container ranges and the usual subordinate-id ranges
	 * (/etc/subuid), below systemd's foreign range and 2^31.
	 * worker_uid_base = POOL_WORKER_UID_HOST: workers keep the host's uid
	 * (root, without capabilities), the behaviour before this field.
	 * Nothing changes in a process that is not root, nor with
	 * sandbox_off. A range not mapped in the process's user namespace
	 * (a container that maps only root) is skipped with a log line when
	 * it is the default (workers keep uid 0), and makes pool_create fail
	 * with EINVAL when it was given. worker_uid_count must be at least
	 * max_workers, and the range must end below 2^32 - 1.
	 */
	unsigned worker_uid_base;
	unsigned worker_uid_count;
	/*
	 * Workers' stdin, stdout and stderr (see README, "Workers' output").
	 * POOL_STDIO_CAPTURE (0): stdin from /dev/null; stdout and stderr
	 * into a pipe per worker, read by the pool and logged at WARN, one
	 * "worker_output" line per line written, with the worker's slot,
	 * pid and task; lines are cut at 512 bytes, escaped, and limited to
	 * worker_output_rate per second per worker (the rest is dropped and
	 * counted in a "worker_output_dropped" line). POOL_STDIO_DISCARD:
	 * all three on /dev/null. POOL_STDIO_INHERIT: the host's own stdio,
	 * shared with every worker (its flags, its SIGIO owner and its input
	 * included): the behaviour before this field, not advised. A worker
	 * always gets its own open file descriptions in the first two modes.
	 */
	int worker_stdio;
	unsigned worker_output_rate; /* lines per second per worker logged
				      * (CAPTURE), 1..100000; 0: 100 */
	/*
	 * Health checks (see README, "Health"). A worker that holds no task
	 * and has sent nothing for health_check_interval_ms gets a PING; one
	 * that does not answer within health_check_timeout_ms (stuck in a
	 * deadlock, stopped by SIGSTOP) is killed and replaced. A worker
	 * running a task is never pinged: the task's deadline covers it.
	 * 0: 10000 and 2000 ms; health_check_interval_ms < 0: no checks.
	 * Each at most 24 h.
	 */
	int health_check_interval_ms;
	int health_check_timeout_ms;
	/*
	 * Recycling besides max_tasks_per_worker (see README, "Health"): a
	 * worker whose own resident memory (anonymous pages: not the
	 * program's file pages nor the pool's shared arena) passes
	 * recycle_rss_bytes (read by
	 * the pool from /proc every 100 ms, so a worker that is stuck is
	 * seen too), or older than max_worker_age_ms (each worker's limit
	 * drawn up to 25 % higher, so they do not all go at once), is
	 * retired once it holds no task and replaced; never before
	 * min_worker_age_ms (0: 1000), which stops flapping. 0: never.
	 */
	size_t recycle_rss_bytes;
	int max_worker_age_ms;
	int min_worker_age_ms;
	/*
	 * Graceful-then-forceful timeouts (see README, "Health"): a task
	 * running past its deadline first gets timeout_signal (e.g. SIGTERM
	 * or SIGUSR1, which the task may catch to clean up and return),
	 * then, if it is still running timeout_grace_ms later (0: 1000), its
	 * worker is killed. The task ends TIMEOUT either way, at its
	 * deadline; a task that returns within the grace keeps its worker
	 * alive. 0: no signal, the worker is killed at once. A signal the
	 * task does not handle ends the worker as its default action says.
	 */
	int timeout_signal;
	int timeout_grace_ms;
	/* Larger inputs are refused at submit, POOL_EMSGSIZE (errno
	 * EMSGSIZE), never accepted and then rejected; 0: 1 GiB; at most
	 * 1 TiB. */
	size_t max_input_size;
	/*
	 * Rolling restarts (pool_restart): how long a retired worker may
	 * take to finish the tasks it holds before it is killed; a task it
	 * still runs then ends as if its worker had crashed (re-run up to
	 * max_retries, else CRASHED). 0: 30000; < 0: no limit.
	 */
	int restart_grace_ms;
	/*
	 * Isolation (see README, "Threat model"). POOL_ISOLATE_WORKER (0):
	 * a worker process runs many tasks, one after another or pipelined.
	 * POOL_ISOLATE_TASK: every task runs in a process that ran nothing
	 * before and is killed after it; the parent counts what it sent
	 * each process itself, so a task that takes over its worker never
	 * sees another task. Either way, tasks with different isolation
	 * keys (task_desc_t) never run in one process over its whole life.
	 */
	int isolation;
	/*
	 * 1: workers are made by a zygote, a small fork server started
	 * once, at pool_start, before any task runs (see README, "Zygote"):
	 * a new worker is then a copy of that small process, not of the
	 * host however large it has grown since, and starts inside its
	 * cgroup leaf. Fork mode: the zygote is a fork of the pool's
	 * process, and a worker's memory image is the host's as of
	 * pool_start. Clean-room mode: the zygote is a fresh exec of the
	 * program, and its workers hold none of the host's memory, as
	 * exec'd ones, but share the zygote's address-space layout (one
	 * ASLR draw per zygote, not per worker). Where the kernel lacks
	 * clone3 (Linux 5.3), or the zygote cannot serve, workers are
	 * spawned as without it. 0: a zygote for a fork-mode pool whose
	 * isolation is POOL_ISOLATE_TASK (a process per task makes the
	 * spawn the cost that matters), none for other pools unless
	 * PROCESS_POOL_ZYGOTE=1 is in the environment. -1: never.
	 */
	int zygote;
	/*
	 * Worker initializer (see README, "Worker initializers"): run once
	 * in every new worker process (at start, after a crash, recycling
	 * or scaling up; fork and clean-room alike) before the worker
	 * confines itself, so it may open the files, sockets or models the
	 * tasks need and that the seccomp profile will deny them. It gets
	 * a copy of the worker_init_arg bytes and sets *state, which tasks
	 * read with pool_worker_state(). It returns 0, or non-zero to fail
	 * the worker's start; a worker whose initializer fails or crashes
	 * never takes a task: the pool logs "worker_init_failed" with the
	 * cause, sets POOL_HEALTH_INIT_FAILING, and respawns it with the
	 * crash-loop back-off. Tasks wait in the queue for a worker that
	 * started (their deadlines, cancels and pool_stop still apply). In
	 * clean-room mode the function must lie in a module loaded at
	 * startup, as a task function must, else pool_create fails EINVAL.
	 * NULL: none.
	 */
	pool_worker_init_t worker_init;
	const void *worker_init_arg;   /* copied by pool_create */
	size_t worker_init_arg_size;   /* at most POOL_WORKER_INIT_ARG_MAX */
	/* An initializer still running this long after its worker was
	 * spawned is taken for hung: the worker is killed and the start
	 * counts as failed ("worker_init_failed" reason="timed_out"), as
	 * above. 0: 60000; < 0: no limit. */
	int worker_init_timeout_ms;
	/*
	 * Spare workers (see README, "Isolation"): fresh processes, started,
	 * confined and idle, kept beside the active ones and sent no task.
	 * When an active worker goes (its one task done in
	 * POOL_ISOLATE_TASK, an isolation key's eviction, a crash, a
	 * recycling), a spare takes its place at once and another is
	 * started in the background, so no task waits for a fork on its
	 * critical path. They take slots beyond max_workers (and uids, with
	 * worker_uid_base) but never run tasks beside the max_workers active
	 * ones. 0: the default, worker_count in a POOL_ISOLATE_TASK pool
	 * and none otherwise; -1: none; at most 4096.
	 */
	int spare_workers;
	/*
	 * 1: each worker measures every task it runs and reports it in
	 * task_result_t (cpu_user_us, cpu_sys_us, peak_rss_kb; see there
	 * for what the figures mean and how far to trust them). It costs
	 * the worker three syscalls per task (two getrusage and a write to
	 * its /proc/self/clear_refs), so it is off by default. Bulk tasks
	 * (pool_map) are never measured. 0: off. Fixed at pool_create
	 * (pool_restart refuses a change).
	 */
	int task_usage;
} pool_config_t;

#define POOL_WORKER_INIT_ARG_MAX ((size_t)1 << 20)

#define POOL_ISOLATE_WORKER 0
#define POOL_ISOLATE_TASK   1

#define POOL_STDIO_CAPTURE 0
#define POOL_STDIO_INHERIT 1
#define POOL_STDIO_DISCARD 2

#define POOL_WORKER_UID_HOST	      0xffffffffu
#define POOL_WORKER_UID_BASE_DEFAULT  1879048192u /* 0x70000000 */
#define POOL_WORKER_UID_COUNT_DEFAULT 65536u

#define POOL_SPAWN_FORK	     0
#define POOL_SPAWN_CLEANROOM 1

#define POOL_CGROUP_BEST_EFFORT 0
#define POOL_CGROUP_REQUIRED	1
#define POOL_CGROUP_OFF		2

/* pool_stats_t.limits_in_force bits */
#define POOL_LIMIT_MEMORY 1u
#define POOL_LIMIT_PIDS	  2u
#define POOL_LIMIT_CPU	  4u

/*
 * A submit's timeout_ms: no deadline for this task, even when the pool
 * has a default (task_timeout). 0 means the pool's default; > 0 a deadline
 * that many ms after the submit; any other negative value is POOL_EINVAL.
 */
#define POOL_NO_TIMEOUT (-1)

/* One task for pool_submit_batch and the _ex submits; mirrors
 * pool_submit_async's arguments. Zero it first (memset, or = {0}): a
 * field added later then keeps its default. */
typedef struct task_desc {
	task_func_t task_func;
	void *input_data;
	size_t input_size;
	void *user_data;
	task_priority_t priority;
	int timeout_ms; /* 0: the pool's task_timeout; POOL_NO_TIMEOUT: none */
	/* Added later (zero them): W3C trace context, read at submit. */
	const char *traceparent; /* "00-TRACEID-PARENTID-FLAGS" or NULL */
	const char *tracestate;	 /* up to 512 printable chars, or NULL */
	/*
	 * The task's trust domain: a worker process is bound to the key of
	 * the first task it is sent and is never sent a task of another
	 * key. 0 is the unkeyed domain: unkeyed tasks share processes with
	 * each other, never with keyed ones. A process bound to a key that
	 * no queued task has may be killed to make room for a fresh one.
	 */
	uint64_t isolation_key;
	/* 0: the pool's isolation; POOL_ISOLATE_TASK: this task runs in a
	 * fresh process of its own, killed after it, whatever the pool's
	 * mode. Any other value is POOL_EINVAL. */
	int isolation;
} task_desc_t;

/*
 * A finished span of a traced task (pool_set_span_hook), in the terms of
 * W3C trace context and OpenTelemetry. Per task: "processpool.task",
 * submit until the outcome, the child of the traceparent given at submit
 * (a root span of a new trace when none was); per attempt, its children
 * "processpool.queue" (submit, or the requeue after a crash, until handed
 * to a worker), "processpool.dispatch" (handed to a worker until its
 * SUBMIT frame went out) and "processpool.run" (until the attempt ended:
 * this includes waiting behind the worker's earlier tasks). A crash that
 * re-runs the task (max_retries) ends that attempt's run CRASHED and the
 * next attempt's spans follow, in the same trace under the same task
 * span. The pointers are valid during the hook call only. A task reads
 * its run span's context with pool_task_traceparent().
 */
typedef struct pool_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero: a root span */
	uint8_t trace_flags;	   /* as given (01: sampled); 01 for new */
	const char *name;	   /* "processpool.task", ".queue", ... */
	const char *tracestate;	   /* as given at submit, or NULL */
	int64_t start_unix_ns;	   /* CLOCK_REALTIME, ns */
	int64_t end_unix_ns;
	/* The task's outcome (task span), the attempt's (run span: CRASHED
	 * for an attempt that is re-run), or TASK_STATUS_PENDING for a queue
	 * or dispatch span the task left normally. */
	task_status_t status;
	int worker_pid; /* the worker of the attempt (of the last, for the
			 * task span), or 0 */
	int attempt;	/* 1 for the first run */
	uint64_t task_id;
	/* Added later: on the task span and its last run span, the figures
	 * of its result (task_result_t.cpu_user_us, ...; the worker's
	 * claim, in a pool with task_usage), else 0. */
	uint64_t cpu_user_us;
	uint64_t cpu_sys_us;
	uint64_t peak_rss_kb;
} pool_span_t;

typedef void (*pool_span_hook_t)(const pool_span_t *span, void *arg);

/*
 * A finished task. Release output_data with pool_result_free, never
 * free(): an output larger than the arena is a read-only mapping of the
 * worker's
 * sealed memfd (zero copy; nobody can change it), which
 * pool_result_free unmaps.
 */
typedef struct task_result {
	task_status_t status;
	int return_code;   /* the task function's return value */
	void *output_data; /* owned by the result; NULL if none */
	size_t output_size;
	int term_signal; /* signal that ended the worker, or 0 */
	int worker_pid;	 /* worker that ran it, or 0 */
	uint64_t task_id;
	uint64_t queue_us; /* submit until handed to a worker */
	uint64_t run_us;   /* handed to a worker until the end: includes
			    * waiting behind that worker's earlier tasks */
	char detail[96];   /* human-readable cause, e.g. the violation */
	/*
	 * Added later. What the task used, in a pool with task_usage, for a
	 * task whose worker reported its end (COMPLETED, FAILED, REJECTED,
	 * SANDBOX_VIOLATION in errno mode, RESOURCE_LIMIT from pids.max);
	 * else 0. These are the worker's claim, not the parent's reading:
	 * a task that takes over its worker can make them say anything
	 * within the bounds the parent clamps them to (neither CPU figure
	 * above the task's time on the worker times the machine's CPUs,
	 * peak_rss_kb not above the machine's memory). Use them for
	 * reporting, never for billing, limits or security decisions; the
	 * parent's own readings are pool_get_workers' usage and the cgroup
	 * limits.
	 */
	uint64_t cpu_user_us; /* CPU time in user mode (getrusage of the
			       * worker process around the task: its
			       * threads included) */
	uint64_t cpu_sys_us;  /* CPU time in the kernel */
	/* Peak resident memory, KiB: the worker resets its high-water mark
	 * before each task (/proc/self/clear_refs, Linux >= 4.0), so this
	 * is the task's own peak, counting what the worker process already
	 * held when it started. Where the reset is not possible (the
	 * worker could not open clear_refs) it is the process's peak up
	 * to the end of this task, at least the task's own. */
	uint64_t peak_rss_kb;
} task_result_t;

/*
 * Counters only grow. A task is counted in tasks_submitted before any
 * thread can run or resolve it, and the outcome counters are read before
 * tasks_submitted, so in every snapshot the outcomes (completed, failed,
 * crashed, timed_out, cancelled, rejected, protocol_error,
 * sandbox_violation, resource_limit) add up to at most tasks_submitted.
 * tasks_retried counts re-runs, not outcomes.
 */
typedef struct pool_stats {
	uint64_t tasks_submitted;
	uint64_t tasks_completed;
	uint64_t tasks_failed;
	uint64_t tasks_crashed;
	uint64_t tasks_timed_out;
	uint64_t tasks_cancelled;
	uint64_t tasks_rejected;
	uint64_t tasks_protocol_error;
	uint64_t tasks_sandbox_violation;
	uint64_t tasks_resource_limit;
	uint64_t tasks_retried;
	uint64_t worker_restarts; /* workers replaced after they died or
				   * were killed (crash, timeout, cancel,
				   * health check); not retirements
				   * (recycling, scaling, pool_restart) nor
				   * the processes isolation discards */
	int active_workers; /* workers alive, spares not counted */
	int busy_workers;   /* workers with a task */
	size_t queue_depth; /* accepted tasks not yet on a worker */
	size_t queue_depth_by_priority[TASK_PRIORITY_COUNT];
	double avg_task_time_ms;  /* mean run time of finished tasks */
	double queue_utilization; /* queue_depth / queue_size, percent */
	uint64_t latency_p50_us;  /* submit to result, recent tasks */
	uint64_t latency_p99_us;
	uint64_t latency_p999_us;
	uint64_t latency_max_us;
	int cgroups;		  /* 1: workers run in their own leaves */
	unsigned limits_in_force; /* POOL_LIMIT_* the cgroups apply */
	uint64_t supervisor_loops; /* turns of the supervisor's loop: each
				    * one did work or was woken for it, so
				    * an idle or blocked pool adds none */
	uint64_t pool_restarts;	   /* rolling restarts finished */
	int restarting;		   /* 1 while one runs */
	int restart_min_ready;	   /* fewest ready workers seen during the
				    * last or current restart; -1: none */
	int zygote_pid;		   /* the pool's zygote, 0 when none runs */
	uint64_t zygote_restarts;  /* zygotes started after the first */
	int spare_workers;	   /* spares alive now (not in
				    * active_workers) */
	uint64_t spares_used;	   /* spares that replaced an active
				    * worker */
} pool_stats_t;

/*
 * What one process uses, read by the pool from /proc/PID (stat, status,
 * fd) and, for a worker with a cgroup leaf, from the leaf's files: the
 * parent's own reading, never the worker's word, so a stuck or hostile
 * worker is measured all the same. A figure that could not be read is 0
 * (open_fds: -1). The cg_* figures cover the whole leaf (the worker and
 * anything it started) and are set only when source has
 * POOL_USAGE_CGROUP.
 */
typedef struct pool_resource_usage {
	uint64_t cpu_user_us;	       /* CPU time in user mode */
	uint64_t cpu_system_us;	       /* CPU time in the kernel */
	uint64_t rss_bytes;	       /* resident now (VmRSS) */
	uint64_t peak_rss_bytes;       /* resident at most, so far (VmHWM) */
	int64_t open_fds;	       /* open file descriptors, or -1 */
	uint64_t ctx_switches_voluntary;   /* it blocked */
	uint64_t ctx_switches_involuntary; /* it was preempted */
	uint64_t age_ms;	       /* since the process started */
	int threads;
	unsigned source; /* POOL_USAGE_* bits: where the figures came from */
	uint64_t cg_memory_current; /* memory.current, bytes */
	uint64_t cg_memory_peak;    /* memory.peak (Linux >= 5.19), bytes */
	uint64_t cg_memory_max_hits; /* memory.events "max" */
	uint64_t cg_oom_kills;	     /* memory.events "oom_kill" */
	uint64_t cg_pids_current;    /* pids.current */
	uint64_t cg_cpu_us;	     /* cpu.stat usage_usec */
} pool_resource_usage_t;

#define POOL_USAGE_PROC	  1u /* /proc/PID was read */
#define POOL_USAGE_CGROUP 2u /* the worker's cgroup leaf was read */

/* One worker, as pool_get_workers reports it. */
typedef struct pool_worker_info {
	int slot;	     /* worker slot, 0 .. max_workers +
			      * spare_workers - 1 */
	int pid;	     /* its process */
	int cpu;	     /* the CPU it is pinned to, or -1 */
	int numa_node;	     /* that CPU's NUMA node, or -1 */
	int busy;	     /* 1 while it holds tasks */
	uint64_t tasks_done; /* tasks this process finished */
	uint64_t restarts;   /* replacements in this slot after a death
			      * (as worker_restarts counts them) */
	/* Added later; tasks_done above is the tasks it served. */
	pool_resource_usage_t usage; /* read from /proc at the call */
	int spare; /* 1: a spare, idle until it replaces an active one */
} pool_worker_info_t;

/*
 * A latency histogram (pool_get_latency). Samples are whole microseconds
 * (truncated); le_us[i] counts the samples of at most 2^i us (1 us, 2 us,
 * 4 us ... 2^27 us, about 134 s), cumulative, so le_us is non-decreasing
 * and never above count; count - le_us[last] samples took longer. Kept
 * inside at 8 buckets per power of two (about 9 % resolution), which the
 * percentiles of pool_stats_t use.
 */
#define POOL_LATENCY_BUCKETS 28

typedef struct pool_latency_histogram {
	uint64_t count;	 /* samples */
	uint64_t sum_us; /* their sum */
	uint64_t max_us; /* the largest */
	uint64_t le_us[POOL_LATENCY_BUCKETS];
} pool_latency_histogram_t;

/* pool_get_latency kinds */
#define POOL_LATENCY_TOTAL 0 /* submit until the outcome, every task */
#define POOL_LATENCY_QUEUE 1 /* submit until handed to a worker */
#define POOL_LATENCY_RUN   2 /* handed to a worker until the outcome */

#define POOL_PRIORITY_ALL (-1)

/* ---- Pool lifecycle ---------------------------------------------------- */

/*
 * pool_create - a stopped pool with the given configuration.
 *
 * config may be NULL for all defaults; it is copied. Returns the pool, or
 * NULL with errno EINVAL (an invalid config; the reason is logged),
 * ENOSYS (seccomp learning asked for, config or environment, on a kernel
 * without SECCOMP_RET_USER_NOTIF and its CONTINUE flag, Linux 5.5; logged)
 * or ENOMEM. Workers start with pool_start. Thread-safe. The caller owns the
 * pool and releases it with pool_destroy.
 */
process_pool_t *pool_create(const pool_config_t *config);

/*
 * pool_start - spawn the workers and the supervisor thread.
 *
 * Returns 0, POOL_EINVAL for NULL, POOL_ESTATE if the pool was already
 * started, or POOL_ESYS when a worker or the supervisor could not be
 * started, or when cgroup_mode is POOL_CGROUP_REQUIRED and a group or a
 * limit cannot be had (logged, with what to do). Call it once, from one
 * thread.
 */
int pool_start(process_pool_t *pool);

/*
 * pool_stop - stop accepting tasks, let queued ones run until timeout_ms
 * has passed (0: cancel them at once; < 0: wait for all), cancel the rest,
 * then stop the workers and reap them. Every future resolves; submitters
 * waiting for room (submit_block_ms) return POOL_ESTATE. Returns 0,
 * POOL_EINVAL, or POOL_ESTATE if the pool is not running or when called
 * from a completion callback (pool_future_on_done). Idempotent once
 * stopped. Must not be called from a task or concurrently with
 * pool_destroy.
 */
int pool_stop(process_pool_t *pool, int timeout_ms);

/*
 * pool_destroy - stop the pool if running (cancelling what is queued) and
 * free it. Futures still held stay valid (already resolved) until
 * pool_future_destroy. NULL is ignored. No process the pool started
 * outlives this call. From a completion callback it does nothing but log
 * an error (the callback may run on the pool's own thread).
 */
void pool_destroy(process_pool_t *pool);

/* ---- Submitting work --------------------------------------------------- */

/*
 * pool_submit_sync - run one task and wait for its outcome.
 *
 * timeout_ms is the task's deadline from now: 0 takes the pool's
 * task_timeout, POOL_NO_TIMEOUT gives it none (whatever the pool's
 * default). Returns 0 once *result is filled, whatever the task's outcome
 * (see result->status), or a negative code when the task could not be
 * submitted: POOL_EINVAL (NULL pool, func or result, or input NULL with a
 * non-zero size, bad priority, a timeout_ms below POOL_NO_TIMEOUT, or, for
 * a clean-room pool, a func outside the modules loaded at startup),
 * POOL_EMSGSIZE (input_size above the pool's max_input_size),
 * POOL_ESTATE (pool not running, stopped while waiting for room, or
 * called from a completion callback),
 * POOL_EAGAIN (queue full, after waiting submit_block_ms for room when the
 * config asks for it), POOL_ENOMEM. Without a deadline it waits for the
 * task to end (pool_stop ends every task). The input is copied before the
 * call returns, unless it is a pool_input_alloc buffer, which the pool
 * then owns. Thread-safe.
 */
int pool_submit_sync(process_pool_t *pool, task_func_t func, void *input,
		     size_t input_size, void *user_data,
		     task_priority_t priority, int timeout_ms,
		     task_result_t *result);

/*
 * pool_submit_async - queue one task; returns its future, or NULL with
 * errno set as for pool_submit_sync's errors (EINVAL, EMSGSIZE, EBADFD
 * for a pool that is not running, EAGAIN for a full queue, ENOMEM). timeout_ms as for
 * pool_submit_sync; a full queue waits as submit_block_ms says. The input
 * is copied before the call returns (a pool_input_alloc buffer is taken
 * over instead). Thread-safe. The caller owns the
 * future and releases it with pool_future_destroy.
 */
task_future_t *pool_submit_async(process_pool_t *pool, task_func_t func,
				 void *input, size_t input_size,
				 void *user_data, task_priority_t priority,
				 int timeout_ms);

/*
 * pool_submit_batch - queue count tasks with one wakeup.
 *
 * Returns a malloc'd array of count futures (the caller destroys each and
 * then free()s the array); an entry is NULL where that task was refused
 * (full queue, after waiting submit_block_ms for room when the config asks
 * for it; EINVAL for a pool_input_alloc buffer an earlier entry took),
 * with errno set. Returns NULL with errno EINVAL (bad arguments
 * in any task, as for pool_submit_sync, or count 0), EMSGSIZE (an input
 * in any task above max_input_size), EBADFD or ENOMEM when
 * nothing was queued, EAGAIN when nothing fitted. Thread-safe.
 */
task_future_t **pool_submit_batch(process_pool_t *pool,
				  const task_desc_t *tasks, size_t count);

/*
 * pool_submit_task - pool_submit_async for a task described by *task,
 * with what only a task_desc_t carries: the trace context (traceparent,
 * tracestate) and the isolation (isolation_key, isolation). NULL with
 * errno as for pool_submit_async, and EINVAL for a NULL task, a malformed
 * traceparent (version ff, all-zero ids, not lower-case hex) or
 * tracestate (over 512 chars, or not printable ASCII), or an isolation
 * value other than 0 and POOL_ISOLATE_TASK. task is read only during the
 * call. Thread-safe. The caller owns the future (pool_future_destroy).
 */
task_future_t *pool_submit_task(process_pool_t *pool, const task_desc_t *task);

/*
 * pool_submit_task_sync - pool_submit_sync for a task described by
 * *task (trace context and isolation as for pool_submit_task). Returns
 * 0 with *result filled, or the codes of pool_submit_sync, plus
 * POOL_EINVAL for the bad descriptions pool_submit_task refuses. Like
 * pool_submit_sync it may run the task on the direct lane. Thread-safe.
 */
int pool_submit_task_sync(process_pool_t *pool, const task_desc_t *task,
			  task_result_t *result);

/*
 * pool_set_span_hook - trace every task of pool: hook(span, arg) gets
 * each finished span (pool_span_t). Tasks submitted with a traceparent
 * continue that trace; the others start one of their own. NULL turns it
 * off. Call before pool_start: returns 0, POOL_EINVAL (NULL pool) or
 * POOL_ESTATE (already started). The hook runs on the thread that
 * decided the outcome (the supervisor, a pool_submit_sync caller, a
 * pool_future_cancel caller), perhaps on several at once, before the
 * result is published: keep it short (copy the span into a queue), and
 * call nothing of the pool from it. With no hook, tracing costs a branch
 * per task.
 */
int pool_set_span_hook(process_pool_t *pool, pool_span_hook_t hook,
		       void *arg);
/* ---- Map: one function over many inputs -------------------------------- */

/* The outcome of one task of a map (24 bytes of the caller's array). */
typedef struct pool_map_result {
	void *output;	    /* malloc'd, the caller's once the map is done
			     * (pool_map_results_free); NULL if none */
	size_t output_size;
	task_status_t status;
	int return_code; /* the function's return value; for
			  * SANDBOX_VIOLATION the syscall number */
} pool_map_result_t;

/*
 * A map's input callback: point *data at task index's input and set
 * *size (the bytes are copied before the next call, so a reused buffer
 * is fine). Return 0, or non-zero to stop: the map is then refused
 * (pool_map_start returns NULL with errno ECANCELED) before anything is
 * queued. Called on the thread that starts the map, in index order.
 */
typedef int (*pool_map_input_fn)(size_t index, const void **data,
				 size_t *size, void *arg);

typedef struct pool_map_options {
	/* Inputs from a callback instead of the inputs array (which must
	 * then be NULL). */
	pool_map_input_fn input_fn;
	void *input_arg;
	void *user_data; /* passed to every task, as at submit */
	task_priority_t priority;
	/* The deadline of the whole map, from the call: a task that has not
	 * ended by then ends TIMEOUT (a running one has its worker killed).
	 * 0: the pool's task_timeout; POOL_NO_TIMEOUT: none. */
	int timeout_ms;
	/* Tasks per chunk (one frame each way); 0: chosen by the pool
	 * (up to 1024, so that every worker gets several chunks). */
	size_t chunk_size;
} pool_map_options_t;

/* An opaque map in progress. */
typedef struct pool_map pool_map_t;

/*
 * pool_map_start - run func over n inputs, in chunks of tasks that travel
 * to a worker as one frame and come back as one; returns a handle to
 * wait on, or NULL with errno set.
 *
 * Task i gets the input_size bytes at inputs + i * input_size (inputs
 * NULL and input_size 0: every input empty), or what options->input_fn
 * gives for i. Its outcome goes to results[i] (n entries, the caller's,
 * written by the pool until the map is done: read them only after
 * pool_map_wait returns 0). Outcomes are exact per task: a task that
 * crashes its worker ends CRASHED; the tasks that shared the worker with
 * it and had not finished are re-run alone if max_retries allows, as for
 * any task (a worker's word on which task crashed it is never trusted).
 * Outputs as from any task (larger ones as sealed memfds, mapped
 * read-only). The whole map has one deadline
 * (options->timeout_ms). No future is made per task.
 *
 * The inputs array is read until the map is done (not copied when
 * queued); callback inputs are copied. options may be NULL (defaults:
 * NORMAL priority, the pool's timeout, no user_data).
 *
 * Errors (NULL, errno): EINVAL (NULL pool, func or results, n 0, inputs
 * NULL with input_size non-zero, both inputs and input_fn, a bad priority
 * or timeout, a clean-room func outside the startup modules), EMSGSIZE
 * (an input above max_input_size or a quarter of arena_size), EBADFD
 * (the pool is not running), ENOMEM, ECANCELED (input_fn said stop).
 * When the pool stops while the map is being queued, the tasks not
 * queued end CANCELLED. The call may wait for room in the queue, as long
 * as the pool runs. Thread-safe: any number of maps may run at once.
 */
pool_map_t *pool_map_start(process_pool_t *pool, task_func_t func,
			   const void *inputs, size_t input_size, size_t n,
			   pool_map_result_t *results,
			   const pool_map_options_t *options);

/*
 * pool_map_wait - wait up to timeout_ms (< 0: no limit) for every task of
 * the map to end. Returns 0 (results[] complete), POOL_ETIMEDOUT, or
 * POOL_EINVAL. Thread-safe; several threads may wait.
 */
int pool_map_wait(pool_map_t *map, int timeout_ms);

/*
 * pool_map_cancel - end every task of the map that has not ended yet:
 * queued ones CANCELLED without harming any worker, running ones
 * CANCELLED with their worker killed and replaced. Tasks that had ended
 * keep their outcome. Returns 0, POOL_ESTATE when every task had already
 * ended, or POOL_EINVAL. Thread-safe; pool_map_wait still says when the
 * outcomes are all written.
 */
int pool_map_cancel(pool_map_t *map);

/*
 * pool_map_destroy - release the handle: cancels the map if it is not
 * done and waits until it is (results[] then complete). NULL is a no-op.
 * The handle must not be used afterwards, nor concurrently.
 */
void pool_map_destroy(pool_map_t *map);

/*
 * pool_map - pool_map_start, then wait for every task: returns 0 with
 * results[] complete, or pool_map_start's error as a POOL_E* code
 * (POOL_EINVAL, POOL_EMSGSIZE, POOL_ESTATE, POOL_ENOMEM,
 * POOL_ECANCELED). Thread-safe.
 */
int pool_map(process_pool_t *pool, task_func_t func, const void *inputs,
	     size_t input_size, size_t n, pool_map_result_t *results,
	     const pool_map_options_t *options);

/*
 * pool_map_results_free - release the outputs of n results (NULLs them).
 * Call only once the map is done. NULL results is a no-op.
 */
void pool_map_results_free(pool_map_result_t *results, size_t n);

/*
 * pool_input_alloc - size bytes for the caller to write a task's input
 * into and submit without a copy: pass the returned pointer as the input
 * (input_size up to size) to pool_submit_sync, pool_submit_async or
 * pool_submit_batch of any pool, and ownership passes to the pool. The
 * caller must then neither read, write nor free it (it becomes
 * inaccessible when the task is placed on a worker); the pool releases
 * it when the task is released (the sync call returns, or the future is
 * destroyed). A submit that fails (a negative return, a NULL future or
 * batch entry) leaves it with the caller, who may submit it again or
 * release it with pool_input_free.
 *
 * An input larger than the pool's arena travels as this buffer itself:
 * its own memfd, mapped writable only in this process (never inherited by
 * a fork-mode worker: MADV_DONTFORK), unmapped and sealed against every
 * change (F_SEAL_WRITE, _SHRINK, _GROW, _SEAL) before the one worker that
 * runs the task maps it read-only. A smaller input is copied into the
 * worker's arena as any input is, and the buffer, which no worker ever
 * saw, is kept faulted in for a later pool_input_alloc (up to 64 MiB of
 * such buffers per process). Its contents are unspecified, as malloc's.
 *
 * Returns the buffer (page-aligned), or NULL with errno EINVAL (NULL
 * pool, size 0), EMSGSIZE (size above the pool's max_input_size), ENOMEM
 * or EMFILE (no memory, or no file descriptor for its memfd). Submitting
 * a buffer already submitted, or with input_size above its size, fails
 * POOL_EINVAL (errno EINVAL; in a batch, that entry only). Thread-safe.
 */
void *pool_input_alloc(process_pool_t *pool, size_t size);

/*
 * pool_input_free - release a buffer from pool_input_alloc that was never
 * submitted (or whose submits all failed). Returns 0 (NULL is ignored) or
 * POOL_EINVAL when buf is not the start of such a buffer, or was
 * submitted: the pool releases those. Thread-safe.
 */
int pool_input_free(void *buf);

/* ---- Futures ------------------------------------------------------------ */

/*
 * pool_future_wait - wait up to timeout_ms (< 0: no limit) for the task to
 * end. Returns 0 with *result filled (its output now belongs to result),
 * POOL_ETIMEDOUT with the future still valid, or POOL_EINVAL. The output
 * has one owner: every wait gets the status, return code and detail, but
 * once one wait has returned the output, a later wait on a result that
 * had one returns POOL_EALREADY (with *result filled, output NULL); a
 * result without output can be read any number of times. Called from a
 * completion callback on a task not yet ended with timeout_ms != 0, it
 * returns POOL_ESTATE instead of sleeping. Thread-safe; several threads
 * may wait on one future.
 */
int pool_future_wait(task_future_t *future, task_result_t *result,
		     int timeout_ms);

/*
 * pool_future_cancel - cancel the task. One that has not started is
 * removed without harming any worker; a running one has its worker killed
 * and replaced. Returns 0 when the task ends CANCELLED through this call,
 * POOL_ESTATE when it had already ended (its outcome stands), or
 * POOL_EINVAL. Thread-safe; racing with completion yields one outcome.
 */
int pool_future_cancel(task_future_t *future);

/*
 * pool_future_done - 1 if the task has ended, 0 if not, POOL_EINVAL.
 */
int pool_future_done(const task_future_t *future);

/*
 * pool_future_fd - a file descriptor that becomes readable (POLLIN) when
 * the task ends, for an application's own event loop. Owned by the future:
 * do not close it. Returns the fd, or POOL_EINVAL / POOL_ESYS.
 */
int pool_future_fd(task_future_t *future);

/*
 * pool_future_destroy - release the future, in any state. A task still
 * pending keeps running and its outcome is discarded. NULL is ignored.
 */
void pool_future_destroy(task_future_t *future);

/*
 * pool_future_status - the task's status: TASK_STATUS_PENDING until it
 * ends, then its outcome (as in its result), without taking anything:
 * the output stays for pool_future_wait. Returns POOL_EINVAL for NULL.
 * Thread-safe.
 */
int pool_future_status(const task_future_t *future);

/*
 * pool_future_task_id - the task's id, known from submit: the task_id of
 * its result and the task= of its log lines. Returns 0 for NULL.
 * Thread-safe.
 */
uint64_t pool_future_task_id(const task_future_t *future);

/*
 * A completion callback (pool_future_on_done): future is the future it was
 * set on, arg the pointer given with it.
 */
typedef void (*pool_future_cb_t)(task_future_t *future, void *arg);

/*
 * pool_future_on_done - call cb(future, arg) once, when the task ends.
 *
 * cb runs in the thread that decides the outcome: the pool's supervisor
 * thread for nearly every outcome, the thread calling pool_future_cancel
 * for a cancel, or this calling thread, before this call returns, when
 * the task has already ended. Waiters are woken before it runs. It must
 * be short and must not block: while it runs, the supervisor serves no
 * other task. It may read the outcome (pool_future_status, or
 * pool_future_wait with timeout_ms 0, which takes the output), submit with pool_submit_async or pool_submit_batch
 * (which then never wait for room: a full queue fails them with EAGAIN),
 * cancel other futures, add futures to a wait set, and release this
 * future with pool_future_destroy when it owns it. These return
 * POOL_ESTATE from a callback instead of blocking or deadlocking:
 * pool_submit_sync, pool_stop, a wait with timeout_ms != 0 on a task not
 * yet ended (pool_future_wait, pool_wait_any, pool_wait_all,
 * pool_wait_set_next); pool_destroy does nothing there (it logs an error).
 *
 * Returns 0, POOL_EINVAL (NULL future or cb), or POOL_ESTATE when the
 * future already has a callback (one per future). Thread-safe. The future
 * must stay valid until the call returns; the pool holds it until the
 * callback has run, even if it is destroyed meanwhile (then the callback
 * still runs).
 */
int pool_future_on_done(task_future_t *future, pool_future_cb_t cb,
			void *arg);

/*
 * pool_wait_any - wait up to timeout_ms (< 0: no limit) until one of the
 * n futures has ended, and set *index to the lowest such index. Consumes
 * nothing: read the result with pool_future_wait. Returns 0, POOL_EINVAL
 * (NULL array, index or entry, or n == 0), POOL_ETIMEDOUT, or POOL_ESTATE
 * (called from a completion callback and would have to sleep), or
 * POOL_ENOMEM. Thread-safe: any number of threads may wait on overlapping
 * sets; the caller keeps ownership of the futures.
 */
int pool_wait_any(task_future_t *const *futures, size_t n, int timeout_ms,
		  size_t *index);

/*
 * pool_wait_all - wait up to timeout_ms (< 0: no limit, in total) until
 * every one of the n futures has ended. Consumes nothing. Returns 0,
 * POOL_EINVAL (NULL array or entry, or n == 0), POOL_ETIMEDOUT (some
 * have not ended), or POOL_ESTATE (from a completion callback, with some
 * not ended and timeout_ms != 0). Thread-safe.
 */
int pool_wait_all(task_future_t *const *futures, size_t n, int timeout_ms);

/*
 * A wait set: futures in, the same futures out in the order they end
 * (Python's as_completed), through a blocking call or an fd for an event
 * loop. Futures of any pools may share a set.
 */
typedef struct pool_wait_set pool_wait_set_t;

/*
 * pool_wait_set_create - an empty wait set, or NULL with errno ENOMEM or
 * EMFILE. The caller owns it and releases it with pool_wait_set_destroy.
 */
pool_wait_set_t *pool_wait_set_create(void);

/*
 * pool_wait_set_add - add future (pending or ended): pool_wait_set_next
 * returns it once it has ended, once per add. The caller keeps ownership
 * and the future's handle; the set holds the future alive until it has
 * returned it or is destroyed. Returns 0, POOL_EINVAL or POOL_ENOMEM.
 * Thread-safe.
 */
int pool_wait_set_add(pool_wait_set_t *set, task_future_t *future);

/*
 * pool_wait_set_next - wait up to timeout_ms (< 0: no limit) for the
 * next future of the set to end, remove it from the set and store it in
 * *future (the caller's handle, as added; read it with pool_future_wait).
 * Returns 0, POOL_ETIMEDOUT, POOL_ESTATE when the set holds no future
 * (all returned) or when called from a completion callback with none
 * ready and timeout_ms != 0, or POOL_EINVAL. Thread-safe: several threads
 * may take from one set, and each future goes to one of them.
 */
int pool_wait_set_next(pool_wait_set_t *set, int timeout_ms,
		       task_future_t **future);

/*
 * pool_wait_set_fd - a file descriptor, readable (POLLIN) while the set
 * holds an ended future not yet returned by pool_wait_set_next. Owned by
 * the set: do not close or read it. Returns the fd or POOL_EINVAL.
 */
int pool_wait_set_fd(pool_wait_set_t *set);

/*
 * pool_wait_set_count - futures in the set: not yet ended, or ended and
 * not yet returned. Returns 0 for NULL. Thread-safe; a snapshot.
 */
size_t pool_wait_set_count(pool_wait_set_t *set);

/*
 * pool_wait_set_destroy - release the set and its hold on the futures it
 * still holds (the caller's handles stay valid). NULL is ignored. Must
 * not race with other calls on the set.
 */
void pool_wait_set_destroy(pool_wait_set_t *set);

/* pool_result_free - release a result's output (free it, or unmap it
 * when it is a mapping); safe to call twice. Thread-safe. */
void pool_result_free(task_result_t *result);

/*
 * pool_output_alloc - for task code in a worker: size bytes of shared
 * memory to return as *output. Up to the arena's size it lies in the
 * arena (no copy in the worker), and the parent copies it out into the
 * result; above, it is the worker's own memory (in transparent huge pages
 * where the system allows), which the kernel copies once into a memfd of
 * its own when the task returns; that memfd is sealed and handed to the
 * caller as a read-only mapping, never copied again. Returns NULL
 * above max_output_size, when no space can be had (then return malloc'd
 * memory instead) or when called outside a task. Do not free it.
 */
void *pool_output_alloc(size_t size);

/*
 * pool_worker_state - for task code in a worker: the state the pool's
 * worker_init stored in *state when this worker process started. Returns
 * NULL outside a worker, in a pool without an initializer, or when the
 * initializer left it NULL. A worker runs one task at a time, so tasks
 * may use the state without locking; it lives as long as the worker
 * process (the pool never frees it).
 */
void *pool_worker_state(void);

/*
 * pool_task_traceparent - for task code in a worker: the W3C traceparent
 * ("00-TRACEID-PARENTID-FLAGS") under which the running task's own spans
 * belong, so it can pass the trace on (to the services it calls, or to
 * its own tracer as the parent). For a task submitted with a traceparent
 * (task_desc_t): its trace id, and as parent id the span id of this
 * attempt's "processpool.run" span when the pool has a span hook (each
 * attempt, after a crash, has its own), else the caller's parent id as
 * submitted; the flags as submitted. Returns NULL outside a task, for a
 * task submitted without a traceparent (even when the pool traces it in
 * a trace of its own), and for tasks of a bulk chunk (pool_map; a batch
 * never puts a task with a traceparent in a chunk). tracestate is not
 * passed on. The string belongs to the worker and is valid until the
 * task returns: copy it to keep it. Costs nothing for tasks without a
 * traceparent: the context travels only with those.
 */
const char *pool_task_traceparent(void);

/* ---- Health ------------------------------------------------------------ */

/* pool_health_t.state: READY and DEGRADED accept and run tasks. */
typedef enum pool_health_state {
	POOL_HEALTH_READY = 0,	  /* nothing wrong */
	POOL_HEALTH_DEGRADED = 1, /* serving, with the reasons below */
	POOL_HEALTH_FAILING = 2,  /* not serving: stopped, or no worker */
} pool_health_state_t;

/* pool_health_t.reasons bits */
#define POOL_HEALTH_NOT_RUNNING	    1u	/* never started, or stopped */
#define POOL_HEALTH_NO_WORKERS	    2u	/* no worker alive */
#define POOL_HEALTH_BELOW_MIN	    4u	/* fewer workers than wanted */
#define POOL_HEALTH_CRASH_BACKOFF   8u	/* a crash loop in the last second:
					 * respawns are held back */
#define POOL_HEALTH_QUEUE_SATURATED 16u /* the queue is 90 % full */
#define POOL_HEALTH_SPAWN_FAILING   32u /* the last spawn failed */
#define POOL_HEALTH_UNRESPONSIVE    64u /* a worker failed a health check
					 * in the last minute */
#define POOL_HEALTH_INIT_FAILING    128u /* the last worker that ended
					  * its start did so in its
					  * initializer (worker_init) */

typedef struct pool_health {
	pool_health_state_t state;
	unsigned reasons;	      /* POOL_HEALTH_* bits */
	int workers;		      /* alive now */
	int wanted_workers;	      /* the pool's target now */
	size_t queue_depth;	      /* accepted, not yet on a worker */
	size_t queue_size;	      /* the config's queue_size */
	uint64_t unresponsive_total; /* workers replaced by health checks */
} pool_health_t;

/*
 * pool_health - the pool as a whole, for a readiness or liveness probe.
 *
 * FAILING (the pool is not running, or no worker is alive) means it
 * cannot serve: a readiness probe should fail, and so should a liveness
 * probe once it lasts longer than a respawn back-off (about a second).
 * DEGRADED still serves (readiness may pass) and says why in reasons.
 * Returns 0 with *out filled, or POOL_EINVAL for a NULL argument.
 * Thread-safe; a snapshot, each figure read once.
 */
int pool_health(process_pool_t *pool, pool_health_t *out);

/* ---- Rolling restart and signals --------------------------------------- */

/* pool_restart flags */
#define POOL_RESTART_WAIT 1u /* return once the restart has finished */

/*
 * pool_restart - replace every worker, a few at a time, without losing,
 * refusing or failing a task (README, "Rolling restart").
 *
 * A fresh worker is started and must answer a PING before an old one is
 * retired; a retired worker takes no new task, finishes the ones it holds
 * and exits, and is killed only past restart_grace_ms. With a free slot
 * (fewer workers alive than max_workers) the ready workers never drop
 * below their number at the start (or the pool's target, if lower); with
 * none, never below that number less max(1, workers / 4).
 *
 * config: NULL keeps the configuration; else a whole configuration (copy
 * the one the pool was created with and change what may change live: the
 * rlimit_* fields, seccomp_profile, seccomp_errno, seccomp_allow, the
 * cgroup limits' values (memory_max, pids_max, cpu_max_percent,
 * cpu_weight; not one turned on or off), the recycling fields, the
 * health checks, timeout_signal and timeout_grace_ms, restart_grace_ms,
 * and the scaling bounds worker_count, min_workers, worker_idle_timeout,
 * enable_dynamic_scaling within the pool's max_workers). It applies to
 * the workers started from then on. worker_uid_base and worker_uid_count
 * are ignored (the pool keeps its uids); every other field must resolve
 * as it did at pool_create. A config that fails validation changes
 * nothing: the running pool goes on as it was.
 *
 * Returns at once (0: the restart is under way; pool_stats_t.restarting
 * says when it is over), or with POOL_RESTART_WAIT once every worker
 * older than the call has been replaced (0). A restart asked for while
 * one runs extends it: every worker older than the last call is replaced
 * once. Errors: POOL_EINVAL (NULL pool, unknown flags, an invalid config
 * or one that changes what cannot change; the reason is logged),
 * POOL_ESTATE (the pool is not running, or stopped before the restart
 * finished), POOL_ENOMEM. Thread-safe; must not be called from a task or
 * concurrently with pool_destroy. If fresh workers never become ready
 * (each dies at start), the old ones keep serving and the restart does
 * not finish (pool_health says SPAWN_FAILING or CRASH_BACKOFF).
 */
int pool_restart(process_pool_t *pool, const pool_config_t *config,
		 unsigned flags);

/* pool_handle_signals / pool_block_signals: which signals */
#define POOL_SIGNAL_HUP	 1u /* SIGHUP: a rolling restart */
#define POOL_SIGNAL_USR1 2u /* SIGUSR1: reopen the log file */
#define POOL_SIGNAL_TERM 4u /* SIGTERM and SIGINT: a graceful stop */
#define POOL_SIGNALS_ALL 7u

/*
 * pool_block_signals - block the signals named by which (POOL_SIGNAL_*)
 * in the calling thread. Call it in main before any thread starts, so
 * that every thread inherits the mask: only then does the pool's
 * signalfd see them. Returns 0 or POOL_EINVAL. The library never calls
 * it on its own.
 */
int pool_block_signals(unsigned which);

/*
 * pool_handle_signals - have the supervisor read a signalfd for the
 * signals in which (POOL_SIGNAL_*), as operators expect (README,
 * "Signals"): SIGHUP starts pool_restart(pool, NULL, 0); SIGUSR1 reopens
 * the pool's log file (or the process-wide one); SIGTERM and SIGINT stop
 * the pool gracefully: no new task is accepted, queued and running ones
 * may finish for stop_timeout_ms (< 0: no limit), the rest are
 * cancelled, and the workers stop. pool_wait_stopped learns of it.
 *
 * Only signals blocked in every thread of the process reach the
 * signalfd (pool_block_signals); one that some thread does not block is
 * delivered there as usual (its handler, or the default action: SIGTERM
 * then ends the process). Nothing is installed by default. Calling it
 * again replaces the set (0: none). One pool per process should handle
 * a signal: the first signalfd read takes it. Returns 0, POOL_EINVAL
 * (NULL pool, unknown bits), POOL_ESTATE (the pool is not running) or
 * POOL_ESYS (no signalfd). Thread-safe.
 */
int pool_handle_signals(process_pool_t *pool, unsigned which,
			int stop_timeout_ms);

/*
 * pool_wait_stopped - wait up to timeout_ms (< 0: no limit) until the
 * pool stops, by a signal (pool_handle_signals) or by pool_stop in
 * another thread; a stop begun by a signal is completed here (as
 * pool_stop would: the supervisor joined, every future resolved).
 * Returns 0 once stopped, POOL_ETIMEDOUT, POOL_EINVAL, or POOL_ESTATE for
 * a pool never started. Thread-safe; pool_destroy afterwards as usual.
 */
int pool_wait_stopped(process_pool_t *pool, int timeout_ms);

/* ---- Observability ---------------------------------------------------- */

/*
 * pool_get_stats - a snapshot of the pool's counters. Returns 0 or
 * POOL_EINVAL. Thread-safe.
 */
int pool_get_stats(process_pool_t *pool, pool_stats_t *stats);

/*
 * pool_get_workers - a snapshot of the live workers, up to max entries
 * into out: the active ones first (max_workers entries hold them all),
 * then the spares (marked; max_workers + spare_workers hold everything). Returns the number written (0 when the pool is not running),
 * or POOL_EINVAL. Thread-safe; each entry is consistent on its own.
 * Each entry's usage is read from /proc (and the worker's cgroup leaf)
 * during the call: a few small reads per worker, so poll at a human pace,
 * not per task. A worker that exits meanwhile keeps its entry, with
 * usage.source 0 and its figures 0.
 */
int pool_get_workers(process_pool_t *pool, pool_worker_info_t *out, size_t max);

/*
 * pool_get_latency - the latency histogram of one kind (POOL_LATENCY_*)
 * for one priority (a task_priority_t, as submitted; POOL_PRIORITY_ALL:
 * all of them), into *out. QUEUE and RUN count the tasks that reached a
 * worker, each once, when its outcome is decided (RUN includes waiting
 * behind the worker's earlier tasks, as task_result_t.run_us does);
 * TOTAL counts every task, only for POOL_PRIORITY_ALL. Counts grow for
 * the pool's life. Returns 0, or POOL_EINVAL (NULL, an unknown kind or
 * priority, TOTAL for one priority). Thread-safe; a snapshot whose
 * buckets are consistent with each other and with count.
 */
int pool_get_latency(process_pool_t *pool, int kind, int priority,
		     pool_latency_histogram_t *out);

/* pool_metrics_write formats */
#define POOL_METRICS_PROMETHEUS 0 /* text exposition format 0.0.4 */
#define POOL_METRICS_JSON	1 /* docs/metrics.schema.json */

/*
 * pool_metrics_write - write a snapshot of the pool's metrics to fd in
 * format: counters, health, queue, the latency histograms, each worker's
 * resources and the host's (README, "Metrics"). Prometheus names start
 * processpool_, carry their unit, counters end _total, and every sample
 * has a pool="NAME" label; the JSON follows docs/metrics.schema.json.
 * Works in any pool state. The text is rendered in memory first, then
 * written in full (a non-blocking fd is polled; 5 s without progress
 * fails). Returns the bytes written, or POOL_EINVAL (NULL pool, fd < 0,
 * unknown format), POOL_ENOMEM, POOL_ETIMEDOUT or POOL_ESYS (write
 * failed; part may have been written). Thread-safe. Reads /proc for
 * every worker: meant for scrapes every few seconds, not per task.
 */
int pool_metrics_write(process_pool_t *pool, int fd, int format);

/*
 * pool_status_listen - serve the pool's metrics on a Unix stream socket
 * bound at path (no TCP port is ever opened), from a thread of the
 * pool's own (never the supervisor, so a scrape does not delay tasks).
 * A client connects and sends one line: "GET /metrics HTTP/1.x" or
 * "GET /metrics.json HTTP/1.x" (answered as HTTP/1.0, then closed:
 * curl --unix-socket PATH http://localhost/metrics), or the bare words
 * "prometheus" or "json" (the body alone). Clients are served one at a
 * time; one that sends nothing within 1 s is closed.
 *
 * The socket file gets mode (0: 0600; only the permission bits) before
 * anyone can connect. A socket file already at path that nobody accepts
 * on (left by a dead process) is replaced; anything else there fails
 * with EEXIST or EADDRINUSE. pool_destroy (or pool_status_close) stops
 * the thread and removes the file if it is still the one bound here.
 * The pool may be in any state.
 *
 * Returns 0, POOL_EINVAL (NULL pool or path, an empty path or one longer
 * than a socket address holds, bad mode), POOL_ESTATE (already
 * listening), POOL_ENOMEM or POOL_ESYS (errno says why). Thread-safe.
 * path is copied.
 */
int pool_status_listen(process_pool_t *pool, const char *path, int mode);

/*
 * pool_status_close - stop serving the status socket and remove its
 * file (if it is still the one this pool bound). Returns 0 (also when
 * not listening) or POOL_EINVAL for NULL. Thread-safe.
 */
int pool_status_close(process_pool_t *pool);

/*
 * pool_get_host_usage - the resources of the calling process (the host
 * of the pools, supervisor threads included), read from /proc/self, into
 * *out. Returns 0, POOL_EINVAL for NULL, or POOL_ESYS when /proc cannot
 * be read. Thread-safe.
 */
int pool_get_host_usage(pool_resource_usage_t *out);

/*
 * pool_seccomp_learned - in learning mode, the syscalls the pool's tasks
 * needed beyond its policy so far, as a comma-separated list of names
 * ("socket,openat") to paste into seccomp_allow, into buf (len bytes,
 * NUL included). Tasks count once their results have arrived; a task
 * whose worker died running it may be missing. Works after pool_stop,
 * until pool_destroy.
 *
 * Returns the list's length (0: nothing beyond the policy was needed),
 * POOL_EINVAL for a NULL pool or buf or a zero len, POOL_ESTATE when the
 * pool is not in learning mode, or POOL_EMSGSIZE when the list does not
 * fit (buf then holds ""). Thread-safe.
 */
int pool_seccomp_learned(process_pool_t *pool, char *buf, size_t len);

/*
 * pool_set_log_level - the level below which pool's log lines are
 * dropped (a log_level_t).
 *
 * A pool with a level of its own uses it; the others use the process-wide
 * level, which a NULL pool sets. PROCESS_POOL_LOG_LEVEL (debug, info, warn,
 * error, none) sets the initial process-wide level, else WARN;
 * pool_config_t.log_level sets a pool's own level at pool_create.
 * LOG_LEVEL_DEFAULT gives a pool the process-wide level again, and with a
 * NULL pool restores the initial level. Returns 0, POOL_EINVAL (a level
 * outside log_level_t) or POOL_ENOMEM. Thread-safe; a pool's setting lasts
 * until pool_destroy.
 */
int pool_set_log_level(process_pool_t *pool, int level);

/*
 * pool_set_log_file - send pool's log lines to path (appended, created
 * 0600); NULL path: back to the process-wide sink.
 *
 * A NULL pool sets the process-wide sink, which every pool without a
 * file of its own writes to; a NULL path there means stderr. Calling it
 * again with the same path reopens the file (log rotation). The pool
 * closes its file at pool_destroy. Returns 0, POOL_EINVAL (an empty or
 * overlong path), POOL_ESYS (the file could not be opened; the previous
 * sink stays) or POOL_ENOMEM. Thread-safe.
 */
int pool_set_log_file(process_pool_t *pool, const char *path);

/* pool_task_status_str - the status's name ("COMPLETED"), never NULL. */
const char *pool_task_status_str(task_status_t status);

/*
 * pool_strerror - describe a return code of this library.
 *
 * Returns a static, NUL-terminated message for 0 and for every POOL_E*
 * code, and "unknown error" for anything else. Never returns NULL.
 * Thread-safe; the string must not be freed.
 */
const char *pool_strerror(int code);

/*
 * pool_errname - the symbolic name of a return code ("POOL_EINVAL").
 *
 * Returns "POOL_OK" for 0 and "POOL_EUNKNOWN" for codes outside the table.
 * Never returns NULL. Thread-safe; the string must not be freed.
 */
const char *pool_errname(int code);

/*
 * pool_version - the library's version as "MAJOR.MINOR.PATCH".
 *
 * Thread-safe; returns a static string.
 */
const char *pool_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PROCESS_POOL_H */
