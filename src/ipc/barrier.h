/*
 * The store-load barrier of the sleep/wake handshake (C only).
 *
 * A publisher makes work visible, then reads whether anyone sleeps; a
 * sleeper announces itself, then looks for work once more. Either the
 * publisher sees the sleeper or the sleeper sees the work, provided each
 * side has a full barrier between its write and its read. On the
 * publisher's side that is a seq_cst fence before a plain load: it costs
 * no write to the shared line, which the sleeper's side reads and writes
 * too. gcc's ThreadSanitizer does not support fences, so there the load
 * is a seq_cst read-modify-write of the word itself instead.
 */
#ifndef PP_IPC_BARRIER_H
#define PP_IPC_BARRIER_H

#include <stdatomic.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define PP_BARRIER_RMW 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PP_BARRIER_RMW 1
#endif
#endif

/* pp_load_after_publish_u32 - *word, read after a full barrier. */
static inline uint32_t pp_load_after_publish_u32(_Atomic uint32_t *word)
{
#ifdef PP_BARRIER_RMW
	return atomic_fetch_add_explicit(word, 0, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(word, memory_order_relaxed);
#endif
}

#endif /* PP_IPC_BARRIER_H */
