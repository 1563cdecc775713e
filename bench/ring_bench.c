/*
 * ring_bench - the cross-process SPSC ring and the wake path, measured
 * against the floors the kernel and the cache set (see bench/README.md).
 *
 * Each scenario maps fresh MAP_SHARED|MAP_ANONYMOUS memory, forks one
 * child, and runs a parent body against a child body:
 *   ring throughput:  parent produces 64-byte messages, child consumes;
 *                     single push/pop or batches of BATCH; a side that
 *                     finds the ring full/empty waits in pp_wake_wait
 *                     (adaptive spin, then futex) and each side calls
 *                     pp_wake_notify after it publishes, as the library
 *                     does;
 *   ring ping-pong:   one message out on a request ring, one back on a
 *                     reply ring; busy poll, or the wake path;
 *   floors:           a raw futex ping-pong (FUTEX_WAIT/FUTEX_WAKE each
 *                     way, no spinning) and a busy-poll ping-pong on one
 *                     shared word.
 * The parent reaps its child by pid only; the child dies with the parent
 * (PR_SET_PDEATHSIG) and gives up when the parent is gone. Every wait has
 * a timeout after which the peer is checked, so a dead or stuck side ends
 * the scenario with an error instead of a hang.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "src/ipc/ring.h"
#include "src/ipc/wake.h"

#define SLOT_SIZE 64u	      /* one descriptor, as in the channel */
#define RING_SLOTS 256u	      /* the channel's default ring size */
#define BATCH 32u
#define PAGE 4096u
#define WAIT_MS 1000	      /* one wait before the peer is checked */
#define STALL_WAITS 10	      /* timed-out waits in a row: a hang */
#define STALL_NS (10LL * 1000000000)
#define SPIN_CHECK_MASK 0xffffu /* busy-poll rounds between peer checks */

#define DEF_MESSAGES 10000000ull
#define DEF_ROUNDTRIPS 200000ull
#define QUICK_MESSAGES 200000ull
#define QUICK_ROUNDTRIPS 5000ull
#define MAX_COUNT (1ull << 40)
#define MAX_ROUNDTRIPS 50000000ull /* 8 bytes of samples each */

struct opts {
	uint64_t messages;
	uint64_t roundtrips;
	uint64_t warmup;
	bool pin;
	bool quick;
	bool json;
	int cpus[2]; /* parent, child; valid with pin */
};

/* Counters of one side over the timed part of a scenario. */
struct side_stats {
	int64_t csw;	/* voluntary + involuntary context switches */
	int64_t wakes;	/* syscalls made to wake the peer */
	int64_t sleeps; /* waits that went to the kernel */
	int64_t end_ns; /* when this side finished */
};

/* First page of every scenario's mapping; the rings follow it. */
struct ctl {
	_Alignas(64) _Atomic uint32_t child_ready;
	_Atomic uint32_t go;
	struct side_stats child;
	/* child sleeps here: the request ring has data */
	_Alignas(64) unsigned char wake_req[PP_WAKE_WORD_SIZE];
	/* parent sleeps here: the request ring has room */
	_Alignas(64) unsigned char wake_room[PP_WAKE_WORD_SIZE];
	/* parent sleeps here: the reply ring has data */
	_Alignas(64) unsigned char wake_rep[PP_WAKE_WORD_SIZE];
	/* the floors' shared word */
	_Alignas(64) _Atomic uint32_t word;
};

_Static_assert(sizeof(struct ctl) <= PAGE, "control block fits a page");

struct run {
	struct side_stats self; /* the parent's counters */
	struct bu_samples lat;	/* round trips, latency scenarios */
	int64_t start_ns;
};

struct pair;

struct scenario {
	const char *label; /* table row */
	const char *key;   /* JSON key prefix */
	bool latency;	   /* round trips, else a message stream */
	int (*parent)(struct pair *p, struct run *r);
	int (*child)(struct pair *p, struct side_stats *st);
};

/* One scenario's two processes and their shared memory. */
struct pair {
	const struct opts *o;
	const struct scenario *sc;
	unsigned char *map;
	size_t map_size;
	struct ctl *ctl;
	void *req; /* ring parent -> child */
	void *rep; /* ring child -> parent */
	pid_t parent;
	pid_t child; /* -1 once reaped */
	int child_status;
	bool in_child;
};

struct result {
	bool ok;
	uint64_t ops;
	double rate; /* messages per second, NaN for latency rows */
	struct bu_pct pct;
	double wakes;  /* per op, both sides */
	double sleeps; /* per op, both sides */
	double csw;    /* per op, both sides */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* ---- peers, waits and busy polls ---------------------------------- */

/* True when the other process is gone (the parent then has reaped it). */
static bool peer_gone(struct pair *p)
{
	if (p->in_child)
		return bu_parent_gone(p->parent);
	if (p->child < 0)
		return true;
	if (!bu_child_gone(p->child, &p->child_status))
		return false;
	p->child = -1;
	return true;
}

struct spin_guard {
	uint32_t rounds;
	int64_t since;
};

/*
 * One busy-poll round. Every SPIN_CHECK_MASK + 1 rounds it checks that the
 * peer lives and that the wait has not lasted STALL_NS. 0 or -errno.
 */
static int spin_round(struct pair *p, struct spin_guard *g)
{
	int64_t now;

	cpu_relax();
	if (++g->rounds & SPIN_CHECK_MASK)
		return 0;
	if (peer_gone(p))
		return -EPIPE;
	now = bu_now_ns();
	if (!g->since)
		g->since = now;
	else if (now - g->since > STALL_NS)
		return -ETIMEDOUT;
	return 0;
}

/* pp_wake_wait until ready, checking the peer after each timeout. */
static int wait_on(struct pair *p, struct pp_waiter *w, pp_wake_ready_fn fn,
		   void *arg)
{
	int err, waits = 0;

	while ((err = pp_wake_wait(w, fn, arg, WAIT_MS)) == -ETIMEDOUT) {
		if (peer_gone(p))
			return -EPIPE;
		if (++waits >= STALL_WAITS)
			return -ETIMEDOUT;
	}
	return err;
}

/* What a waiter on a ring waits for. */
struct cond {
	struct pp_ring *ring;
	int need; /* free slots wanted (producer) */
};

/* A violation counts as ready so the caller's next ring call reports it. */
static bool has_data(void *arg)
{
	struct cond *c = arg;

	return pp_ring_readable(c->ring) != 0;
}

static bool has_room(void *arg)
{
	struct cond *c = arg;
	int n = pp_ring_writable(c->ring);

	return n < 0 || n >= c->need;
}

static uint64_t seq_of(const unsigned char *msg)
{
	uint64_t seq;

	memcpy(&seq, msg, sizeof(seq));
	return seq;
}

static void set_seq(unsigned char *msg, uint64_t seq)
{
	memcpy(msg, &seq, sizeof(seq));
}

/* Pop one message, sleeping through the wake path while the ring is empty. */
static int pop_wait(struct pair *p, struct pp_ring *rx, struct pp_waiter *w,
		    void *out)
{
	struct cond c = { rx, 1 };
	int err;

	for (;;) {
		err = pp_ring_pop(rx, out);
		if (err != -EAGAIN)
			return err;
		err = wait_on(p, w, has_data, &c);
		if (err)
			return err;
	}
}

/* Pop one message, busy-polling while the ring is empty. */
static int pop_spin(struct pair *p, struct pp_ring *rx, void *out)
{
	struct spin_guard g = { 0, 0 };
	int err;

	while ((err = pp_ring_pop(rx, out)) == -EAGAIN) {
		err = spin_round(p, &g);
		if (err)
			return err;
	}
	return err;
}

/* Push one message, sleeping through the wake path while the ring is full. */
static int push_wait(struct pair *p, struct pp_ring *tx, struct pp_waiter *w,
		     const void *msg)
{
	struct cond c = { tx, 1 };
	int err;

	for (;;) {
		err = pp_ring_push(tx, msg, SLOT_SIZE);
		if (err != -EAGAIN)
			return err;
		err = wait_on(p, w, has_room, &c);
		if (err)
			return err;
	}
}

static void stats_begin(struct side_stats *st)
{
	st->csw = bu_ctx_switches();
	st->wakes = 0;
	st->sleeps = 0;
}

static void stats_end(struct side_stats *st)
{
	st->csw = bu_ctx_switches() - st->csw;
	st->end_ns = bu_now_ns();
}

/* ---- ring throughput ----------------------------------------------- */

static int attach_tx(struct pp_ring *r, void *region)
{
	return pp_ring_attach(r, region, RING_SLOTS, SLOT_SIZE,
			      PP_RING_PRODUCER);
}

static int attach_rx(struct pp_ring *r, void *region)
{
	return pp_ring_attach(r, region, RING_SLOTS, SLOT_SIZE,
			      PP_RING_CONSUMER);
}

static int produce_single(struct pair *p, struct run *r)
{
	unsigned char msg[SLOT_SIZE] = { 0 };
	struct pp_waiter w;
	struct pp_ring tx;
	uint64_t i;
	int err = attach_tx(&tx, p->req);

	pp_waiter_init(&w, p->ctl->wake_room);
	for (i = 0; !err && i < p->o->messages; i++) {
		set_seq(msg, i);
		err = push_wait(p, &tx, &w, msg);
		if (!err)
			r->self.wakes += pp_wake_notify(p->ctl->wake_req, -1);
	}
	stats_end(&r->self);
	r->self.sleeps = (int64_t)w.sleeps;
	return err;
}

static int consume_single(struct pair *p, struct side_stats *st)
{
	unsigned char msg[SLOT_SIZE];
	struct pp_waiter w;
	struct pp_ring rx;
	uint64_t i;
	int err = attach_rx(&rx, p->req);

	pp_waiter_init(&w, p->ctl->wake_req);
	for (i = 0; !err && i < p->o->messages; i++) {
		err = pop_wait(p, &rx, &w, msg);
		if (!err && seq_of(msg) != i)
			err = -EBADMSG;
		if (!err)
			st->wakes += pp_wake_notify(p->ctl->wake_room, -1);
	}
	stats_end(st);
	st->sleeps = (int64_t)w.sleeps;
	return err;
}

/*
 * Push all n messages of buf, as few calls as the ring allows; notify the
 * consumer after each call that published something.
 */
static int push_batch_wait(struct pair *p, struct pp_ring *tx,
			   struct pp_waiter *w, unsigned char (*buf)[SLOT_SIZE],
			   unsigned n, struct side_stats *st)
{
	struct cond c = { tx, 0 };
	unsigned done = 0;
	int k, err;

	while (done < n) {
		k = pp_ring_push_batch(tx, buf[done], n - done);
		if (k < 0)
			return k;
		if (k > 0) {
			done += (unsigned)k;
			st->wakes += pp_wake_notify(p->ctl->wake_req, -1);
			continue;
		}
		c.need = (int)(n - done);
		err = wait_on(p, w, has_room, &c);
		if (err)
			return err;
	}
	return 0;
}

static int produce_batch(struct pair *p, struct run *r)
{
	unsigned char buf[BATCH][SLOT_SIZE];
	uint64_t i = 0, total = p->o->messages;
	struct pp_waiter w;
	struct pp_ring tx;
	unsigned k, n;
	int err = attach_tx(&tx, p->req);

	memset(buf, 0, sizeof(buf));
	pp_waiter_init(&w, p->ctl->wake_room);
	while (!err && i < total) {
		n = total - i < BATCH ? (unsigned)(total - i) : BATCH;
		for (k = 0; k < n; k++)
			set_seq(buf[k], i + k);
		err = push_batch_wait(p, &tx, &w, buf, n, &r->self);
		i += n;
	}
	stats_end(&r->self);
	r->self.sleeps = (int64_t)w.sleeps;
	return err;
}

/* Check that a popped batch continues the sequence at *next. */
static int check_batch(unsigned char (*buf)[SLOT_SIZE], int n, uint64_t *next)
{
	int k;

	for (k = 0; k < n; k++, (*next)++)
		if (seq_of(buf[k]) != *next)
			return -EBADMSG;
	return 0;
}

static int consume_batch(struct pair *p, struct side_stats *st)
{
	unsigned char buf[BATCH][SLOT_SIZE];
	struct pp_waiter w;
	struct pp_ring rx;
	struct cond c = { &rx, 1 };
	uint64_t got = 0;
	int n, err = attach_rx(&rx, p->req);

	pp_waiter_init(&w, p->ctl->wake_req);
	while (!err && got < p->o->messages) {
		n = pp_ring_pop_batch(&rx, buf, BATCH);
		if (n == 0)
			err = wait_on(p, &w, has_data, &c);
		else if (n < 0)
			err = n;
		else
			err = check_batch(buf, n, &got);
		if (!err && n > 0)
			st->wakes += pp_wake_notify(p->ctl->wake_room, -1);
	}
	stats_end(st);
	st->sleeps = (int64_t)w.sleeps;
	return err;
}

/* ---- ring ping-pong ------------------------------------------------ */

/* The timed part of a ping-pong starts after the warm-up round trips. */
static void warm_done(struct side_stats *st, struct pp_waiter *w,
		      uint64_t *sleeps0)
{
	stats_begin(st);
	*sleeps0 = w->sleeps;
}

static int ping_ring(struct pair *p, struct run *r, bool wake)
{
	unsigned char msg[SLOT_SIZE] = { 0 }, back[SLOT_SIZE];
	uint64_t i, warm = p->o->warmup, sleeps0 = 0;
	struct pp_ring tx, rx;
	struct pp_waiter w;
	int64_t t0;
	int err = attach_tx(&tx, p->req);

	if (!err)
		err = attach_rx(&rx, p->rep);
	pp_waiter_init(&w, p->ctl->wake_rep);
	for (i = 0; !err && i < warm + p->o->roundtrips; i++) {
		if (i == warm)
			warm_done(&r->self, &w, &sleeps0);
		set_seq(msg, i);
		t0 = bu_now_ns();
		err = pp_ring_push(&tx, msg, SLOT_SIZE);
		if (!err && wake)
			r->self.wakes += pp_wake_notify(p->ctl->wake_req, -1);
		if (!err)
			err = wake ? pop_wait(p, &rx, &w, back)
				   : pop_spin(p, &rx, back);
		if (!err && i >= warm)
			bu_samples_add(&r->lat, bu_now_ns() - t0);
		if (!err && seq_of(back) != i)
			err = -EBADMSG;
	}
	stats_end(&r->self);
	r->self.sleeps = (int64_t)(w.sleeps - sleeps0);
	return err;
}

static int echo_ring(struct pair *p, struct side_stats *st, bool wake)
{
	uint64_t i, warm = p->o->warmup, sleeps0 = 0;
	unsigned char msg[SLOT_SIZE];
	struct pp_ring tx, rx;
	struct pp_waiter w;
	int err = attach_tx(&tx, p->rep);

	if (!err)
		err = attach_rx(&rx, p->req);
	pp_waiter_init(&w, p->ctl->wake_req);
	for (i = 0; !err && i < warm + p->o->roundtrips; i++) {
		if (i == warm)
			warm_done(st, &w, &sleeps0);
		err = wake ? pop_wait(p, &rx, &w, msg) : pop_spin(p, &rx, msg);
		if (!err && seq_of(msg) != i)
			err = -EBADMSG;
		if (!err)
			err = pp_ring_push(&tx, msg, SLOT_SIZE);
		if (!err && wake)
			st->wakes += pp_wake_notify(p->ctl->wake_rep, -1);
	}
	stats_end(st);
	st->sleeps = (int64_t)(w.sleeps - sleeps0);
	return err;
}

static int ping_ring_spin(struct pair *p, struct run *r)
{
	return ping_ring(p, r, false);
}

static int ping_ring_wake(struct pair *p, struct run *r)
{
	return ping_ring(p, r, true);
}

static int echo_ring_spin(struct pair *p, struct side_stats *st)
{
	return echo_ring(p, st, false);
}

static int echo_ring_wake(struct pair *p, struct side_stats *st)
{
	return echo_ring(p, st, true);
}

/* ---- floors: raw futex and busy poll on one word ------------------- */

static long futex(_Atomic uint32_t *word, int op, uint32_t val,
		  const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

/* Sleep in the kernel until *word == want: one look, then FUTEX_WAIT. */
static int futex_await(struct pair *p, _Atomic uint32_t *word, uint32_t want,
		       int64_t *sleeps)
{
	const struct timespec ts = { WAIT_MS / 1000, 0 };
	uint32_t v;
	int waits = 0;

	while ((v = atomic_load_explicit(word, memory_order_acquire)) != want) {
		(*sleeps)++;
		if (futex(word, FUTEX_WAIT, v, &ts) == 0 || errno != ETIMEDOUT)
			continue;
		if (peer_gone(p))
			return -EPIPE;
		if (++waits >= STALL_WAITS)
			return -ETIMEDOUT;
	}
	return 0;
}

static int spin_await(struct pair *p, _Atomic uint32_t *word, uint32_t want)
{
	struct spin_guard g = { 0, 0 };
	int err;

	while (atomic_load_explicit(word, memory_order_acquire) != want) {
		err = spin_round(p, &g);
		if (err)
			return err;
	}
	return 0;
}

/* Hand the word to the peer: odd values are requests, even ones replies. */
static void hand_over(_Atomic uint32_t *word, uint32_t val, bool wake,
		      struct side_stats *st)
{
	atomic_store_explicit(word, val, memory_order_release);
	if (!wake)
		return;
	futex(word, FUTEX_WAKE, 1, NULL);
	st->wakes++;
}

static int await_word(struct pair *p, uint32_t want, bool wake,
		      struct side_stats *st)
{
	if (wake)
		return futex_await(p, &p->ctl->word, want, &st->sleeps);
	return spin_await(p, &p->ctl->word, want);
}

static int ping_word(struct pair *p, struct run *r, bool wake)
{
	uint64_t i, warm = p->o->warmup;
	uint32_t k;
	int64_t t0;
	int err = 0;

	for (i = 0; !err && i < warm + p->o->roundtrips; i++) {
		if (i == warm)
			stats_begin(&r->self);
		k = (uint32_t)i * 2;
		t0 = bu_now_ns();
		hand_over(&p->ctl->word, k + 1, wake, &r->self);
		err = await_word(p, k + 2, wake, &r->self);
		if (!err && i >= warm)
			bu_samples_add(&r->lat, bu_now_ns() - t0);
	}
	stats_end(&r->self);
	return err;
}

static int echo_word(struct pair *p, struct side_stats *st, bool wake)
{
	uint64_t i, warm = p->o->warmup;
	uint32_t k;
	int err = 0;

	for (i = 0; !err && i < warm + p->o->roundtrips; i++) {
		if (i == warm)
			stats_begin(st);
		k = (uint32_t)i * 2;
		err = await_word(p, k + 1, wake, st);
		if (!err)
			hand_over(&p->ctl->word, k + 2, wake, st);
	}
	stats_end(st);
	return err;
}

static int ping_futex(struct pair *p, struct run *r)
{
	return ping_word(p, r, true);
}

static int echo_futex(struct pair *p, struct side_stats *st)
{
	return echo_word(p, st, true);
}

static int ping_spin(struct pair *p, struct run *r)
{
	return ping_word(p, r, false);
}

static int echo_spin(struct pair *p, struct side_stats *st)
{
	return echo_word(p, st, false);
}

static const struct scenario scenarios[] = {
	{ "ring throughput, single", "ring_throughput", false,
	  produce_single, consume_single },
	{ "ring throughput, batch 32", "ring_batch_throughput", false,
	  produce_batch, consume_batch },
	{ "ring ping-pong, spin", "ring_pingpong_spin", true,
	  ping_ring_spin, echo_ring_spin },
	{ "ring ping-pong, wake path", "ring_pingpong_wake", true,
	  ping_ring_wake, echo_ring_wake },
	{ "floor: futex ping-pong", "futex_pingpong", true,
	  ping_futex, echo_futex },
	{ "floor: spin ping-pong", "spin_pingpong", true,
	  ping_spin, echo_spin },
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- running a scenario -------------------------------------------- */

static size_t ring_bytes(void)
{
	size_t n = pp_ring_region_size(RING_SLOTS, SLOT_SIZE);

	return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* Fresh shared memory: control page, request ring, reply ring. */
static int pair_map(struct pair *p)
{
	p->map_size = PAGE + 2 * ring_bytes();
	p->map = bu_shared_map(p->map_size);
	if (!p->map)
		return -ENOMEM;
	p->ctl = (struct ctl *)(void *)p->map;
	p->req = p->map + PAGE;
	p->rep = p->map + PAGE + ring_bytes();
	pp_wake_word_init(p->ctl->wake_req);
	pp_wake_word_init(p->ctl->wake_room);
	pp_wake_word_init(p->ctl->wake_rep);
	if (pp_ring_init_region(p->req, RING_SLOTS, SLOT_SIZE) ||
	    pp_ring_init_region(p->rep, RING_SLOTS, SLOT_SIZE))
		return -EINVAL;
	return 0;
}

/* Both sides start together: the child announces itself, then waits. */
static int await_go(struct pair *p)
{
	struct spin_guard g = { 0, 0 };
	int err;

	atomic_store_explicit(&p->ctl->child_ready, 1, memory_order_release);
	while (!atomic_load_explicit(&p->ctl->go, memory_order_acquire)) {
		sched_yield();
		err = spin_round(p, &g);
		if (err)
			return err;
	}
	return 0;
}

static int await_child_ready(struct pair *p)
{
	struct spin_guard g = { 0, 0 };
	int err;

	while (!atomic_load_explicit(&p->ctl->child_ready,
				     memory_order_acquire)) {
		sched_yield();
		err = spin_round(p, &g);
		if (err)
			return err;
	}
	return 0;
}

static int child_main(void *arg)
{
	struct pair *p = arg;
	int err;

	p->in_child = true;
	if (p->o->pin && bu_pin_self(p->o->cpus[1]))
		return 2;
	err = await_go(p);
	if (err)
		return 3;
	stats_begin(&p->ctl->child);
	err = p->sc->child(p, &p->ctl->child);
	if (err) {
		fprintf(stderr, "ring_bench: %s: child: %s\n", p->sc->label,
			strerror(-err));
		return 1;
	}
	return 0;
}

/* Reap the child after the parent's part; 0 when it exited cleanly. */
static int finish_child(struct pair *p)
{
	int st = p->child_status;

	if (p->child > 0) {
		st = bu_reap(p->child);
		p->child = -1;
	}
	if (st == 0)
		return 0;
	fprintf(stderr, "ring_bench: %s: child exited with status %d\n",
		p->sc->label, st);
	return -ECHILD;
}

static int run_pair(struct pair *p, struct run *r)
{
	int err;

	p->parent = getpid();
	p->child = bu_fork(child_main, p);
	if (p->child < 0)
		return p->child;
	err = await_child_ready(p);
	if (!err) {
		stats_begin(&r->self);
		r->start_ns = bu_now_ns();
		atomic_store_explicit(&p->ctl->go, 1, memory_order_release);
		err = p->sc->parent(p, r);
	}
	if (err) {
		fprintf(stderr, "ring_bench: %s: parent: %s\n", p->sc->label,
			strerror(-err));
		bu_kill_reap(p->child);
		p->child = -1;
		return err;
	}
	return finish_child(p);
}

static void fill_result(const struct pair *p, struct run *r,
			struct result *res)
{
	const struct side_stats *c = &p->ctl->child;
	double ops = (double)res->ops;

	res->wakes = (double)(r->self.wakes + c->wakes) / ops;
	res->sleeps = (double)(r->self.sleeps + c->sleeps) / ops;
	res->csw = (double)(r->self.csw + c->csw) / ops;
	if (p->sc->latency) {
		res->pct = bu_samples_pct(&r->lat);
		return;
	}
	/* The consumer finishes last: its end closes the interval. */
	res->rate = ops * 1e9 / (double)(c->end_ns - r->start_ns);
}

static void run_scenario(const struct opts *o, const struct scenario *sc,
			 struct result *res)
{
	struct pair p = { .o = o, .sc = sc, .child = -1 };
	struct run r;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	res->rate = NAN;
	res->pct = (struct bu_pct){ NAN, NAN, NAN, NAN };
	res->wakes = res->sleeps = res->csw = NAN;
	res->ops = sc->latency ? o->roundtrips : o->messages;
	if (sc->latency && bu_samples_init(&r.lat, o->roundtrips))
		return;
	if (pair_map(&p) == 0 && run_pair(&p, &r) == 0) {
		res->ok = true;
		fill_result(&p, &r, res);
	}
	bu_shared_unmap(p.map, p.map_size);
	bu_samples_free(&r.lat);
}

/* ---- output -------------------------------------------------------- */

static void print_settings(const struct opts *o)
{
	printf("placement: ");
	if (o->pin)
		printf("pinned, parent on cpu %d, child on cpu %d\n",
		       o->cpus[0], o->cpus[1]);
	else
		printf("unpinned (the scheduler places both processes)\n");
	printf("messages:  %" PRIu64 " of %u bytes, ring of %u slots, "
	       "batch %u\n",
	       o->messages, SLOT_SIZE, RING_SLOTS, BATCH);
	printf("roundtrips: %" PRIu64 " timed after %" PRIu64 " warm-up\n",
	       o->roundtrips, o->warmup);
	printf("wake path: spin %u..%u rounds (adaptive), then futex\n",
	       PP_WAKE_SPIN_MIN, PP_WAKE_SPIN_MAX);
}

static const int widths[] = { 27, 10, 8, 9, 9, 9, 10, 8, 9, 8 };

static void print_row(const struct bu_table *t, const struct scenario *sc,
		      const struct result *res)
{
	char c[9][24];
	const char *cells[10] = { sc->label };

	snprintf(c[0], sizeof(c[0]), "%" PRIu64, res->ops);
	cells[1] = c[0];
	cells[2] = bu_fmt(c[1], sizeof(c[1]), "%.2f", res->rate / 1e6);
	cells[3] = bu_fmt(c[2], sizeof(c[2]), "%.2f", res->pct.p50);
	cells[4] = bu_fmt(c[3], sizeof(c[3]), "%.2f", res->pct.p99);
	cells[5] = bu_fmt(c[4], sizeof(c[4]), "%.2f", res->pct.p999);
	cells[6] = bu_fmt(c[5], sizeof(c[5]), "%.1f", res->pct.max);
	cells[7] = bu_fmt(c[6], sizeof(c[6]), "%.4f", res->wakes);
	cells[8] = bu_fmt(c[7], sizeof(c[7]), "%.4f", res->sleeps);
	cells[9] = bu_fmt(c[8], sizeof(c[8]), "%.4f", res->csw);
	if (!res->ok)
		cells[1] = "FAILED";
	bu_table_row(t, cells);
}

static void print_table(const struct result *res)
{
	static const char *const titles[] = {
		"benchmark", "ops", "Mmsg/s", "p50 us", "p99 us",
		"p999 us", "max us", "wakes/op", "sleeps/op", "csw/op",
	};
	struct bu_table t = { stdout, 10, widths };
	size_t i;

	printf("\n");
	bu_table_header(&t, titles);
	for (i = 0; i < NSCENARIOS; i++)
		print_row(&t, &scenarios[i], &res[i]);
	printf("\nops: messages (throughput rows) or timed round trips; "
	       "wakes: wake syscalls\n(pp_wake_notify's count, or "
	       "FUTEX_WAKE); sleeps: waits that entered the kernel;\n"
	       "csw: context switches (ru_nvcsw + ru_nivcsw), both "
	       "processes, per op.\n");
}

static void json_key(char *buf, size_t len, const char *prefix,
		     const char *name)
{
	snprintf(buf, len, "%s_%s", prefix, name);
}

static void json_result(struct bu_json *j, const struct scenario *sc,
			const struct result *r)
{
	const char *unit = sc->latency ? "rt" : "msg";
	char k[96], m[48];

	if (!sc->latency) {
		json_key(k, sizeof(k), sc->key, "msgs_per_s");
		bu_json_num(j, k, r->rate);
	} else {
		json_key(k, sizeof(k), sc->key, "p50_us");
		bu_json_num(j, k, r->pct.p50);
		json_key(k, sizeof(k), sc->key, "p99_us");
		bu_json_num(j, k, r->pct.p99);
		json_key(k, sizeof(k), sc->key, "p999_us");
		bu_json_num(j, k, r->pct.p999);
		json_key(k, sizeof(k), sc->key, "max_us");
		bu_json_num(j, k, r->pct.max);
	}
	snprintf(m, sizeof(m), "wake_syscalls_per_%s", unit);
	json_key(k, sizeof(k), sc->key, m);
	bu_json_num(j, k, r->wakes);
	snprintf(m, sizeof(m), "sleeps_per_%s", unit);
	json_key(k, sizeof(k), sc->key, m);
	bu_json_num(j, k, r->sleeps);
	snprintf(m, sizeof(m), "ctx_switches_per_%s", unit);
	json_key(k, sizeof(k), sc->key, m);
	bu_json_num(j, k, r->csw);
}

static void json_machine(struct bu_json *j, const struct bu_machine *m,
			 const struct opts *o)
{
	bu_json_str(j, "date", m->date);
	bu_json_str(j, "cpu_model", m->cpu_model);
	bu_json_int(j, "cpus_online", m->cpus_online);
	bu_json_int(j, "cpus_allowed", m->cpus_allowed);
	bu_json_str(j, "kernel", m->kernel);
	bu_json_str(j, "loadavg", m->loadavg);
	bu_json_bool(j, "pinned", o->pin);
	bu_json_int(j, "parent_cpu", o->pin ? o->cpus[0] : -1);
	bu_json_int(j, "child_cpu", o->pin ? o->cpus[1] : -1);
	bu_json_int(j, "messages", (long long)o->messages);
	bu_json_int(j, "roundtrips", (long long)o->roundtrips);
	bu_json_int(j, "warmup_roundtrips", (long long)o->warmup);
	bu_json_int(j, "slot_size", SLOT_SIZE);
	bu_json_int(j, "ring_slots", RING_SLOTS);
	bu_json_int(j, "batch", BATCH);
}

static void print_json(const struct bu_machine *m, const struct opts *o,
		       const struct result *res, bool ok)
{
	struct bu_json j;
	size_t i;

	bu_json_begin(&j, stdout);
	json_machine(&j, m, o);
	for (i = 0; i < NSCENARIOS; i++)
		json_result(&j, &scenarios[i], &res[i]);
	/* The single-message stream's figures, under their short names. */
	bu_json_num(&j, "wake_syscalls_per_msg", res[0].wakes);
	bu_json_num(&j, "ctx_switches_per_msg", res[0].csw);
	bu_json_bool(&j, "ok", ok);
	bu_json_end(&j);
}

/* ---- options ------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ring_bench [--messages N] [--roundtrips N] [--quick]\n"
		"                  [--pin] [--json]\n"
		"  --messages N    messages per throughput run (default %llu)\n"
		"  --roundtrips N  timed round trips per ping-pong "
		"(default %llu)\n"
		"  --quick         %llu messages, %llu round trips\n"
		"  --pin           pin parent and child to two CPUs\n"
		"  --json          print the figures as one JSON object\n",
		DEF_MESSAGES, DEF_ROUNDTRIPS, QUICK_MESSAGES,
		QUICK_ROUNDTRIPS);
}

static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Warm-up: a tenth of the timed round trips, within [100, 20000]. */
static uint64_t warmup_for(uint64_t roundtrips)
{
	uint64_t w = roundtrips / 10;

	if (w < 100)
		return 100;
	return w > 20000 ? 20000 : w;
}

static int parse_flag(struct opts *o, const char *arg)
{
	if (!strcmp(arg, "--quick"))
		o->quick = true;
	else if (!strcmp(arg, "--pin"))
		o->pin = true;
	else if (!strcmp(arg, "--json"))
		o->json = true;
	else
		return -EINVAL;
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	uint64_t messages = 0, roundtrips = 0;
	const char *arg = NULL;
	int i, err = 0;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc && !err; i++) {
		arg = argv[i];
		if (!strcmp(argv[i], "--messages"))
			err = parse_count(argv[++i], MAX_COUNT, &messages);
		else if (!strcmp(argv[i], "--roundtrips"))
			err = parse_count(argv[++i], MAX_ROUNDTRIPS,
					  &roundtrips);
		else
			err = parse_flag(o, argv[i]);
	}
	if (err) {
		fprintf(stderr, "ring_bench: bad or incomplete option %s\n",
			arg);
		return err;
	}
	o->messages = o->quick ? QUICK_MESSAGES : DEF_MESSAGES;
	o->roundtrips = o->quick ? QUICK_ROUNDTRIPS : DEF_ROUNDTRIPS;
	if (messages)
		o->messages = messages;
	if (roundtrips)
		o->roundtrips = roundtrips;
	o->warmup = warmup_for(o->roundtrips);
	return 0;
}

static int setup_pinning(struct opts *o)
{
	int err;

	if (!o->pin)
		return 0;
	err = bu_pick_cpus(o->cpus, 2);
	if (!err)
		err = bu_pin_self(o->cpus[0]);
	if (err)
		fprintf(stderr, "ring_bench: --pin needs two CPUs: %s\n",
			strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	struct result res[NSCENARIOS];
	struct bu_machine m;
	struct opts o;
	bool ok = true;
	size_t i;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (parse_args(&o, argc, argv)) {
		usage(stderr);
		return 2;
	}
	bu_machine_read(&m);
	if (setup_pinning(&o))
		return 2;
	if (!o.json) {
		bu_machine_print(stdout, &m);
		print_settings(&o);
	}
	for (i = 0; i < NSCENARIOS; i++) {
		if (!o.json)
			fprintf(stderr, "# %s\n", scenarios[i].label);
		run_scenario(&o, &scenarios[i], &res[i]);
		ok = ok && res[i].ok;
	}
	if (o.json)
		print_json(&m, &o, res, ok);
	else
		print_table(res);
	return ok ? 0 : 1;
}
