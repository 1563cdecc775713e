/*
 * The README's signal snippet, compiled as C and run: a helper process
 * waits until this one blocks SIGTERM, then sends it (pending until the
 * pool's signalfd reads it); the snippet's pool_wait_stopped must then
 * return with the pool stopped.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <process_pool.h>

static int nap_task(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	(void)in;
	(void)n;
	(void)out;
	(void)out_n;
	(void)ud;
	usleep(100000);
	return 0;
}

/* Whether pid blocks SIGTERM, from /proc/PID/status's SigBlk mask. */
static int blocks_term(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &mask) == 1)
			break;
	fclose(f);
	return (mask >> (SIGTERM - 1)) & 1;
}

int main(void)
{
	pool_config_t config = {.worker_count = 1, .pool_name = "readme"};
	pid_t self = getpid(), helper = fork();
	task_result_t r;
	pool_health_t h;
	int i, bad;

	if (helper < 0)
		return 1;
	if (helper == 0) {
		/* A process, not a thread: the snippet runs before any. */
		for (i = 0; i < 30000 && !blocks_term(self); i++)
			usleep(1000);
		kill(self, SIGTERM);
		_exit(0);
	}
	/* README:begin */
	pool_block_signals(POOL_SIGNALS_ALL); /* inherited by later threads */
	process_pool_t *pool = pool_create(&config);
	pool_start(pool);
	pool_handle_signals(pool, POOL_SIGNALS_ALL, 10000); /* drain: 10 s */
	pool_wait_stopped(pool, -1); /* after SIGTERM or SIGINT: stopped */
	/* README:end */
	waitpid(helper, NULL, 0);
	bad = pool_health(pool, &h) != 0 || h.state != POOL_HEALTH_FAILING ||
	      pool_submit_sync(pool, nap_task, NULL, 0, NULL,
			       TASK_PRIORITY_NORMAL, 0, &r) != POOL_ESTATE;
	if (bad)
		fprintf(stderr, "the pool did not stop on SIGTERM\n");
	pool_destroy(pool);
	return bad;
}
