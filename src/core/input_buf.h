/*
 * Input buffers (pool_input_alloc): memory the caller writes a task's
 * input into and submits without a copy.
 *
 * Each buffer is a memfd of its own, mapped writable in the parent only,
 * with MADV_DONTFORK so that no fork-mode worker spawned meanwhile
 * inherits the mapping. A submit claims it: ownership passes to the task.
 * An input that fits the worker's arena is copied into the arena as any
 * other input (the arena is faster than fresh memfd pages here, see
 * README, "Payloads"); the buffer never reaches a worker, so once the task
 * is released it is kept, already faulted in, for a later pool_input_alloc
 * (up to PP_INPUT_BUF_CACHE_BYTES). A larger one is sealed when it is
 * placed on a worker: the parent's writable mapping goes first (F_SEAL_WRITE
 * cannot be added while one exists), the file is cut to the input's size
 * and gets F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, and
 * that fd is what the worker receives. A sealed buffer is never reused:
 * it is closed when the task is released.
 *
 * Thread-safety: new, free, claim, unclaim and release are thread-safe;
 * seal is called by whoever places the task, one at a time.
 */
#ifndef PP_CORE_INPUT_BUF_H
#define PP_CORE_INPUT_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of released, never-sent buffers kept for reuse, process-wide. */
#define PP_INPUT_BUF_CACHE_BYTES ((size_t)64 << 20)

struct pp_input_buf;

/* pp_input_buf_new - a writable buffer of size bytes (> 0). Returns 0
 * with *p, or a negated errno. */
int pp_input_buf_new(size_t size, void **p);

/* pp_input_buf_free - release an unclaimed buffer. 0, or -EINVAL when p
 * is not the start of one (or it was submitted). */
int pp_input_buf_free(void *p);

/*
 * pp_input_buf_claim - when p is the start of an unclaimed buffer of at
 * least len bytes, claim it for a task and return it. NULL with *err 0
 * when p is no buffer's start (ordinary memory), NULL with *err -EINVAL
 * when it is one but claimed already or shorter than len.
 */
struct pp_input_buf *pp_input_buf_claim(const void *p, size_t len, int *err);

/* pp_input_buf_unclaim - give a claimed, unsealed buffer back to the
 * caller (a submit that failed after claiming it). */
void pp_input_buf_unclaim(struct pp_input_buf *b);

/*
 * pp_input_buf_seal - unmap the parent's mapping, cut the file to len
 * bytes and seal it; idempotent. Returns the fd (still owned by b) or a
 * negated errno.
 */
int pp_input_buf_seal(struct pp_input_buf *b, size_t len);

/* pp_input_buf_release - the task that claimed b is gone: keep b for
 * reuse if it was never sealed, else close it. NULL is ignored. */
void pp_input_buf_release(struct pp_input_buf *b);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_INPUT_BUF_H */
