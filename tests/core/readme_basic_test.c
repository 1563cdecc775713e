/* README:begin */
#include <stdio.h>
#include <stdlib.h>

#include <process_pool.h>

/* Runs in a worker process: squares a long. */
static int square(void *input, size_t input_size, void **output,
		  size_t *output_size, void *user_data)
{
	long *result = malloc(sizeof(*result));

	(void)user_data;
	if (input_size != sizeof(long) || !result) {
		free(result);
		return 1; /* TASK_STATUS_FAILED, return_code 1 */
	}
	*result = *(long *)input * *(long *)input;
	*output = result; /* the worker frees it once copied */
	*output_size = sizeof(*result);
	return 0;
}

int main(void)
{
	pool_config_t config = {
	    .worker_count = 2,
	    .max_workers = 4,
	    .queue_size = 1024,
	    .task_timeout = 10000, /* ms; 0: no deadline */
	    .enable_dynamic_scaling = true,
	    .pool_name = "example",
	};
	process_pool_t *pool = pool_create(&config);
	task_result_t result;
	long n = 12;
	int ok;

	if (!pool || pool_start(pool) != 0) {
		fprintf(stderr, "could not start the pool\n");
		pool_destroy(pool);
		return 1;
	}
	if (pool_submit_sync(pool, square, &n, sizeof(n), NULL,
			     TASK_PRIORITY_NORMAL, 0, &result) != 0) {
		pool_destroy(pool);
		return 1;
	}
	ok = result.status == TASK_STATUS_COMPLETED &&
	     result.output_size == sizeof(long);
	if (ok)
		printf("%ld squared is %ld\n", n, *(long *)result.output_data);
	else
		printf("task ended %s: %s\n",
		       pool_task_status_str(result.status), result.detail);
	pool_result_free(&result);
	pool_destroy(pool);
	return ok ? 0 : 1;
}
/* README:end */
