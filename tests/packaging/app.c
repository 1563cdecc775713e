/*
 * A program built outside Bazel against an installed processpool (see
 * install_test.sh): a fork-mode pool and a clean-room pool each square a
 * number, the task answering through pool_output_alloc. Exits 0 when
 * both answer 49.
 */
#include <process_pool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int square(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	int64_t v, *o;

	(void)ud;
	if (n != sizeof(v))
		return 1;
	memcpy(&v, in, sizeof(v));
	o = pool_output_alloc(sizeof(*o));
	if (!o)
		return 2;
	*o = v * v;
	*out = o;
	*out_n = sizeof(*o);
	return 0;
}

static int run(int spawn_mode, const char *name)
{
	pool_config_t c;
	process_pool_t *p;
	task_result_t r;
	int64_t v = 7, got = 0;
	int err;

	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.spawn_mode = spawn_mode;
	p = pool_create(&c);
	if (!p || pool_start(p)) {
		fprintf(stderr, "%s: pool did not start\n", name);
		pool_destroy(p);
		return 1;
	}
	err = pool_submit_sync(p, square, &v, sizeof(v), NULL,
			       TASK_PRIORITY_NORMAL, 10000, &r);
	if (!err && r.output_size == sizeof(got))
		memcpy(&got, r.output_data, sizeof(got));
	if (err || r.status != TASK_STATUS_COMPLETED || got != 49) {
		fprintf(stderr, "%s: %s %s %s\n", name, pool_strerror(err),
			err ? "" : pool_task_status_str(r.status),
			err ? "" : r.detail);
		err = 1;
	}
	if (!err)
		pool_result_free(&r);
	pool_destroy(p);
	return err ? 1 : 0;
}

int main(void)
{
	if (run(POOL_SPAWN_FORK, "fork") ||
	    run(POOL_SPAWN_CLEANROOM, "clean-room"))
		return 1;
	printf("processpool %s: fork and clean-room pools answered\n",
	       pool_version());
	return 0;
}
