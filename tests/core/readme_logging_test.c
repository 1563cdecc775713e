/*
 * The README's logging snippet, compiled as C: one pool's lines, debug
 * and up, into a file of its own. The checks after it read the file back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <process_pool.h>

/* 1 when the file at path holds text. */
static int file_has(const char *path, const char *text)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

int main(void)
{
	pool_config_t config = {.worker_count = 1, .pool_name = "readme"};
	const char *dir = getenv("TEST_TMPDIR");
	char log_path[4096];
	process_pool_t *pool;
	int fd, bad;

	snprintf(log_path, sizeof(log_path), "%s/processpool-XXXXXX.log",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemps(log_path, 4);
	if (fd < 0)
		return 1;
	close(fd);
	pool = pool_create(&config);
	if (!pool)
		return 1;
	/* README:begin */
	/* This pool's lines, debug and up, into a file of its own. */
	pool_set_log_level(pool, LOG_LEVEL_DEBUG);
	pool_set_log_file(pool, log_path); /* e.g. "/var/log/processpool.log" */
	/* README:end */
	if (pool_start(pool) != 0)
		return 1;
	pool_destroy(pool); /* closes the file */
	/* worker_spawned is a debug line; the process-wide level is WARN. */
	bad = !file_has(log_path, "level=debug pool=readme") ||
	      !file_has(log_path, "event=worker_spawned") ||
	      !file_has(log_path, "event=pool_started");
	if (bad)
		fprintf(stderr, "%s lacks the pool's debug lines\n", log_path);
	unlink(log_path);
	return bad;
}
