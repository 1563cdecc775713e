/*
 * Worker processes, parent side: fork, track by pidfd, kill.
 *
 * Fork mode: glibc fork() from the supervisor thread, whose atfork
 * handlers keep malloc usable in the child; the child then enters the
 * worker side (worker_setup.h) with a setup built here from the pool.
 * Clean-room mode forks the same way, then the child only moves its
 * channel's fds and execs the program (cleanroom.c). The death signal is
 * tied to the supervisor thread, so workers die with the pool even if the
 * host is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/core/probes.h"
#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"
#include "src/core/input_buf.h"
#include "src/ipc/fd_payload.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static uint32_t slots_for(int in_flight)
{
	uint32_t n = 16;

	/* Room for every in-flight task (a SUBMIT, perhaps a TRACE ahead
	 * of it, a CANCEL) plus pings. */
	while (n < (uint32_t)in_flight * 3 + 8)
		n <<= 1;
	return n;
}

static int make_channel(struct process_pool *pool, struct pp_worker *w)
{
	struct pp_channel_config cc;

	memset(&cc, 0, sizeof(cc));
	cc.submit_slots = slots_for(pool->cfg.max_in_flight);
	cc.complete_slots = cc.submit_slots;
	cc.input_arena = pool->cfg.arena_size;
	cc.output_arena = pool->cfg.arena_size;
	return pp_channel_create(&w->ch, &cc);
}

/* xorshift; only the supervisor thread spawns, so no lock is needed. */
static uint64_t jitter(void)
{
	static uint64_t x;

	if (!x)
		x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/*
 * With cgroups, each worker gets a leaf, and the child moves itself there
 * (writing "0" to the leaf's cgroup.procs, through an fd the parent
 * opened) before it does anything else: it never runs a task outside its
 * limits. The kernel makes each move wait for an RCU grace period (up to
 * ~20 ms on an idle machine); made by the children, the moves of several
 * new workers overlap, and the supervisor goes on meanwhile.
 */
static int make_leaf(struct process_pool *pool, struct pp_worker *w,
		     int *procs_fd)
{
	char name[64];
	int err;

	w->cg_leaf[0] = '\0';
	*procs_fd = -1;
	if (!pool->cg.open)
		return 0;
	snprintf(name, sizeof(name), "w%d-%llu", w->index,
		 (unsigned long long)++w->generation);
	err = pp_cgroup_leaf_create(&pool->cg, name, &pool->cg_limits,
				    w->cg_leaf, sizeof(w->cg_leaf));
	if (err) {
		w->cg_leaf[0] = '\0';
		return err;
	}
	err = pp_cgroup_leaf_open_procs(w->cg_leaf);
	if (err < 0) {
		pp_cgroup_leaf_remove(w->cg_leaf);
		w->cg_leaf[0] = '\0';
		return err;
	}
	*procs_fd = err;
	return 0;
}

static void undo_leaf(struct pp_worker *w, int procs_fd)
{
	if (procs_fd >= 0)
		close(procs_fd);
	if (w->cg_leaf[0])
		pp_cgroup_leaf_remove(w->cg_leaf);
	w->cg_leaf[0] = '\0';
}

/* Child: join the leaf, or stop before anything runs. */
static void join_leaf(int procs_fd)
{
	if (procs_fd < 0)
		return;
	if (write(procs_fd, "0", 1) != 1)
		_exit(PP_EXIT_CGROUP);
	close(procs_fd);
}

/* With pids.max in force, the leaf's pids.events stays open: after each
 * task one pread tells whether a fork or a thread was refused. */
static void open_events(struct process_pool *pool, struct pp_worker *w)
{
	int fd;

	w->pids_events_fd = -1;
	w->pids_refused = 0;
	if (!w->cg_leaf[0] || !pool->cfg.pids_max ||
	    !(pool->cg.available & PP_CG_PIDS))
		return;
	fd = pp_cgroup_leaf_open_file(w->cg_leaf, "pids.events");
	if (fd >= 0)
		w->pids_events_fd = fd;
}

int pp_worker_pids_refused(struct pp_worker *w)
{
	unsigned long long n;

	if (w->pids_events_fd < 0)
		return 0;
	n = pp_cgroup_events_value(w->pids_events_fd, "max");
	if (n <= w->pids_refused)
		return 0;
	w->pids_refused = n;
	return 1;
}

void pp_worker_close_events(struct pp_worker *w)
{
	if (w->pids_events_fd >= 0)
		close(w->pids_events_fd);
	w->pids_events_fd = -1;
}

void pp_worker_ids(const struct process_pool *pool, int index, unsigned *uid,
		   unsigned *gid)
{
	*uid = pool->cfg.worker_uid;
	*gid = pool->cfg.worker_gid;
	if (!pool->cfg.worker_uid_count)
		return;
	*uid = pool->cfg.worker_uid_base + (unsigned)index;
	if (!*gid)
		*gid = *uid;
}

/* What worker w sets itself up with, from the pool: built before the
 * fork, so the child reads no more of the pool than it must. */
static void make_setup(const struct process_pool *pool,
		       const struct pp_worker *w, struct pp_worker_setup *s)
{
	memset(s, 0, sizeof(*s));
	s->index = w->index;
	s->max_output = pool->cfg.max_output_size;
	s->sandbox_off = pool->cfg.sandbox_off;
	s->seccomp_errno = pool->cfg.seccomp_errno;
	s->rlimit_as = pool->cfg.rlimit_as;
	s->rlimit_nofile = pool->cfg.rlimit_nofile;
	s->rlimit_cpu_s = pool->cfg.rlimit_cpu_s;
	s->rlimit_nproc = pool->cfg.rlimit_nproc;
	pp_worker_ids(pool, w->index, &s->uid, &s->gid);
	s->keep_caps = pool->keep_caps;
	s->seccomp = pool->seccomp;
	s->init_ref = pool->init.ref;
	s->init_arg = pool->init.arg;
	s->init_arg_size = pool->init.arg_size;
	s->task_usage = pool->cfg.task_usage;
	s->cpu = s->node = -1;
	if (pool->n_cpus) {
		/* Round robin over the CPUs the pool may use; memory from
		 * that CPU's node where the host is NUMA. */
		int k = w->index % pool->n_cpus;

		s->cpu = pool->cpus[k];
		s->node = pool->nodes[k];
	}
}

/* Child: no other worker's channel stays mapped here. */
static void drop_parent_mappings(const struct process_pool *pool)
{
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		const struct pp_channel *c = &pool->workers[i].ch;

		if (c->base)
			munmap(c->base, c->size);
	}
}

/* Child, fork mode: becomes the worker from setup s; never returns. */
static __attribute__((noreturn)) void
run_forked(const struct process_pool *pool, int memfd, int efd, int sock,
	   const struct pp_worker_setup *s)
{
	/* Copies above stdio: the worker keeps these three and 0..2 only. */
	memfd = fcntl(memfd, F_DUPFD, 3);
	efd = fcntl(efd, F_DUPFD, 3);
	sock = fcntl(sock, F_DUPFD, 3);
	if (memfd < 0 || efd < 0 || sock < 0)
		_exit(6);
	drop_parent_mappings(pool);
	pp_worker_enter(s, memfd, efd, sock);
}

/*
 * The child of the fork: dies with the supervisor thread, joins its
 * leaf, takes stdio of its own (fds it still needs are moved out of the
 * way first), then becomes the worker or execs the clean-room one (ex).
 * Only async-signal-safe calls until then: the parent has other threads.
 */
void pp_worker_child(const struct process_pool *pool, const struct pp_worker *w,
		     pid_t parent, int procs_fd, int out_fd,
		     const struct pp_worker_setup *s,
		     struct pp_cleanroom_exec *ex)
{
	struct pp_cleanroom cr = pool->cleanroom;
	int memfd = w->ch.fd, efd = w->ch.parent_eventfd;
	int sock = w->ch.worker_sock;
	int *const keep[] = {&memfd, &efd, &sock, &cr.setup_fd, &cr.exe_fd};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	join_leaf(procs_fd);
	if (pp_worker_stdio_child(pool->cfg.worker_stdio, out_fd, keep,
				  ex ? 5 : 3))
		_exit(PP_EXIT_STDIO);
	if (ex)
		pp_cleanroom_exec(&cr, memfd, efd, sock, ex);
	run_forked(pool, memfd, efd, sock, s);
}

/* CAPTURE: the pipe for w's stdout and stderr; *out_fd its write end. */
static int open_output(const struct process_pool *pool, struct pp_worker *w,
		       int *out_fd)
{
	*out_fd = -1;
	if (pool->cfg.worker_stdio != POOL_STDIO_CAPTURE)
		return 0;
	return pp_worker_output_open(&w->out, pool->cfg.worker_output_rate,
				     out_fd);
}

static void close_output(struct pp_worker *w, int out_fd)
{
	if (out_fd >= 0)
		close(out_fd);
	pp_worker_output_close(&w->out, NULL, 0);
}

int pp_worker_spawn(struct process_pool *pool, struct pp_worker *w)
{
	int cleanroom = pool->cfg.spawn_mode == POOL_SPAWN_CLEANROOM;
	struct pp_cleanroom_exec ex;
	struct pp_worker_setup setup;
	pid_t parent = getpid(), pid = -1;
	int procs_fd, out_fd, err, zygote;

	if (!w->slots) {
		w->slots =
		    calloc((size_t)pool->cfg.max_in_flight, sizeof(*w->slots));
		if (!w->slots)
			return -ENOMEM;
	}
	/* A dead worker's half-reported task is not the next one's. */
	memset(w->learn_bits, 0, sizeof(w->learn_bits));
	err = make_channel(pool, w);
	if (err)
		return err;
	err = open_output(pool, w, &out_fd);
	if (err)
		goto out_channel;
	err = make_leaf(pool, w, &procs_fd);
	if (err)
		goto out_output;
	/* Nothing to build after the fork: the child of a threaded
	 * parent only uses what is ready. */
	if (cleanroom)
		pp_cleanroom_exec_prepare(w, &ex);
	make_setup(pool, w, &setup);
	/* A copy of the zygote rather than of the host, when one serves. */
	err = pool->cfg.zygote
		  ? pp_zygote_fork(pool, w, procs_fd, out_fd, &setup, &pid,
				   &w->pidfd)
		  : -ENOSYS;
	zygote = err == 0;
	if (err == -EPIPE) {
		/* A lost zygote may have used the channel. */
		undo_leaf(w, procs_fd);
		goto out_output;
	}
	if (!zygote)
		pid = fork();
	if (pid < 0) {
		err = -errno;
		undo_leaf(w, procs_fd);
		goto out_output;
	}
	if (pid == 0)
		pp_worker_child(pool, w, parent, procs_fd, out_fd, &setup,
				cleanroom ? &ex : NULL);
	if (procs_fd >= 0)
		close(procs_fd);
	if (out_fd >= 0)
		close(out_fd); /* the child holds the only write end */
	out_fd = -1;
	if (!zygote) /* the zygote's answer came with it */
		w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (w->pidfd < 0) {
		err = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0); /* our own child, by pid */
		undo_leaf(w, -1);
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "spawn_failed",
		       "reason=pidfd_open errno=%d", -err);
		goto out_output;
	}
	w->pid = pid;
	w->state = PP_WORKER_LIVE;
	PP_PROBE3(respawn, w->index, pid, w->restarts);
	open_events(pool, w);
	atomic_store(&w->info_pid, (int)pid);
	atomic_store(&w->info_done, 0);
	atomic_store(&w->info_busy, 0);
	w->in_flight = 0;
	w->tasks_done = 0;
	w->kill_reason = 0;
	w->idle_since_ns = 0;
	w->respawn_at_ns = 0;
	w->recycle_after = 0;
	atomic_store(&w->arena_hot, 0); /* a fresh channel: nothing used */
	w->trim_pending = 0;
	if (pool->cfg.max_tasks_per_worker > 0) {
		uint64_t base = (uint64_t)pool->cfg.max_tasks_per_worker;

		/* Up to 25% jitter so workers do not all recycle at once. */
		w->recycle_after = base + jitter() % (base / 4 + 1);
	}
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "worker_spawned",
	       "worker=%d pid=%d", w->index, (int)pid);
	return 0;

out_output:
	close_output(w, out_fd);
out_channel:
	pp_channel_close(&w->ch);
	return err;
}

void pp_worker_signal(struct pp_worker *w, int sig)
{
	if (w->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0);
}

void pp_worker_kill(struct pp_worker *w)
{
	if (w->pidfd < 0 || w->state == PP_WORKER_EMPTY)
		return;
	/* The whole leaf: anything the task started dies with it. */
	PP_PROBE2(kill, w->index, w->pid);
	if (w->cg_leaf[0])
		pp_cgroup_leaf_kill(w->cg_leaf);
	pp_worker_signal(w, SIGKILL);
	w->state = PP_WORKER_DYING;
}

/* An input larger than the arena goes as a sealed memfd; one that fits
 * goes through the arena, reused and already faulted in, which on this
 * kind of machine is faster than fresh memfd pages at every size that
 * fits (see README, "Payloads"). */
int pp_worker_input_by_fd(const struct process_pool *pool,
			  const struct task_future *t)
{
	return t->input_size > pool->cfg.arena_size;
}

int pp_worker_send_input_fd(struct pp_worker *w, const struct task_future *t,
			    uint64_t wire)
{
	int fd, err;

	/* A pool_input_alloc buffer is sent itself, sealed: no copy. */
	if (t->input_buf) {
		fd = pp_input_buf_seal(t->input_buf, t->input_size);
		return fd < 0 ? fd : pp_fd_payload_send(w->ch.sock, wire, fd);
	}
	fd = pp_fd_payload_make(t->input, t->input_size);
	if (fd < 0)
		return fd;
	/* The message holds its own reference to the memfd. */
	err = pp_fd_payload_send(w->ch.sock, wire, fd);
	close(fd);
	return err;
}

void pp_worker_unslot(struct pp_worker *w, struct task_future *t)
{
	pp_worker_output_task_ended(&w->out, t->id);
	if (t->arena_in.length)
		pp_channel_free(&w->ch, &t->arena_in);
	memset(&t->arena_in, 0, sizeof(t->arena_in));
	w->slots[t->slot] = NULL;
	w->in_flight--;
	w->by_prio[t->placed_prio]--;
	w->suspects -= t->suspect ? 1u : 0u;
	t->worker = NULL;
	if (w->in_flight == 0) {
		w->idle_since_ns = pp_now_ns();
		atomic_store(&w->info_busy, 0);
	}
}

/* ---- output ----------------------------------------------------------- */

struct output_reader {
	struct process_pool *pool;
	struct pp_worker *w;
	int lent; /* a lane client held w when the read began */
};

/* The task w's RUNNING word names, if it is one in flight there: the
 * worker's own claim, checked before it indexes anything. */
static uint64_t running_task(const struct process_pool *pool,
			     struct pp_worker *w)
{
	uint32_t word = pp_channel_word_load(&w->ch, PP_WORD_RUNNING);
	unsigned slot = (word - 1) & 0xffff;
	struct task_future *t;

	if (!word || slot >= (unsigned)pool->cfg.max_in_flight)
		return 0;
	t = w->slots[slot];
	if (!t || pp_running_word(pp_wire_id(t->id, slot)) != word)
		return 0;
	return t->id;
}

/* The one task in flight on w (the caller knows there is one). */
static uint64_t only_task(const struct process_pool *pool,
			  const struct pp_worker *w)
{
	int s;

	for (s = 0; s < pool->cfg.max_in_flight; s++)
		if (w->slots[s])
			return w->slots[s]->id;
	return 0;
}

/*
 * Who could have written what was just read: the tasks that left w since
 * the window opened, and those on it now. Its slots are read only when
 * no client held it; a lent worker runs the lane's one task.
 */
static void name_writer(void *ctx, uint64_t ended, uint64_t last, uint64_t lane,
			char *buf, size_t len)
{
	struct output_reader *r = ctx;
	struct pp_worker *w = r->w;
	uint64_t n = ended, one = last, running = 0;

	if (r->lent) {
		n += lane != 0;
		one = ended ? last : lane;
	} else if (w->in_flight) {
		n += w->in_flight;
		one = ended ? last : only_task(r->pool, w);
		running = running_task(r->pool, w);
	}
	if (n == 0)
		snprintf(buf, len, "task=-");
	else if (n == 1)
		snprintf(buf, len, "task=%llu", (unsigned long long)one);
	else if (running)
		snprintf(buf, len, "task=? tasks=%llu running=%llu",
			 (unsigned long long)n, (unsigned long long)running);
	else
		snprintf(buf, len, "task=? tasks=%llu", (unsigned long long)n);
}

static void make_who(struct output_reader *r, struct pp_output_who *who)
{
	who->pool = r->pool->cfg.pool_name;
	who->worker = r->w->index;
	who->pid = (int)r->w->pid;
	who->task = name_writer;
	who->ctx = r;
}

void pp_worker_output_event(struct process_pool *pool, struct pp_worker *w)
{
	struct output_reader r = {pool, w, 0};
	struct pp_output_who who;
	int expect = PP_LANE_FREE;

	if (!w->out.open)
		return; /* closed earlier in this batch of events */
	/* An idle lent worker is taken back, so its slots hold still. */
	atomic_compare_exchange_strong(&w->lane, &expect, PP_LANE_SUPERVISOR);
	r.lent = atomic_load(&w->lane) == PP_LANE_CLIENT;
	make_who(&r, &who);
	switch (pp_worker_output_read(&w->out, &who, pp_coarse_now_ns())) {
	case 0:
		return;
	case PP_OUTPUT_PAUSED:
		/* Its second's bytes are read: the fd is watched again at
		 * the next second (housekeeping), its writer blocks. */
		epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, w->out.fd, NULL);
		/* Past the coarse clock's tick too, or the next read could
		 * still count this second and pause again at once. */
		w->out_paused_until =
		    pp_worker_output_resume_at(&w->out) + 10000000;
		return;
	default:
		break;
	}
	/* No writer left (a task closed fds 1 and 2): a level-triggered
	 * hang-up would fire forever. */
	epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, w->out.fd, NULL);
	pp_worker_output_close(&w->out, &who, pp_coarse_now_ns());
}

void pp_worker_output_finish(struct process_pool *pool, struct pp_worker *w)
{
	struct output_reader r = {pool, w, 0};
	struct pp_output_who who;

	if (!w->out.open)
		return;
	make_who(&r, &who);
	epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, w->out.fd, NULL);
	pp_worker_output_close(&w->out, &who, pp_coarse_now_ns());
}
