/* README:begin */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <process_pool.h>

/* Once in each new worker, before its sandbox: open what tasks need. */
static int open_file(const void *path, size_t path_size, void **state)
{
	int *fd = malloc(sizeof(*fd));

	(void)path_size;
	if (!fd)
		return 1;
	*fd = open(path, O_RDONLY | O_CLOEXEC); /* tasks cannot open() */
	*state = fd;
	return *fd < 0 ? 2 : 0; /* non-zero: this worker does not start */
}

/* A task: the file's size plus its input, through the initializer's fd. */
static int size_plus(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	int *fd = pool_worker_state();
	long *result = malloc(sizeof(*result));

	(void)user_data;
	if (!fd || !result || input_size != sizeof(long)) {
		free(result);
		return 1;
	}
	*result = (long)lseek(*fd, 0, SEEK_END) + *(long *)input;
	*output = result;
	*output_size = sizeof(*result);
	return 0;
}

static atomic_int ended;

/* On the thread that ends the task: short, never blocking. */
static void on_done(task_future_t *future, void *arg)
{
	(void)future;
	(void)arg;
	atomic_fetch_add(&ended, 1);
}

int main(void)
{
	static const char path[] = "/etc/passwd";
	pool_config_t config = {
	    .worker_count = 2,
	    .worker_init = open_file,
	    .worker_init_arg = path,
	    .worker_init_arg_size = sizeof(path),
	};
	process_pool_t *pool = pool_create(&config);
	pool_wait_set_t *set = pool_wait_set_create();
	task_future_t *futures[8], *next;
	long i;
	int failed = 0;

	if (!pool || !set || pool_start(pool) != 0)
		return 1;
	for (i = 0; i < 8; i++) {
		futures[i] = pool_submit_async(pool, size_plus, &i, sizeof(i),
					       NULL, TASK_PRIORITY_NORMAL, 0);
		if (!futures[i] ||
		    pool_future_on_done(futures[i], on_done, NULL) ||
		    pool_wait_set_add(set, futures[i]))
			return 1;
	}
	/* As they end, in whatever order. */
	while (pool_wait_set_next(set, -1, &next) == 0) {
		task_result_t r;

		pool_future_wait(next, &r, 0);
		printf("task %llu: %s\n",
		       (unsigned long long)pool_future_task_id(next),
		       pool_task_status_str(r.status));
		failed |= r.status != TASK_STATUS_COMPLETED;
		pool_result_free(&r);
	}
	pool_wait_all(futures, 8, -1);
	for (i = 0; i < 8; i++)
		pool_future_destroy(futures[i]);
	pool_wait_set_destroy(set);
	pool_destroy(pool);
	printf("%d callbacks ran\n", atomic_load(&ended));
	return failed;
}
/* README:end */
