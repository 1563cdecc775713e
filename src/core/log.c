/* Logging: a process-wide level and sink, and per-pool ones; see log.h. */
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

#define MAX_PATH 4096

/* A pool's own level and file, found by the name pointer it logs with. */
struct pool_sink {
	const char *owner;
	int level;	     /* LOG_LEVEL_DEFAULT: the process-wide level */
	int fd;		     /* -1: the process-wide sink */
	char path[MAX_PATH]; /* fd's file, for pp_log_reopen */
	struct pool_sink *next;
};

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int initial_level = LOG_LEVEL_WARN; /* from the environment */
static _Atomic int current_level = LOG_LEVEL_WARN;
/* The lowest level any pool writes at: the check before formatting. */
static _Atomic int lowest_level = LOG_LEVEL_WARN;
static int sink_fd = -1; /* -1: stderr */
static char sink_path[MAX_PATH];
static struct pool_sink *sinks;

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
			initial_level = l;
	if (!strcasecmp(v, "warning"))
		initial_level = LOG_LEVEL_WARN;
	atomic_store(&current_level, initial_level);
	atomic_store(&lowest_level, initial_level);
}

/* Under sink_lock, after any change of a level. */
static void update_lowest(void)
{
	int low = atomic_load(&current_level);
	struct pool_sink *s;

	for (s = sinks; s; s = s->next)
		if (s->level != LOG_LEVEL_DEFAULT && s->level < low)
			low = s->level;
	atomic_store(&lowest_level, low);
}

/* Under sink_lock: owner's sink, NULL when it has none. */
static struct pool_sink *find(const char *owner)
{
	struct pool_sink *s;

	for (s = owner ? sinks : NULL; s; s = s->next)
		if (s->owner == owner)
			return s;
	return NULL;
}

/* Under sink_lock: owner's sink, made on first use; NULL: no memory. */
static struct pool_sink *find_or_add(const char *owner)
{
	struct pool_sink *s = find(owner);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->owner = owner;
	s->fd = -1;
	s->next = sinks;
	sinks = s;
	return s;
}

int pp_log_enabled(int level)
{
	pthread_once(&env_once, read_env);
	return level >=
		   atomic_load_explicit(&lowest_level, memory_order_relaxed) &&
	       level < LOG_LEVEL_NONE;
}

int pp_log_set_level(const char *owner, int level)
{
	struct pool_sink *s;
	int err = 0;

	if (level < LOG_LEVEL_DEFAULT || level > LOG_LEVEL_NONE)
		return POOL_EINVAL;
	pthread_once(&env_once, read_env);
	pthread_mutex_lock(&sink_lock);
	if (!owner) {
		atomic_store(&current_level, level == LOG_LEVEL_DEFAULT
						 ? initial_level
						 : level);
	} else {
		s = level == LOG_LEVEL_DEFAULT ? find(owner)
					       : find_or_add(owner);
		if (s)
			s->level = level;
		else if (level != LOG_LEVEL_DEFAULT)
			err = POOL_ENOMEM;
	}
	update_lowest();
	pthread_mutex_unlock(&sink_lock);
	return err;
}

int pp_log_set_file(const char *owner, const char *path)
{
	struct pool_sink *s = NULL;
	int fd = -1, *slot;

	if (path) {
		if (!*path || strlen(path) >= MAX_PATH)
			return POOL_EINVAL;
		fd =
		    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			return POOL_ESYS;
	}
	pthread_mutex_lock(&sink_lock);
	if (owner) {
		s = path ? find_or_add(owner) : find(owner);
		if (!s) {
			pthread_mutex_unlock(&sink_lock);
			if (fd >= 0)
				close(fd);
			return path ? POOL_ENOMEM : 0;
		}
	}
	/* The old file closes only once the new one is in place: reopening
	 * the same path after a rotation loses no line. */
	slot = s ? &s->fd : &sink_fd;
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
	snprintf(s ? s->path : sink_path, MAX_PATH, "%s", path ? path : "");
	pthread_mutex_unlock(&sink_lock);
	return 0;
}

int pp_log_reopen(const char *owner)
{
	struct pool_sink *s;
	char path[MAX_PATH];

	pthread_mutex_lock(&sink_lock);
	s = owner ? find(owner) : NULL;
	if (!s || s->fd < 0) {
		s = NULL;
		owner = NULL;
	}
	snprintf(path, sizeof(path), "%s", s ? s->path : sink_path);
	pthread_mutex_unlock(&sink_lock);
	if (!path[0])
		return 1; /* stderr: nothing to reopen */
	return pp_log_set_file(owner, path);
}

void pp_log_forget(const char *owner)
{
	struct pool_sink **p, *s;

	pthread_mutex_lock(&sink_lock);
	for (p = &sinks; (s = *p) != NULL; p = &s->next)
		if (s->owner == owner) {
			*p = s->next;
			if (s->fd >= 0)
				close(s->fd);
			free(s);
			break;
		}
	update_lowest();
	pthread_mutex_unlock(&sink_lock);
}

/* Writes line under sink_lock when owner's level lets it through. */
static void emit(int level, const char *owner, const char *line, size_t n)
{
	struct pool_sink *s;
	int fd;

	pthread_mutex_lock(&sink_lock);
	s = find(owner);
	if (level >= (s && s->level != LOG_LEVEL_DEFAULT
			  ? s->level
			  : atomic_load(&current_level))) {
		fd = s && s->fd >= 0 ? s->fd
		     : sink_fd >= 0  ? sink_fd
				     : STDERR_FILENO;
		/* One write per line keeps lines whole in a shared file. */
		if (write(fd, line, n) < 0)
			errno = 0;
	}
	pthread_mutex_unlock(&sink_lock);
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
	emit(level, pool, line, n);
}
