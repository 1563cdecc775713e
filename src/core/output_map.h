/*
 * Outputs handed to the caller as read-only mappings of a worker's sealed
 * memfd (see src/ipc/fd_payload.h) rather than malloc'd copies. The
 * pointer alone travels through the engine and the caller's
 * task_result_t, so the mappings live are recorded here, and
 * pp_output_free unmaps a recorded one and free()s any other.
 *
 * Thread-safety: all functions are thread-safe.
 */
#ifndef PP_CORE_OUTPUT_MAP_H
#define PP_CORE_OUTPUT_MAP_H

#include <stddef.h>

/* pp_output_register - record p as a mapping of size bytes. 0 or -ENOMEM
 * (then the caller unmaps it). */
int pp_output_register(void *p, size_t size);

/* pp_output_free - release an output: unmap it if recorded, else free().
 * NULL is ignored. */
void pp_output_free(void *p);

#endif /* PP_CORE_OUTPUT_MAP_H */
