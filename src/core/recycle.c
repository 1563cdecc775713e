/*
 * Recycling by resident memory and by age. The parent reads each
 * worker's RSS from /proc itself (a worker's own word would be a claim,
 * and a stuck worker says nothing), at most every PP_RECYCLE_CHECK_NS,
 * and only when a threshold is set. A worker marked here is retired by
 * the supervisor once it holds no task (a SHUTDOWN frame, then a fresh
 * worker in its slot), as max_tasks_per_worker's are.
 */
#include "src/core/recycle.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/pool_internal.h"

/* xorshift, supervisor only. */
static uint64_t draw(void)
{
	static uint64_t x;

	if (!x)
		x = (uint64_t)getpid() * 0x2545f4914f6cdd1dull | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

void pp_recycle_spawned(const struct process_pool *pool, struct pp_worker *w,
			int64_t now)
{
	int64_t base = (int64_t)pool->cfg.max_worker_age_ms * 1000000;

	w->spawned_ns = now;
	w->recycle_now = NULL;
	w->max_age_ns =
	    base ? base + (int64_t)(draw() % (uint64_t)(base / 4 + 1)) : 0;
}

/*
 * Resident bytes of pid's own memory from /proc/PID/statm (resident less
 * shared: its anonymous pages), or 0 when unknown. Shared pages are the
 * program's file pages and the pool's arena, which a large payload fills
 * and the pool gives back (arena_trim.h): not the worker's to answer for.
 */
static uint64_t rss_bytes(pid_t pid)
{
	char path[64], buf[128];
	unsigned long long size, resident, shared;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3 ||
	    shared > resident)
		return 0;
	return (uint64_t)(resident - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void mark(struct process_pool *pool, struct pp_worker *w,
		 const char *why, uint64_t rss)
{
	w->recycle_now = why;
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "worker_recycle",
	       "worker=%d pid=%d reason=%s rss=%llu", w->index, (int)w->pid,
	       why, (unsigned long long)rss);
}

void pp_recycle_check(struct process_pool *pool, int64_t now)
{
	int64_t min_age = (int64_t)pool->cfg.min_worker_age_ms * 1000000;
	int look = pool->cfg.recycle_rss_bytes &&
		   now - pool->recycle_checked_ns >= PP_RECYCLE_CHECK_NS;
	int i;

	if (!pool->cfg.recycle_rss_bytes && !pool->cfg.max_worker_age_ms)
		return;
	if (look)
		pool->recycle_checked_ns = now;
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];
		uint64_t rss;

		/* A worker a lane client holds is looked at once back. */
		if (w->state != PP_WORKER_LIVE || w->recycle_now ||
		    atomic_load(&w->lane) != PP_LANE_SUPERVISOR ||
		    now - w->spawned_ns < min_age)
			continue;
		if (w->max_age_ns && now - w->spawned_ns >= w->max_age_ns) {
			mark(pool, w, "age", 0);
			continue;
		}
		if (!look)
			continue;
		rss = rss_bytes(w->pid);
		if (rss > pool->cfg.recycle_rss_bytes)
			mark(pool, w, "rss", rss);
	}
}

int64_t pp_recycle_due(const struct process_pool *pool, int64_t now)
{
	int64_t next = 0;
	int i;

	if (pool->cfg.recycle_rss_bytes)
		next = now + PP_RECYCLE_CHECK_NS;
	for (i = 0; pool->cfg.max_worker_age_ms && i < pool->n_slots;
	     i++) {
		const struct pp_worker *w = &pool->workers[i];
		int64_t at;

		if (w->state != PP_WORKER_LIVE || w->recycle_now)
			continue;
		at = w->spawned_ns + w->max_age_ns;
		if (at < w->spawned_ns +
			     (int64_t)pool->cfg.min_worker_age_ms * 1000000)
			at = w->spawned_ns +
			     (int64_t)pool->cfg.min_worker_age_ms * 1000000;
		if (!next || at < next)
			next = at;
	}
	return next;
}
