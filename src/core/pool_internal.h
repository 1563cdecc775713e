/*
 * The pool's private state, shared by the files of src/core.
 *
 * Threads: application threads submit, wait and cancel; one supervisor
 * thread owns everything below marked "supervisor", forks and reaps the
 * workers, dispatches, and resolves futures. Submitters reach it through
 * lock-free queues and one eventfd.
 */
#ifndef PP_CORE_POOL_INTERNAL_H
#define PP_CORE_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "process_pool.h"
#include "src/core/cleanroom.h"
#include "src/core/deadline_heap.h"
#include "src/core/future.h"
#include "src/core/isolation.h"
#include "src/core/latency.h"
#include "src/core/modules.h"
#include "src/core/protocol.h"
#include "src/core/queue_room.h"
#include "src/core/restart.h"
#include "src/core/signals.h"
#include "src/core/status_socket.h"
#include "src/core/worker_init.h"
#include "src/core/worker_output.h"
#include "src/core/worker_setup.h"
#include "src/core/zygote.h"
#include "sandbox/cgroup.h"
#include "sandbox/seccomp_learn.h"
#include "sandbox/seccomp_policy.h"
#include "src/ipc/channel.h"
#include "src/ipc/mpmc_queue.h"

enum pp_pool_state {
	PP_POOL_CREATED = 0,
	PP_POOL_RUNNING = 1,
	PP_POOL_STOPPING = 2,
	PP_POOL_STOPPED = 3,
};

enum pp_worker_state {
	PP_WORKER_EMPTY = 0,	/* no process in this slot */
	PP_WORKER_LIVE = 1,	/* running, accepting tasks */
	PP_WORKER_RETIRING = 2, /* told to exit once idle */
	PP_WORKER_DYING = 3,	/* killed or exiting; waiting for the pidfd */
};

/*
 * Who may touch a worker's channel now. Between its loop iterations the
 * supervisor lends idle workers (FREE); a synchronous submitter that
 * claims one (CLIENT) runs its task there directly, with the supervisor
 * off the path, and gives it back.
 */
enum pp_lane {
	PP_LANE_SUPERVISOR = 0,
	PP_LANE_FREE = 1,
	PP_LANE_CLIENT = 2,
};

/* One worker slot (supervisor, or the client holding its lane). */
struct pp_worker {
	_Atomic int lane;     /* enum pp_lane */
	_Atomic int returned; /* a client gave it back with work to do */
	_Atomic int dead_pending; /* pidfd fired while a client held it:
				   * reaped once given back; the client
				   * hands it back (and wakes the
				   * supervisor) instead of lending it on */
	int index;
	int state; /* enum pp_worker_state */
	pid_t pid;
	int pidfd;
	struct pp_channel ch;
	struct task_future **slots;	       /* in flight, by slot number */
	unsigned by_prio[TASK_PRIORITY_COUNT]; /* in flight, by priority */
	unsigned in_flight;
	unsigned slot_hint; /* where the search for a free slot starts */
	uint64_t tasks_done;
	uint64_t recycle_after; /* 0: never */
	int64_t idle_since_ns;
	int64_t respawn_at_ns; /* 0: not waiting to respawn */
	int kill_reason;       /* task_status_t that caused a kill, or 0 */
	uint64_t restarts;
	uint64_t generation;	/* spawns in this slot, for leaf names */
	struct pp_iso_worker iso; /* what this process was sent (parent's) */
	/* Learning: syscalls the task now finishing needed (LEARNED
	 * frames), by whoever holds the worker's channel. */
	uint64_t learn_bits[PP_SECCOMP_LEARN_WORDS];
	char cg_leaf[PATH_MAX]; /* its cgroup leaf, "" when none */
	int pids_events_fd;	/* the leaf's pids.events while pids.max is
				 * in force, else -1 */
	uint64_t pids_refused;	/* its "max" count already reported */
	/* Protocol bookkeeping, by whoever holds the worker (see
	 * frame_check.c): what an honest worker may still send. */
	uint32_t waiting_published; /* last PP_WORD_WAITING_PRIO stored */
	uint32_t defer_credit;	    /* deferrals the parent gave cause for */
	unsigned learned_frames;    /* LEARNED frames since the last RESULT */
	unsigned usage_frames;	    /* USAGE frames since the last RESULT */
	unsigned suspects;	    /* tasks on it that came off a dead worker:
				     * while any, it runs nothing else */
	const char *lane_fault;	    /* a violation the lane client found;
				     * the supervisor acts on it on return */
	const char *wake_fault;	    /* supervisor: a wakeup flood seen while
				     * a client held the worker */
	/* Health checks (health.c), by whoever holds the worker. */
	int64_t heard_ns;      /* last time it sent anything */
	uint64_t ping_nonce;   /* the PING it owes a PONG for, or 0 */
	int64_t ping_sent_ns;  /* when that PING went */
	int health_failed;     /* killed for not answering */
	int starting; /* spawned, its initializer's HELLO not yet read:
		       * takes no task (worker_init.h) */
	int init_timed_out; /* killed for an initializer past its time */
	int spare;    /* a spare (spares.c): sent nothing, lent to no
		       * client, until it replaces an active worker */
	/* Recycling (recycle.c), supervisor. */
	int64_t spawned_ns;
	int64_t max_age_ns;    /* this worker's age limit, jittered; 0 */
	const char *recycle_now; /* why it goes once idle, or NULL */
	/* Rolling restart (restart.c), supervisor. */
	int restart_pinged;   /* its readiness PING went out */
	int64_t retire_by_ns; /* retired: killed after this, or 0 */
	/* Arena trimming (arena_trim.c): arena_hot is set by whoever
	 * takes a result that used the arena beyond the kept part; the
	 * rest is the supervisor's. */
	_Atomic int arena_hot;
	int trim_pending;	 /* its pages go once it is idle */
	uint64_t trim_done_seen; /* info_done when last looked at */
	int64_t trim_quiet_ns;	 /* since then, no task finished */
	struct pp_worker_output out; /* its stdout and stderr (CAPTURE) */
	int64_t out_paused_until;    /* output fd unwatched until then (its
				      * byte budget is spent), or 0 */
	/* What pool_get_workers reads from other threads. */
	_Atomic int info_pid; /* 0 while the slot is empty */
	_Atomic int info_busy;
	_Atomic int info_spare;
	_Atomic uint64_t info_done;
	_Atomic uint64_t info_restarts;
};

/* Supervisor-private FIFO of pending futures for one priority level. */
struct pp_fifo {
	struct task_future *head;
	struct task_future *tail;
	size_t count;
};

struct process_pool {
	pool_config_t cfg;	       /* defaults filled in */
	char *seccomp_allow;	       /* owned copy of cfg.seccomp_allow */
	const char *seccomp_allow_src; /* the caller's, during pool_create */
	char *cgroup_parent;	       /* owned copy of cfg.cgroup_parent */
	struct pp_cgroup_pool cg;      /* open while cgroups are in use */
	struct pp_cgroup_limits cg_limits;
	struct pp_seccomp_program seccomp; /* compiled once; empty if off */
	int cache_held; /* counted among the future cache's holders */
	uint64_t keep_caps; /* cfg.keep_caps parsed (bit n: capability n) */
	int learn;	/* seccomp learning mode */
	/* cfg.task_usage: the bounds a worker's USAGE claim is clamped to
	 * (frame_check.c), read at pool_create. */
	unsigned usage_cpus;
	uint64_t usage_ram_kb;
	_Atomic uint64_t learned[PP_SECCOMP_LEARN_WORDS]; /* all tasks' */
	struct pp_cleanroom cleanroom;	   /* POOL_SPAWN_CLEANROOM only */
	struct pp_zygote zygote;	   /* cfg.zygote only */
	struct pp_worker_init init;	   /* cfg.worker_init, copied */
	_Atomic int init_failing; /* the last start ended in worker_init */
	_Atomic int state;		   /* enum pp_pool_state */

	/* Submission side. */
	struct pp_mpmc *incoming; /* new tasks, any priority */
	struct pp_mpmc *cancels;  /* futures to take off their worker */
	_Atomic size_t queued;	  /* accepted, not yet on a worker */
	_Atomic int submitters;	  /* submit calls past the state check */
	_Atomic uint64_t next_id;
	int wake_fd; /* eventfd: submissions, cancels, stop */
	_Atomic uint32_t supervisor_sleeping; /* 1 while it may sleep */
	struct pp_room room; /* submitters waiting for room (submit_block_ms) */

	/* Supervisor. */
	pthread_t thread;
	int thread_started;
	int epoll_fd;
	int timer_fd;
	struct pp_worker *workers; /* n_slots of them */
	int n_slots;		   /* max_workers + spare_workers */
	int live_workers;	   /* processes, spares included */
	int live_spares;	   /* of those, spares */
	int target_workers; /* workers the pool wants now */
	struct pp_fifo pending[TASK_PRIORITY_COUNT];
	struct pp_deadline_heap deadlines;
	struct pp_dispatch_batch *batches; /* one per worker slot */
	unsigned char *armed; /* per worker: armed for this sleep */
	int *cpus;  /* CPUs the pool may use (affinity), n_cpus of them */
	int *nodes; /* the NUMA node of each, or -1 */
	int n_cpus;
	_Atomic int64_t stop_deadline_ns; /* pool_stop: cancel the rest then */
	int64_t last_busy_ns; /* last time anything was queued or running */
	int64_t crash_window_ns;
	int crashes_in_window;
	int64_t backoff_ns;

	/* Statistics (written by the supervisor, read by anyone). */
	_Atomic uint64_t counters[TASK_STATUS_COUNT];
	_Atomic uint64_t submitted;
	_Atomic uint64_t retried;
	_Atomic uint64_t loops; /* supervisor loop turns */
	_Atomic uint64_t map_cancels; /* pool_map_cancel calls (bulk.h) */
	uint64_t map_cancels_seen;    /* supervisor: those it has acted on */
	/* For pool_health (written by the supervisor). */
	_Atomic int64_t backoff_until_ns;  /* respawns held back until */
	_Atomic int spawn_failing;	   /* the last spawn failed */
	_Atomic int64_t unresponsive_ns;   /* last health-check kill */
	_Atomic uint64_t unresponsive_total;
	uint64_t ping_next;		   /* nonce source */
	int64_t recycle_checked_ns;	   /* last RSS look */
	_Atomic uint64_t restarts;
	_Atomic int busy_workers;
	_Atomic int active_workers; /* live, spares not counted */
	_Atomic int spare_workers;  /* live spares */
	_Atomic uint64_t spares_used;
	_Atomic uint64_t run_ns_total;
	_Atomic uint64_t run_count;
	_Atomic size_t depth[TASK_PRIORITY_COUNT];
	struct pp_latency latency;
	struct pp_latency_split split; /* queue and run, by priority */
	/* Tracing (trace.c): set before pool_start, read-only after. */
	pool_span_hook_t span_hook;
	void *span_arg;
	int64_t mono_to_unix_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	struct pp_restart restart; /* restart.c */
	struct pp_signals signals; /* signals.c */
	struct pp_status_socket status; /* status_socket.c */

	pthread_mutex_t stop_lock; /* serialises start/stop/destroy */
	pthread_mutex_t start_mu;  /* start_state, for pool_start's wait */
	pthread_cond_t start_cv;
	int start_state; /* 0 starting, 1 running, -1 failed */
};

/* Frames for one worker, sent with one wakeup. */
struct pp_dispatch_batch {
	struct pp_frame frames[64];
	unsigned n;
};

/* supervisor.c */
void *pp_supervisor_main(void *pool);
void pp_supervisor_wake(struct process_pool *pool);
/* pp_supervisor_spawn - start a worker in the empty slot w (restart.c) */
int pp_supervisor_spawn(struct process_pool *pool, struct pp_worker *w);
/* pp_supervisor_discard - kill w, an idle worker the supervisor holds,
 * for a reason other than a crash (restart.c, spares.c) */
void pp_supervisor_discard(struct process_pool *pool, struct pp_worker *w,
			   const char *why);

/* supervisor.c, for bulk.c: t goes back to its queue, in id order (a
 * re-run). */
void pp_requeue(struct process_pool *pool, struct task_future *t);

/* supervisor.c, shared with the direct lane */
int pp_status_from_worker_ok(int status);
/* pp_resolve_result - resolve t from a checked RESULT frame f of worker w
 * whose output was copied to out (copy_err: pp_copy_output's -ENOMEM, or
 * 0), as of now (CLOCK_MONOTONIC ns); a pids.max refusal during the task
 * makes it RESOURCE_LIMIT and marks w to be replaced. */
void pp_resolve_result(struct process_pool *pool, struct pp_worker *w,
		       struct task_future *t, const struct pp_frame *f,
		       void *out, int copy_err, int64_t now);
int pp_copy_output(struct process_pool *pool, struct pp_worker *w,
		   const struct pp_frame *f, void **out);
int pp_resolve(struct process_pool *pool, struct task_future *t,
	       task_status_t status, int rc, void *out, size_t out_size,
	       int sig, const char *detail);
/* pp_resolve_at - pp_resolve with the time of the outcome given. */
int pp_resolve_at(struct process_pool *pool, struct task_future *t,
		  task_status_t status, int rc, void *out, size_t out_size,
		  int sig, const char *detail, int64_t now);

/*
 * lane.c, the direct lane for synchronous submits: claim an idle lent
 * worker (NULL if none), send t to it, then wait for it. Both return 0
 * while the client still holds t's engine reference (wait: t resolved by
 * the client), 1 when t went back to the supervisor on its worker (with
 * that reference), and -EAGAIN when t must be queued instead (the worker
 * is released; send: the arena could not take the input; wait: the
 * worker deferred it).
 */
struct pp_worker *pp_lane_claim(struct process_pool *pool,
				const struct pp_iso_domain *d);
int pp_lane_send(struct process_pool *pool, struct pp_worker *w,
		 struct task_future *t);
int pp_lane_wait(struct process_pool *pool, struct pp_worker *w,
		 struct task_future *t);

/* learn.c: LEARNED frames into w's bitmap; at the task's result, the
 * log line and the pool's union; the summary at pool_stop. */
void pp_learn_frame(struct process_pool *pool, struct pp_worker *w,
		    const struct pp_frame *f);
void pp_learn_task_done(struct process_pool *pool, struct pp_worker *w,
			uint64_t task_id);
void pp_learn_report(struct process_pool *pool);

/* "seccomp denied syscall NAME" for a violation, into buf. */
const char *pp_violation_detail(int nr, char *buf, size_t len);

/* worker.c (parent side) */
int pp_worker_spawn(struct process_pool *pool, struct pp_worker *w);
void pp_worker_kill(struct pp_worker *w);
/*
 * pp_worker_input_by_fd - whether t's input travels as a sealed memfd
 * (fd_payload.h) rather than through w's arena: above 1 MiB, or above
 * the arena when that is smaller.
 */
int pp_worker_input_by_fd(const struct process_pool *pool,
			  const struct task_future *t);

/*
 * pp_worker_send_input_fd - put t's input in a sealed memfd and send it
 * on w's payload socket, tagged with the wire id its SUBMIT will carry
 * (the frame must follow). By whoever owns the worker now. Returns 0,
 * -EAGAIN when the socket is full (try again after results), or a
 * negated errno when no memfd could be made.
 */
int pp_worker_send_input_fd(struct pp_worker *w, const struct task_future *t,
			    uint64_t wire);

/* pp_worker_unslot - take t off w: free its input in the arena and its
 * slot. By whoever owns the worker now (supervisor or lane client). */
void pp_worker_unslot(struct pp_worker *w, struct task_future *t);

/*
 * pp_worker_pids_refused - whether the leaf's pids.max refused a fork or
 * a thread since the last call (one pread of pids.events; always 0 when
 * no pids limit is in force). By whoever owns the worker now.
 */
int pp_worker_pids_refused(struct pp_worker *w);

/* pp_worker_close_events - close the pids.events fd, if open. */
void pp_worker_close_events(struct pp_worker *w);

/* pp_worker_signal - send sig through the pidfd; changes no state. */
void pp_worker_signal(struct pp_worker *w, int sig);

/*
 * pp_worker_output_event - w's output pipe is readable: read and log one
 * wakeup's worth (supervisor). pp_worker_output_finish - at reap, before
 * its tasks are settled: log what is left and close the pipe.
 */
void pp_worker_output_event(struct process_pool *pool, struct pp_worker *w);
void pp_worker_output_finish(struct process_pool *pool, struct pp_worker *w);

/* pp_worker_ids - the uid and gid the worker in slot index switches to
 * (0: none): the config's, or the slot's own (see resolve_ids). */
void pp_worker_ids(const struct process_pool *pool, int index, unsigned *uid,
		   unsigned *gid);

/* pool.c, for map.c: a submit call's entry and exit (pool running), and
 * room for up to want entries in the queue (how many fit). */
int pp_pool_enter(struct process_pool *pool);
void pp_pool_leave(struct process_pool *pool);
size_t pp_pool_reserve(struct process_pool *pool, size_t want);
/* isolation.c */
/* pp_iso_domain_of - t's domain from its desc and the pool's mode;
 * POOL_EINVAL for a bad isolation value. */
int pp_iso_domain_of(const struct process_pool *pool, const task_desc_t *d,
		     struct pp_iso_domain *out);
/* pp_iso_evict - when no worker may take a task of domain d: an idle
 * worker of another domain to discard for a fresh one, or NULL
 * (supervisor). */
struct pp_worker *pp_iso_evict(struct process_pool *pool,
			       const struct pp_iso_domain *d);

/* config.c */
int pp_config_resolve(const pool_config_t *in, pool_config_t *out, char *why,
		      size_t why_len);

#endif /* PP_CORE_POOL_INTERNAL_H */
