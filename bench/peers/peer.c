/* Shared parts of the peers; see peer.h. */
#include "bench/peers/peer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void peer_result_init(struct peer_result *r)
{
	memset(r, 0, sizeof(*r));
	r->batched_tps = NAN;
	r->unbatched_tps = NAN;
	r->sync = (struct bu_pct){NAN, NAN, NAN, NAN};
	r->batched_csw = NAN;
	r->batched_cpu_us = NAN;
	r->sync_csw = NAN;
}

void peer_fail(struct peer_result *r, const char *fmt, ...)
{
	va_list ap;

	r->ran = false;
	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

int peer_run_sync(const struct peer_opts *o, struct peer_result *r,
		  int (*once)(void *arg, uint64_t i), void *arg,
		  const pid_t *pids, int npids)
{
	uint64_t i, total = o->warmup + o->roundtrips;
	struct bu_samples lat;
	int64_t csw = 0, t0;
	int err = 0;

	if (bu_samples_init(&lat, o->roundtrips))
		return -ENOMEM;
	for (i = 0; !err && i < total; i++) {
		if (i == o->warmup)
			csw = bu_group_ctx_switches(pids, (size_t)npids);
		t0 = bu_now_ns();
		err = once(arg, i);
		if (!err && i >= o->warmup)
			bu_samples_add(&lat, bu_now_ns() - t0);
	}
	if (!err) {
		csw = bu_group_ctx_switches(pids, (size_t)npids) - csw;
		r->sync = bu_samples_pct(&lat);
		r->sync_csw = (double)csw / (double)o->roundtrips;
	}
	bu_samples_free(&lat);
	return err;
}

int peer_time_stream(const struct peer_opts *o, peer_stream_fn stream,
		     void *arg, const pid_t *pids, const int *npids,
		     double *tps, double *csw, double *cpu_us)
{
	int64_t c0, cpu0, t0, t1;
	uint64_t done = 0;
	int err = stream(arg, o->tasks / 10 + 1);

	if (err)
		return err;
	/* *npids may grow as a pool names its workers; read it each time. */
	c0 = bu_group_ctx_switches(pids, (size_t)*npids);
	cpu0 = bu_group_cpu_ns(pids, (size_t)*npids);
	t0 = bu_now_ns();
	do {
		err = stream(arg, o->tasks);
		done += o->tasks;
		t1 = bu_now_ns();
	} while (!err && t1 - t0 < o->min_ns);
	if (err)
		return err;
	c0 = bu_group_ctx_switches(pids, (size_t)*npids) - c0;
	cpu0 = bu_group_cpu_ns(pids, (size_t)*npids) - cpu0;
	*tps = (double)done * 1e9 / (double)(t1 - t0);
	*csw = (double)c0 / (double)done;
	*cpu_us = (double)cpu0 / 1e3 / (double)done;
	return 0;
}

void peer_contended_init(struct peer_contended *c, const char *note)
{
	memset(c, 0, sizeof(*c));
	c->lat = (struct bu_pct){NAN, NAN, NAN, NAN};
	c->tps = NAN;
	snprintf(c->note, sizeof(c->note), "%s", note);
}

void peer_fail_contended(struct peer_contended *c, const char *fmt, ...)
{
	va_list ap;

	c->ran = false;
	va_start(ap, fmt);
	vsnprintf(c->note, sizeof(c->note), fmt, ap);
	va_end(ap);
}

/* Between the checks of a flag another thread sets once. */
static void nap(void)
{
	const struct timespec ts = {0, 50000};

	nanosleep(&ts, NULL);
}

static void *caller_main(void *arg)
{
	struct peer_caller *c = arg;
	struct peer_callers *s = c->set;
	uint64_t id = c->first_id, end = c->first_id + s->warmup;
	int64_t t0;

	for (; id < end && !c->err && !atomic_load(&s->stop); id++)
		c->err = s->once(s->arg, id);
	if (c->err)
		atomic_store(&s->stop, true);
	atomic_fetch_add(&s->ready, 1);
	while (!atomic_load(&s->go))
		nap();
	while (!c->err && !atomic_load(&s->stop)) {
		if (s->stop_at_total &&
		    atomic_fetch_add(&s->started, 1) >= s->total)
			break;
		t0 = bu_now_ns();
		c->err = s->once(s->arg, id++);
		if (c->err)
			break;
		bu_samples_add(&c->lat, bu_now_ns() - t0);
		c->done++;
	}
	if (c->err)
		atomic_store(&s->stop, true);
	return NULL;
}

/* Join the first n threads, then free every thread's samples. */
static void callers_join(struct peer_callers *s, int n)
{
	int k;

	for (k = 0; k < n; k++)
		pthread_join(s->c[k].tid, NULL);
	for (k = 0; k < s->n; k++)
		bu_samples_free(&s->c[k].lat);
}

void peer_callers_init(struct peer_callers *s, const struct peer_opts *o, int n,
		       int (*once)(void *arg, uint64_t id), void *arg)
{
	uint64_t each = n > 0 ? (uint64_t)n : 1;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->stop_at_total = true;
	s->warmup = o->warmup / each < 10 ? 10 : o->warmup / each;
	s->total = o->roundtrips;
	s->once = once;
	s->arg = arg;
}

int peer_callers_start(struct peer_callers *s)
{
	int k, made = 0, err = 0;

	if (s->n < 1 || s->n > PEER_MAX_CALLERS || !s->total || !s->once)
		return -EINVAL;
	atomic_store(&s->started, 0);
	atomic_store(&s->ready, 0);
	atomic_store(&s->go, false);
	atomic_store(&s->stop, false);
	for (k = 0; k < s->n; k++) {
		s->c[k] = (struct peer_caller){.set = s};
		/* Distinct ids per thread, far apart. */
		s->c[k].first_id = (uint64_t)k << 40;
	}
	/* One caller may make them all. */
	for (k = 0; k < s->n && !err; k++)
		err = bu_samples_init(&s->c[k].lat, s->total);
	while (!err && made < s->n) {
		err = -pthread_create(&s->c[made].tid, NULL, caller_main,
				      &s->c[made]);
		made += !err;
	}
	if (err) {
		/* The threads already running end at once. */
		atomic_store(&s->stop, true);
		atomic_store(&s->go, true);
		callers_join(s, made);
		return err;
	}
	while (atomic_load(&s->ready) < s->n)
		nap();
	s->t0 = bu_now_ns();
	atomic_store(&s->go, true);
	return 0;
}

int peer_callers_end(struct peer_callers *s, struct peer_contended *out)
{
	struct bu_samples all;
	int64_t t1;
	int k, err = 0;

	if (!s->stop_at_total)
		atomic_store(&s->stop, true);
	for (k = 0; k < s->n; k++)
		pthread_join(s->c[k].tid, NULL);
	/* The calls in flight at the stop ended by now, and are counted. */
	t1 = bu_now_ns();
	out->callers = s->n;
	out->total = 0;
	out->fewest = UINT64_MAX;
	out->most = 0;
	for (k = 0; k < s->n; k++) {
		const struct peer_caller *c = &s->c[k];

		err = err ? err : c->err;
		out->total += c->done;
		out->fewest = c->done < out->fewest ? c->done : out->fewest;
		out->most = c->done > out->most ? c->done : out->most;
	}
	if (!err)
		err = bu_samples_init(&all, (size_t)s->n * s->total);
	if (!err) {
		for (k = 0; k < s->n; k++) {
			memcpy(all.ns + all.n, s->c[k].lat.ns,
			       s->c[k].lat.n * sizeof(*all.ns));
			all.n += s->c[k].lat.n;
		}
		out->lat = bu_samples_pct(&all);
		out->tps = (double)out->total * 1e9 / (double)(t1 - s->t0);
		bu_samples_free(&all);
	}
	callers_join(s, 0); /* joined above: only frees the samples */
	return err;
}

void peer_reap_all(pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (pids[i] > 0)
			bu_kill_reap(pids[i]);
		pids[i] = 0;
	}
}
