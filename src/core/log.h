/*
 * Logging: one line per event, "ts level pool event key=value...", to
 * stderr or a file. Process-wide level and sink, set through the public
 * pool_set_log_level / pool_set_log_file or PROCESS_POOL_LOG_LEVEL.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef PP_CORE_LOG_H
#define PP_CORE_LOG_H

#include "process_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pp_log_enabled - true when a line at level would be written. */
int pp_log_enabled(int level);

/*
 * pp_log - write one line: pool is the pool's name (may be NULL), event a
 * short word, fmt the key=value fields. Errors writing are ignored.
 */
void pp_log(int level, const char *pool, const char *event, const char *fmt,
	    ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_LOG_H */
