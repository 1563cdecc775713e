/* Shared parts of the peers; see peer.h. */
#include "bench/peers/peer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void peer_reap_all(pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (pids[i] > 0)
			bu_kill_reap(pids[i]);
		pids[i] = 0;
	}
}
