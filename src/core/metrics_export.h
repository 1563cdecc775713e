/*
 * Metrics exports (pool_metrics_write): a snapshot of the pool gathered
 * through the public readers, rendered as Prometheus text exposition
 * (0.0.4) or as JSON (docs/metrics.schema.json) into a growing buffer,
 * then written out in one go.
 */
#ifndef PP_CORE_METRICS_EXPORT_H
#define PP_CORE_METRICS_EXPORT_H

#include <stddef.h>

#include "process_pool.h"

/*
 * pp_metrics_render - the pool's metrics in format into a malloc'd,
 * NUL-terminated buffer (*out, *len without the NUL). Returns 0,
 * POOL_EINVAL (unknown format) or POOL_ENOMEM.
 */
int pp_metrics_render(process_pool_t *pool, int format, char **out,
		      size_t *len);

#endif /* PP_CORE_METRICS_EXPORT_H */
