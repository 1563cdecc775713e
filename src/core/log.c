/* Process-wide logging; see log.h. */
#include "src/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static _Atomic int current_level = LOG_LEVEL_WARN;
static int sink_fd = -1; /* -1: stderr */
static char sink_path[4096];

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",	 [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_NONE] = "none",
};

static void read_env(void)
{
	const char *v = getenv("PROCESS_POOL_LOG_LEVEL");
	int l;

	if (!v)
		return;
	for (l = LOG_LEVEL_DEBUG; l <= LOG_LEVEL_NONE; l++)
		if (!strcasecmp(v, level_names[l]))
			atomic_store(&current_level, l);
	if (!strcasecmp(v, "warning"))
		atomic_store(&current_level, LOG_LEVEL_WARN);
}

int pp_log_enabled(int level)
{
	pthread_once(&env_once, read_env);
	return level >=
		   atomic_load_explicit(&current_level, memory_order_relaxed) &&
	       level < LOG_LEVEL_NONE;
}

int pool_set_log_level(int level)
{
	if (level < LOG_LEVEL_DEBUG || level > LOG_LEVEL_NONE)
		return POOL_EINVAL;
	pthread_once(&env_once, read_env);
	atomic_store(&current_level, level);
	return 0;
}

int pool_set_log_file(const char *path)
{
	int fd = -1;

	if (path) {
		if (!*path || strlen(path) >= sizeof(sink_path))
			return POOL_EINVAL;
		fd =
		    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			return POOL_ESYS;
	}
	pthread_mutex_lock(&sink_lock);
	if (sink_fd >= 0)
		close(sink_fd);
	sink_fd = fd;
	if (path)
		strcpy(sink_path, path);
	else
		sink_path[0] = '\0';
	pthread_mutex_unlock(&sink_lock);
	return 0;
}

void pp_log(int level, const char *pool, const char *event, const char *fmt,
	    ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;
	va_list ap;

	if (!pp_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n,
		     ".%06ldZ level=%s pool=%s pid=%d event=%s ",
		     ts.tv_nsec / 1000, level_names[level],
		     pool && *pool ? pool : "-", (int)getpid(), event);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n ? (size_t)k
						  : sizeof(line) - n - 1;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n ? (size_t)k
						  : sizeof(line) - n - 1;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&sink_lock);
	/* One write per line keeps lines whole in a shared file. */
	if (write(sink_fd >= 0 ? sink_fd : STDERR_FILENO, line, n) < 0)
		errno = 0;
	pthread_mutex_unlock(&sink_lock);
}
