/*
 * Bounded multi-producer multi-consumer queue of pointers, lock-free, for
 * the parent's submitting threads (process-private memory only).
 *
 * The classic sequence-numbered cell array: each cell carries a sequence
 * that says whether it is free for the producer of lap k or full for the
 * consumer of lap k, so producers and consumers contend only on their own
 * ticket counter. FIFO per producer; no ABA; no allocation after create.
 *
 * Thread-safety: push and pop are safe from any number of threads.
 * pp_mpmc_destroy must not race with any other call.
 */
#ifndef PP_IPC_MPMC_QUEUE_H
#define PP_IPC_MPMC_QUEUE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_MPMC_MAX_CAPACITY (1u << 26)

struct pp_mpmc;

/*
 * pp_mpmc_create - a queue that holds capacity pointers.
 *
 * capacity must be a power of two in [2, PP_MPMC_MAX_CAPACITY]. Returns the
 * queue, or NULL with errno EINVAL (bad capacity) or ENOMEM. The caller owns
 * it and frees it with pp_mpmc_destroy.
 */
struct pp_mpmc *pp_mpmc_create(size_t capacity);

/* pp_mpmc_destroy - free the queue (not the pointers it holds). NULL is ok. */
void pp_mpmc_destroy(struct pp_mpmc *q);

/*
 * pp_mpmc_push - append item (any value, NULL included).
 *
 * Returns 0, -EAGAIN when full, -EINVAL for a NULL queue.
 */
int pp_mpmc_push(struct pp_mpmc *q, void *item);

/*
 * pp_mpmc_pop - remove the oldest item into *item.
 *
 * Returns 0, -EAGAIN when empty, -EINVAL for NULL arguments.
 */
int pp_mpmc_pop(struct pp_mpmc *q, void **item);

/*
 * pp_mpmc_size_approx - items in the queue; exact only when quiescent.
 */
size_t pp_mpmc_size_approx(const struct pp_mpmc *q);

/* pp_mpmc_capacity - the capacity given at create, 0 for NULL. */
size_t pp_mpmc_capacity(const struct pp_mpmc *q);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_MPMC_QUEUE_H */
