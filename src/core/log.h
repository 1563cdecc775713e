/*
 * Logging: one line per event, "ts level pool event key=value...", to
 * stderr or a file. A process-wide level and sink, and per pool a level
 * and a file of its own that override them, set through the public
 * pool_set_log_level / pool_set_log_file, pool_config_t.log_level or
 * PROCESS_POOL_LOG_LEVEL.
 *
 * A pool is known here by the address of its name (its cfg.pool_name),
 * the pointer every line it logs passes as pool: no other file needs to
 * know about per-pool sinks. A line whose name pointer has no sink (NULL,
 * or a caller's config during pool_create) goes to the process-wide one.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef PP_CORE_LOG_H
#define PP_CORE_LOG_H

#include "process_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pp_log_enabled - true when a line at level could be written for some
 * pool (a cheap check before formatting). */
int pp_log_enabled(int level);

/*
 * pp_log - write one line: pool is the pool's name (may be NULL), event a
 * short word, fmt the key=value fields. Errors writing are ignored.
 */
void pp_log(int level, const char *pool, const char *event, const char *fmt,
	    ...) __attribute__((format(printf, 4, 5)));

/*
 * pp_log_set_level / pp_log_set_file - the public calls, with owner the
 * pool's name pointer, or NULL for the process-wide setting. Errors as
 * pool_set_log_level / pool_set_log_file.
 */
int pp_log_set_level(const char *owner, int level);
int pp_log_set_file(const char *owner, const char *path);

/*
 * pp_log_reopen - reopen the file owner's lines go to (its own, else the
 * process-wide one) by its path, for log rotation. Returns 0, 1 when the
 * lines go to stderr (nothing to do), or pp_log_set_file's error.
 */
int pp_log_reopen(const char *owner);

/* pp_log_forget - drop owner's level and close its file (pool_destroy). */
void pp_log_forget(const char *owner);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_LOG_H */
