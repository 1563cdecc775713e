/* Bulk chunks, parent side; see bulk.h and protocol.h. */
#include "src/core/bulk.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/clock.h"
#include "src/core/frame_check.h"
#include "src/core/log.h"
#include "src/core/map.h"
#include "src/core/output_map.h"
#include "src/core/pool_internal.h"

/* ---- the region ------------------------------------------------------ */

static struct pp_bulk_head *head_of(unsigned char *r)
{
	return (struct pp_bulk_head *)(void *)r;
}

static struct pp_bulk_in *ins_of(unsigned char *r)
{
	return (struct pp_bulk_in *)(void *)(r + sizeof(struct pp_bulk_head));
}

static uint8_t *skips_of(unsigned char *r, uint32_t count)
{
	return (uint8_t *)(ins_of(r) + count);
}

/* Where the worker writes the outcomes: after the image, which is all
 * the parent keeps a copy of (and reads, never the region's). */
static struct pp_bulk_out *outs_of(unsigned char *r, const struct pp_bulk *b)
{
	return (struct pp_bulk_out *)(void *)(r + b->out_offset);
}

/* The chunk's region in w's arena, where the worker reads and writes. */
static unsigned char *region_on(struct pp_worker *w, struct task_future *c)
{
	if (!c->arena_in.length)
		return NULL;
	return w->ch.own.base + c->arena_in.offset;
}

size_t pp_bulk_image_size(uint32_t count, size_t input_bytes)
{
	uint64_t size;

	if (count == 0 || count > PP_BULK_MAX)
		return 0;
	size = pp_bulk_input_room((size_t)pp_bulk_layout_size(count));
	/* The outcomes follow in the region: it all stays below 4 GiB. */
	if (input_bytes >
	    UINT32_MAX - size - (uint64_t)count * sizeof(struct pp_bulk_out))
		return 0;
	return (size_t)(size + input_bytes);
}

size_t pp_bulk_region_size(const struct task_future *c)
{
	return c->bulk->out_offset +
	       (size_t)c->bulk->count * sizeof(struct pp_bulk_out);
}

struct task_future *pp_bulk_new(uint32_t count, size_t input_bytes, int futures)
{
	size_t img = pp_bulk_image_size(count, input_bytes), at, extra;
	struct task_future *t;
	unsigned char *block;
	struct pp_bulk *b;

	if (!img)
		return NULL;
	at = pp_bulk_input_room(img);
	extra = sizeof(*b) + (futures ? count * sizeof(*b->tasks) : 0);
	t = pp_future_new();
	if (!t)
		return NULL;
	pp_future_put(t); /* no caller: the engine's reference only */
	block = malloc(at + extra);
	if (!block) {
		pp_future_put(t);
		return NULL;
	}
	/* The head and skip[]; every in[] is written as inputs are added. */
	memset(block, 0, sizeof(struct pp_bulk_head));
	memset(skips_of(block, count), 0, count);
	head_of(block)->count = count;
	head_of(block)->out_offset = (uint32_t)at;
	b = (struct pp_bulk *)(void *)(block + at);
	memset(b, 0, extra);
	b->count = count;
	b->out_offset = (uint32_t)at;
	b->fill =
	    (uint32_t)pp_bulk_input_room((size_t)pp_bulk_layout_size(count));
	b->tasks = futures ? (struct task_future **)(void *)(b + 1) : NULL;
	t->input = block; /* freed with the future, b with it */
	t->input_size = img;
	t->bulk = b;
	return t;
}

void pp_bulk_add_input(struct task_future *c, uint32_t i, const void *data,
		       size_t size)
{
	struct pp_bulk *b = c->bulk;
	struct pp_bulk_in *in = &ins_of(c->input)[i];

	in->offset = b->fill;
	in->length = (uint32_t)size;
	if (size)
		memcpy(c->input + b->fill, data, size);
	b->fill += (uint32_t)pp_bulk_input_room(size);
}

/* ---- settling ------------------------------------------------------- */

#define TALLY_MAX 64

/*
 * Outcomes decided in one pass, counted with one atomic add per figure
 * and only then made visible (a map's count of what is left, a batch's
 * futures published): the stats are never behind what a waiter sees.
 */
struct tally {
	uint64_t count[TASK_STATUS_COUNT];
	size_t n;
	struct task_future *pub[TALLY_MAX]; /* a batch's, decided */
	uint64_t lat[TALLY_MAX];
	unsigned npub;
	uint64_t run_ns, runs;
};

static void tally_flush(struct process_pool *pool, struct task_future *c,
			struct tally *tl)
{
	unsigned i;
	int s;

	if (!tl->n)
		return;
	for (s = 0; s < TASK_STATUS_COUNT; s++)
		if (tl->count[s])
			atomic_fetch_add(&pool->counters[s], tl->count[s]);
	if (c->bulk->map) {
		pp_map_settled(c->bulk->map, tl->n);
	} else {
		if (tl->runs) {
			atomic_fetch_add(&pool->run_ns_total, tl->run_ns);
			atomic_fetch_add(&pool->run_count, tl->runs);
		}
		pp_latency_record_many(&pool->latency, tl->lat, tl->npub);
		for (i = 0; i < tl->npub; i++) {
			pp_future_publish(tl->pub[i]);
			pp_future_put(tl->pub[i]); /* the engine's */
		}
	}
	memset(tl, 0, offsetof(struct tally, pub));
	tl->npub = 0;
	tl->run_ns = tl->runs = 0;
}

static void log_task(struct process_pool *pool, const struct task_future *c,
		     uint32_t i, int status, int rc, int sig,
		     const char *detail)
{
	if (status == TASK_STATUS_COMPLETED || !pp_log_enabled(LOG_LEVEL_INFO))
		return;
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "task_end",
	       "chunk=%llu index=%u status=%s rc=%d signal=%d detail=\"%s\"",
	       (unsigned long long)c->id, i, pool_task_status_str(status), rc,
	       sig, detail ? detail : "");
}

/* Task i of chunk c ends: into the map's results or its own future. */
static void settle_one(struct process_pool *pool, struct task_future *c,
		       uint32_t i, int status, int rc, void *out,
		       size_t out_size, int sig, const char *detail,
		       int64_t now, struct tally *tl)
{
	struct pp_bulk *b = c->bulk;
	struct task_future *t;

	if (b->map) {
		pool_map_result_t *r = &b->map->results[b->base + i];

		r->output = out;
		r->output_size = out ? out_size : 0;
		r->status = (task_status_t)status;
		r->return_code = rc;
		tl->count[status]++;
		tl->n++;
		log_task(pool, c, i, status, rc, sig, detail);
		return;
	}
	t = b->tasks[i];
	if (!t) {
		pp_output_free(out);
		return;
	}
	b->tasks[i] = NULL;
	t->chunk = NULL;
	if (!pp_future_claim(t)) { /* cancelled first */
		pp_output_free(out);
		pp_future_put(t);
		return;
	}
	atomic_store_explicit(&t->worker_pid, atomic_load(&c->worker_pid),
			      memory_order_relaxed);
	atomic_store_explicit(&t->start_ns, atomic_load(&c->start_ns),
			      memory_order_relaxed);
	pp_future_fill(t, (task_status_t)status, rc, out, out_size, sig, detail,
		       now);
	log_task(pool, c, i, status, rc, sig, detail);
	tl->count[status]++;
	tl->n++;
	if (t->result.run_us) {
		tl->run_ns += t->result.run_us * 1000;
		tl->runs++;
	}
	tl->lat[tl->npub] = t->result.queue_us + t->result.run_us;
	tl->pub[tl->npub++] = t;
	if (tl->npub == TALLY_MAX)
		tally_flush(pool, c, tl);
}

/* The chunk has every outcome: it is done (its map reference goes). */
static void mark_done(struct task_future *c)
{
	struct pp_bulk *b = c->bulk;

	b->settled = b->count;
	if (!pp_future_claim(c))
		return;
	pp_future_publish(c);
	if (b->map)
		pp_map_put(b->map);
}

/* Every task from settled on ends with status. */
static void settle_rest(struct process_pool *pool, struct task_future *c,
			int status, int rc, int sig, const char *detail,
			int64_t now)
{
	struct pp_bulk *b = c->bulk;
	struct tally tl;
	uint32_t i;

	memset(&tl, 0, sizeof(tl));
	for (i = b->settled; i < b->count; i++)
		settle_one(pool, c, i, status, rc, NULL, 0, sig, detail, now,
			   &tl);
	b->settled = b->count;
	tally_flush(pool, c, &tl);
}

static void take_outcome(struct process_pool *pool, struct pp_worker *w,
			 struct task_future *c, uint32_t i,
			 const struct pp_bulk_out *e, int64_t now,
			 struct tally *tl);
static void read_out(unsigned char *region, const struct pp_bulk *b, uint32_t i,
		     struct pp_bulk_out *e);

/*
 * The outcomes w wrote and has not reported yet, up to its done word,
 * kept: a stop ends only the tasks that had not ended. Returns the
 * violation of an outcome that does not check out (the rest is left),
 * or NULL.
 */
static const char *harvest(struct process_pool *pool, struct pp_worker *w,
			   struct task_future *c, int64_t now)
{
	struct pp_bulk *b = c->bulk;
	unsigned char *region = region_on(w, c);
	const char *why = NULL;
	struct tally tl;
	uint32_t done, i;

	if (!region)
		return NULL;
	memset(&tl, 0, sizeof(tl));
	done = __atomic_load_n(&head_of(region)->done, __ATOMIC_ACQUIRE);
	if (done > b->count)
		done = b->count;
	for (i = b->settled; i < done; i++) {
		struct pp_bulk_out e;

		read_out(region, b, i, &e);
		why = pp_bulk_out_check(pool, w, &e, 0);
		if (why) {
			/* A memfd output whose frame is still on its way:
			 * that task and the rest are left to the stop. */
			if (!pp_bulk_out_check(pool, w, &e, 1))
				why = NULL;
			break;
		}
		take_outcome(pool, w, c, i, &e, now, &tl);
		b->settled = i + 1;
	}
	tally_flush(pool, c, &tl);
	return why;
}

int pp_bulk_resolve(struct process_pool *pool, struct task_future *c,
		    task_status_t status, int rc, int sig, const char *detail,
		    int64_t now)
{
	if (pp_future_is_done(c))
		return 0;
	/* A stop the parent decided (a deadline, a cancel) ends the tasks
	 * still running or waiting; those the worker had finished keep
	 * their outcome, as any result it had already sent would. */
	if (c->worker &&
	    (status == TASK_STATUS_TIMEOUT || status == TASK_STATUS_CANCELLED))
		harvest(pool, c->worker, c, now);
	settle_rest(pool, c, status, rc, sig, detail, now);
	mark_done(c);
	return 1;
}

/* A checked outcome e of task i, from w's arena. */
static void take_outcome(struct process_pool *pool, struct pp_worker *w,
			 struct task_future *c, uint32_t i,
			 const struct pp_bulk_out *e, int64_t now,
			 struct tally *tl)
{
	int status = e->status, rc = e->return_code;
	const char *detail = NULL;
	void *out = NULL;
	char why[96];

	if (e->length) {
		struct pp_payload_ref ref = {e->offset, e->length};
		const void *src = pp_channel_peer_payload(&w->ch, &ref);

		out = src ? malloc((size_t)e->length) : NULL;
		if (!out) {
			status = TASK_STATUS_REJECTED;
			detail = "out of memory copying the output";
		} else {
			memcpy(out, src, (size_t)e->length);
		}
	} else if (status == TASK_STATUS_REJECTED && rc == PP_REJECT_NO_FUNC) {
		detail = "task function not found in the worker's modules";
	} else if (status == TASK_STATUS_REJECTED) {
		snprintf(why, sizeof(why),
			 "output larger than max_output_size (%zu bytes) or "
			 "the arena",
			 pool->cfg.max_output_size);
		detail = why;
	} else if (status == TASK_STATUS_SANDBOX_VIOLATION) {
		detail = pp_violation_detail(rc, why, sizeof(why));
	}
	settle_one(pool, c, i, status, rc, out, (size_t)e->length, 0, detail,
		   now, tl);
}

/* Reads outcome i once: the worker may change it under the reader. */
static void read_out(unsigned char *region, const struct pp_bulk *b, uint32_t i,
		     struct pp_bulk_out *e)
{
	const volatile struct pp_bulk_out *src = &outs_of(region, b)[i];

	e->status = src->status;
	e->return_code = src->return_code;
	e->offset = src->offset;
	e->length = src->length;
}

/* A BULK_RESULT with PP_FRAME_F_FD: one task whose output is the sealed
 * memfd ahead of it on the socket, taken (mapped read-only) even when
 * the task has ended already, so the socket stays in step. */
static const char *report_fd(struct process_pool *pool, struct pp_worker *w,
			     struct task_future *c, const struct pp_frame *f,
			     unsigned char *region, int64_t now, int *gone)
{
	struct pp_bulk *b = c->bulk;
	uint32_t i = f->u.bulk.first;
	struct pp_frame ff;
	struct pp_bulk_out e;
	struct tally tl;
	const char *why;
	void *out = NULL;
	int err;

	read_out(region, b, i, &e);
	why = pp_bulk_out_check(pool, w, &e, 1);
	if (why)
		return why;
	memset(&ff, 0, sizeof(ff));
	ff.type = PP_FRAME_RESULT;
	ff.flags = PP_FRAME_F_FD;
	ff.task_id = f->task_id;
	ff.payload.length = e.length;
	err = pp_copy_output(pool, w, &ff, &out);
	if (err == -EPROTO)
		return "memfd output missing or not sealed";
	b->next = i + 1;
	*gone = b->next == b->count;
	if (i < b->settled) {
		pp_output_free(out);
		return NULL;
	}
	memset(&tl, 0, sizeof(tl));
	if (err)
		settle_one(pool, c, i, TASK_STATUS_REJECTED, 0, NULL, 0, 0,
			   "out of memory mapping the output", now, &tl);
	else
		settle_one(pool, c, i, e.status, e.return_code, out,
			   (size_t)e.length, 0, NULL, now, &tl);
	b->settled = i + 1;
	tally_flush(pool, c, &tl);
	if (b->settled == b->count)
		mark_done(c);
	return NULL;
}

const char *pp_bulk_report(struct process_pool *pool, struct pp_worker *w,
			   struct task_future *c, const struct pp_frame *f,
			   int64_t now, int *gone)
{
	struct pp_bulk *b = c->bulk;
	unsigned char *region = region_on(w, c);
	uint32_t i, end = f->u.bulk.first + f->u.bulk.count;
	const char *why = NULL;
	struct tally tl;

	*gone = 0;
	if (!region)
		return "bulk result for a chunk with no region";
	if (f->flags & PP_FRAME_F_FD)
		return report_fd(pool, w, c, f, region, now, gone);
	memset(&tl, 0, sizeof(tl));
	/* A pids.max refusal cannot be pinned on one task of the chunk:
	 * the worker is replaced once idle, its leaf with it. */
	if (pp_worker_pids_refused(w))
		w->recycle_after = w->tasks_done ? w->tasks_done : 1;
	for (i = f->u.bulk.first; i < end; i++) {
		struct pp_bulk_out e;

		read_out(region, b, i, &e);
		why = pp_bulk_out_check(pool, w, &e, 0);
		if (why)
			break;
		if (i < b->settled)
			continue; /* ended already (a stop came first) */
		take_outcome(pool, w, c, i, &e, now, &tl);
		b->settled = i + 1;
	}
	tally_flush(pool, c, &tl);
	if (why)
		return why;
	b->next = end;
	if (b->settled == b->count)
		mark_done(c);
	*gone = b->next == b->count;
	return NULL;
}

/* ---- a dead worker's chunk -------------------------------------------- */

/*
 * Task i runs again, alone: a batch's task as its own future, a map's
 * task as a chunk of one.
 */
static void retry(struct process_pool *pool, struct task_future *c, uint32_t i,
		  int64_t now, struct tally *tl)
{
	struct pp_bulk *b = c->bulk;
	const struct pp_bulk_in *in = &ins_of(c->input)[i];
	struct task_future *n;

	if (!b->map) {
		struct task_future *t = b->tasks[i];

		b->tasks[i] = NULL;
		if (!t)
			return;
		t->chunk = NULL;
		if (pp_future_is_done(t)) { /* cancelled meanwhile */
			pp_future_put(t);
			return;
		}
		atomic_fetch_add(&pool->retried, 1);
		t->retries = c->retries + 1;
		t->suspect = 1;
		atomic_store(&t->start_ns, 0);
		pp_requeue(pool, t);
		return;
	}
	n = pp_bulk_new(1, pp_bulk_input_room(in->length), 0);
	if (!n) {
		settle_one(pool, c, i, TASK_STATUS_REJECTED, 0, NULL, 0, 0,
			   "out of memory re-running the task", now, tl);
		return;
	}
	atomic_fetch_add(&pool->retried, 1);
	pp_bulk_add_input(n, 0, c->input + in->offset, in->length);
	n->func_ref = c->func_ref;
	n->user_data = c->user_data;
	n->priority = c->priority;
	n->iso = c->iso;
	n->pool = pool;
	n->id = atomic_fetch_add(&pool->next_id, 1) + 1;
	n->submit_ns = c->submit_ns;
	n->deadline_ns = c->deadline_ns;
	n->retries = c->retries + 1;
	n->suspect = 1;
	n->bulk->map = b->map;
	n->bulk->base = b->base + i;
	pp_map_get(b->map);
	pp_requeue(pool, n);
}

void pp_bulk_orphan(struct process_pool *pool, struct pp_worker *w,
		    struct task_future *c, unsigned shared, task_status_t cause,
		    int sig, const char *how, int final)
{
	struct pp_bulk *b = c->bulk;
	unsigned char *region = region_on(w, c);
	int64_t now = pp_now_ns();
	const char *why;
	uint32_t done, i;
	unsigned on_it;
	struct tally tl;

	memset(&tl, 0, sizeof(tl));
	if (pp_future_is_done(c) || !region)
		goto out;
	/* How far it got: its own word, so only as a bound for what is
	 * kept; everything after pays the re-run it would anyway. */
	why = harvest(pool, w, c, now);
	if (why) {
		settle_rest(pool, c, TASK_STATUS_PROTOCOL_ERROR, 0, 0, why,
			    now);
		goto out;
	}
	done = b->settled;
	/* The tasks that were on the worker when it died, this chunk's
	 * unfinished ones counted one by one. */
	on_it = (shared ? shared - 1 : 0) + (b->count - done);
	for (i = done; i < b->count; i++) {
		char detail[sizeof(((task_result_t *)0)->detail)];

		if (!(final && on_it == 1) &&
		    c->retries < pool->cfg.max_retries) {
			retry(pool, c, i, now, &tl);
			continue;
		}
		if (on_it > 1) {
			snprintf(detail, sizeof(detail),
				 "%u tasks on the worker: %.60s", on_it, how);
			settle_one(pool, c, i, TASK_STATUS_CRASHED, 0, NULL, 0,
				   sig, detail, now, &tl);
		} else {
			settle_one(pool, c, i, cause, 0, NULL, 0, sig, how, now,
				   &tl);
		}
	}
	b->settled = b->count;
	tally_flush(pool, c, &tl);
out:
	mark_done(c);
	pp_worker_unslot(w, c);
	pp_deadline_remove(&pool->deadlines, c);
	pp_future_put(c);
}

/* ---- stopping ------------------------------------------------------- */

int pp_bulk_stop(struct pp_worker *w, struct task_future *c)
{
	unsigned char *region = region_on(w, c);
	struct pp_bulk_head *h;
	uint32_t started, done;

	if (!region)
		return 0;
	h = head_of(region);
	/* Stored, then read: the worker stores started, then reads cancel
	 * (see worker_main.c), so one of the two sees the other. */
	__atomic_store_n(&h->cancel, 1, __ATOMIC_SEQ_CST);
	started = __atomic_load_n(&h->started, __ATOMIC_SEQ_CST);
	done = __atomic_load_n(&h->done, __ATOMIC_SEQ_CST);
	return started > done;
}

struct pp_worker *pp_bulk_cancel_task(struct process_pool *pool,
				      struct task_future *t)
{
	struct task_future *c = t->chunk;
	uint32_t i = t->chunk_index, started, done;
	unsigned char *region;
	struct pp_bulk_head *h;

	(void)pool;
	if (!c || i >= c->bulk->count)
		return NULL;
	/* The image too: a chunk handed back is placed again from it. */
	skips_of(c->input, c->bulk->count)[i] = 1;
	if (!c->worker || !(region = region_on(c->worker, c)))
		return NULL;
	h = head_of(region);
	__atomic_store_n(&skips_of(region, c->bulk->count)[i], 1,
			 __ATOMIC_SEQ_CST);
	started = __atomic_load_n(&h->started, __ATOMIC_SEQ_CST);
	done = __atomic_load_n(&h->done, __ATOMIC_SEQ_CST);
	return started == i + 1 && done <= i ? c->worker : NULL;
}

int pp_bulk_map_cancelled(const struct task_future *c)
{
	return c->bulk && c->bulk->map && !pp_future_is_done(c) &&
	       atomic_load(&c->bulk->map->cancelled);
}

int pp_bulk_dropped(struct process_pool *pool, struct task_future *c)
{
	if (!pp_bulk_map_cancelled(c))
		return 0;
	pp_resolve(pool, c, TASK_STATUS_CANCELLED, 0, NULL, 0, 0,
		   "map cancelled by the application");
	return 1;
}

/* ---- batches ---------------------------------------------------------- */

/* Whether batch tasks a and b may share a chunk. */
static int same_kind(const struct process_pool *pool, const task_desc_t *a,
		     const task_desc_t *b, uint64_t ra, uint64_t rb)
{
	/* A chunk runs in one process: one isolation domain, and never a
	 * task that owns its process. A task with a traceparent travels
	 * alone, with its context (pool_task_traceparent). */
	return ra == rb && a->user_data == b->user_data && !a->traceparent &&
	       !b->traceparent &&
	       a->priority == b->priority && a->timeout_ms == b->timeout_ms &&
	       b->input_size <= PP_BULK_BATCH_INPUT &&
	       a->isolation_key == b->isolation_key &&
	       a->isolation == b->isolation && !a->isolation &&
	       pool->cfg.isolation != POOL_ISOLATE_TASK;
}

/* A chunk of the futures out[i..j), or NULL when out of memory. */
static struct task_future *batch_chunk(struct process_pool *pool,
				       struct task_future **out, size_t i,
				       size_t j, size_t bytes)
{
	struct task_future *c = pp_bulk_new((uint32_t)(j - i), bytes, 1);
	struct task_future *t0 = out[i];
	size_t k;

	if (!c)
		return NULL;
	for (k = i; k < j; k++) {
		struct task_future *t = out[k];

		pp_bulk_add_input(c, (uint32_t)(k - i), t->input,
				  t->input_size);
		c->bulk->tasks[k - i] = t;
		t->chunk = c;
		t->chunk_index = (uint32_t)(k - i);
	}
	c->func_ref = t0->func_ref;
	c->user_data = t0->user_data;
	c->priority = t0->priority;
	c->iso = t0->iso; /* every task of the chunk has it (same_kind) */
	c->pool = pool;
	c->id = atomic_fetch_add(&pool->next_id, 1) + 1;
	c->submit_ns = t0->submit_ns;
	c->deadline_ns = t0->deadline_ns; /* the same for all of them */
	return c;
}

struct task_future *pp_bulk_chain(struct process_pool *pool,
				  struct task_future **out,
				  const task_desc_t *tasks,
				  const uint64_t *refs, size_t from, size_t to,
				  size_t want, size_t *entries)
{
	struct task_future *head = NULL, *tail = NULL, *item;
	size_t budget = pool->cfg.arena_size / 4, i = from;

	/* A chunk runs in one process: never more tasks than a worker may
	 * run before it is recycled. */
	if (pool->cfg.max_tasks_per_worker &&
	    want > (size_t)pool->cfg.max_tasks_per_worker)
		want = (size_t)pool->cfg.max_tasks_per_worker;

	*entries = 0;
	while (i < to) {
		size_t j = i + 1, bytes;

		if (!out[i]) {
			i++;
			continue;
		}
		item = out[i];
		bytes = pp_bulk_input_room(tasks[i].input_size);
		if (want >= 2 && tasks[i].input_size <= PP_BULK_BATCH_INPUT)
			while (j < to && j - i < want && out[j] &&
			       same_kind(pool, &tasks[i], &tasks[j], refs[i],
					 refs[j]) &&
			       pp_bulk_image_size(
				   (uint32_t)(j - i + 1),
				   bytes + pp_bulk_input_room(
					       tasks[j].input_size)) <=
				   budget) {
				bytes +=
				    pp_bulk_input_room(tasks[j].input_size);
				j++;
			}
		if (j - i >= 2 && (item = batch_chunk(pool, out, i, j, bytes)))
			i = j;
		else
			item = out[i++];
		item->next = NULL;
		if (tail)
			tail->next = item;
		else
			head = item;
		tail = item;
		(*entries)++;
	}
	return head;
}
