/*
 * processpool — a hardened process pool for Linux.
 *
 * Public API. Every function that returns int returns 0 (or a count) on
 * success and a negative POOL_E* code on failure; pool_strerror() names it.
 */
#ifndef PROCESS_POOL_H
#define PROCESS_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROCESS_POOL_VERSION_MAJOR 0
#define PROCESS_POOL_VERSION_MINOR 1
#define PROCESS_POOL_VERSION_PATCH 0

/*
 * Error codes: one table, so the enum, the names and the messages can never
 * drift apart. The values are negative errno numbers where one fits, so a
 * POOL_E* code can be passed to strerror(-code) too.
 */
#define POOL_ERRNO_MAP(X)                                                   \
	X(EINVAL, -22, "invalid argument")                                  \
	X(ENOMEM, -12, "out of memory")                                     \
	X(EAGAIN, -11, "resource temporarily unavailable (queue full)")     \
	X(ETIMEDOUT, -110, "timed out")                                     \
	X(ECANCELED, -125, "operation cancelled")                           \
	X(EPROTO, -71, "protocol violation by the other side")              \
	X(ESTATE, -77, "operation not valid in the current state")          \
	X(ENOSPC, -28, "no space left in the shared arena")                 \
	X(EMSGSIZE, -90, "message too long")                                \
	X(ENOSYS, -38, "kernel facility not available")                     \
	X(EPERM, -1, "operation not permitted")                             \
	X(ESYS, -5, "system call failed (see the log)")

typedef enum pool_errno {
	POOL_OK = 0,
#define POOL_ERRNO_ENUM(name, value, msg) POOL_##name = (value),
	POOL_ERRNO_MAP(POOL_ERRNO_ENUM)
#undef POOL_ERRNO_ENUM
} pool_errno_t;

/*
 * pool_strerror - describe a return code of this library.
 *
 * Returns a static, NUL-terminated message for 0 and for every POOL_E*
 * code, and "unknown error" for anything else. Never returns NULL.
 * Thread-safe; the string must not be freed.
 */
const char *pool_strerror(int code);

/*
 * pool_errname - the symbolic name of a return code ("POOL_EINVAL").
 *
 * Returns "POOL_OK" for 0 and "POOL_EUNKNOWN" for codes outside the table.
 * Never returns NULL. Thread-safe; the string must not be freed.
 */
const char *pool_errname(int code);

/*
 * pool_version - the library's version as "MAJOR.MINOR.PATCH".
 *
 * Thread-safe; returns a static string.
 */
const char *pool_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PROCESS_POOL_H */
