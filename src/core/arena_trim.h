/*
 * Giving back a worker's arena pages once it is idle.
 *
 * The arena (arena_size per direction, 64 MiB by default) is memfd
 * memory mapped once per worker: pages a payload touched stay in place,
 * so the next payload of that size is copied at memory speed rather than
 * through fresh pages (each of which costs microseconds on a virtual
 * machine). Kept for ever, they would hold up to twice arena_size per
 * worker after one large payload. So a worker whose results used more
 * than the first PP_ARENA_KEEP bytes of either part is marked; once it
 * has finished no task for PP_ARENA_TRIM_IDLE_NS and the supervisor
 * holds it idle, the pages above PP_ARENA_KEEP of both parts are
 * punched out of the memfd (pp_channel_trim). A worker busy with large
 * payloads keeps its pages; one that had a burst gives them back a
 * second after it.
 *
 * Threads: pp_arena_trim_note is called by whoever holds the worker (a
 * lane client or the supervisor); the rest by the supervisor.
 */
#ifndef PP_CORE_ARENA_TRIM_H
#define PP_CORE_ARENA_TRIM_H

#include <stdint.h>

#include "src/ipc/frame.h"

struct process_pool;
struct pp_worker;

#define PP_ARENA_DEFAULT      ((size_t)64 << 20) /* arena_size 0 */
#define PP_ARENA_PER_TASK     ((size_t)4 << 20)	 /* in POOL_ISOLATE_TASK */
#define PP_ARENA_MIN	      ((size_t)64 << 10) /* the least default */
#define PP_ARENA_KEEP	      ((size_t)4 << 20)
#define PP_ARENA_TRIM_IDLE_NS (1000LL * 1000000)

/*
 * pp_arena_trim_note - a result of w's came back: marks w when its output
 * (out, in the worker's part; NULL or a memfd output: none) or its input
 * (in, in the parent's part) reached beyond PP_ARENA_KEEP.
 */
void pp_arena_trim_note(const struct process_pool *pool, struct pp_worker *w,
			const struct pp_payload_ref *in,
			const struct pp_payload_ref *out);

/*
 * pp_arena_trim_mark - w's arena may have been used beyond PP_ARENA_KEEP
 * (a chunk's results, whose output blocks are not looked at one by one):
 * trimmed once idle, which costs nothing where it had nothing beyond.
 */
void pp_arena_trim_mark(const struct process_pool *pool, struct pp_worker *w);

/*
 * pp_arena_trim_check - supervisor, on its housekeeping turn: takes w's
 * mark, follows its finished tasks, and trims its arena once it has been
 * idle long enough and the supervisor holds it with nothing in flight.
 */
void pp_arena_trim_check(struct process_pool *pool, struct pp_worker *w,
			 int64_t now);

/* pp_arena_trim_due - when w's trim should be looked at again (0: no
 * trim pending). */
int64_t pp_arena_trim_due(const struct pp_worker *w);

#endif /* PP_CORE_ARENA_TRIM_H */
