/*
 * A worker initializer and the calls for many futures.
 *
 * Each worker loads a text file (argv[1], else /etc/passwd) into memory
 * once, before its sandbox closes (a task cannot open files under the
 * default profile); tasks then count the lines that contain a word. The
 * program shows:
 *   - pool_wait_set_fd in a poll() loop: results as they end;
 *   - pool_wait_any: the first of several searches to end wins, and the
 *     rest are cancelled;
 *   - a completion callback on every future, counting outcomes on the
 *     thread that ends each task;
 *   - pool_future_task_id, and pool_health after all of it.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <process_pool.h>

struct text {
	char *bytes;
	size_t size;
};

/* Before confinement: read the whole file into the worker's memory. */
static int load_text(const void *path, size_t path_size, void **state)
{
	struct text *t = calloc(1, sizeof(*t));
	struct stat st;
	ssize_t n;
	int fd;

	(void)path_size;
	if (!t)
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_size <= 0)
		return 2;
	t->bytes = malloc((size_t)st.st_size + 1);
	if (!t->bytes)
		return 3;
	n = read(fd, t->bytes, (size_t)st.st_size);
	close(fd);
	if (n < 0)
		return 4;
	t->size = (size_t)n;
	t->bytes[t->size] = '\0';
	*state = t;
	return 0;
}

/* A task: how many lines of the text contain the input word. */
static int count_lines(void *input, size_t input_size, void **output,
		       size_t *output_size, void *user_data)
{
	const struct text *t = pool_worker_state();
	char word[64], *line, *end;
	long *count = malloc(sizeof(*count));

	(void)user_data;
	if (!t || !count || input_size == 0 || input_size >= sizeof(word)) {
		free(count);
		return 1;
	}
	memcpy(word, input, input_size);
	word[input_size] = '\0';
	*count = 0;
	for (line = t->bytes; line < t->bytes + t->size; line = end + 1) {
		end = strchr(line, '\n');
		if (!end)
			end = t->bytes + t->size;
		*end = '\0';
		*count += strstr(line, word) != NULL;
		*end = '\n';
	}
	*output = count;
	*output_size = sizeof(*count);
	return 0;
}

static atomic_int outcomes[TASK_STATUS_COUNT];

static void count_outcome(task_future_t *future, void *arg)
{
	int status = pool_future_status(future);

	(void)arg;
	/* The status alone: the output stays for the main thread. */
	if (status > TASK_STATUS_PENDING && status < TASK_STATUS_COUNT)
		atomic_fetch_add(&outcomes[status], 1);
}

static task_future_t *search(process_pool_t *pool, const char *word)
{
	task_future_t *f =
	    pool_submit_async(pool, count_lines, (void *)word, strlen(word),
			      NULL, TASK_PRIORITY_NORMAL, 0);

	if (f)
		pool_future_on_done(f, count_outcome, NULL);
	return f;
}

static const char *const words[] = {"root", "bin", "nologin", "daemon",
				    "sh",   "x",   "sys",     "mail"};
#define NWORDS (sizeof(words) / sizeof(*words))

/* Every search through one wait set, its fd in a poll loop. */
static int as_they_end(task_future_t **fs)
{
	pool_wait_set_t *set = pool_wait_set_create();
	size_t i;

	if (!set)
		return 1;
	for (i = 0; i < NWORDS; i++)
		if (!fs[i] || pool_wait_set_add(set, fs[i]))
			return 1;
	while (pool_wait_set_count(set) > 0) {
		struct pollfd p = {pool_wait_set_fd(set), POLLIN, 0};
		task_future_t *f;

		if (poll(&p, 1, 10000) <= 0)
			break;
		while (pool_wait_set_next(set, 0, &f) == 0)
			printf("  task %llu ended\n",
			       (unsigned long long)pool_future_task_id(f));
	}
	pool_wait_set_destroy(set);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/etc/passwd";
	pool_config_t cfg = {
	    .worker_count = 2,
	    .worker_init = load_text,
	    .worker_init_arg = path,
	    .worker_init_arg_size = strlen(path) + 1,
	    .pool_name = "many",
	};
	process_pool_t *pool = pool_create(&cfg);
	task_future_t *fs[NWORDS], *race[3];
	pool_health_t h;
	size_t i, first;

	if (!pool || pool_start(pool) != 0) {
		fprintf(stderr, "could not start the pool\n");
		pool_destroy(pool);
		return 1;
	}
	printf("searching %s as the tasks end:\n", path);
	for (i = 0; i < NWORDS; i++)
		fs[i] = search(pool, words[i]);
	if (as_they_end(fs))
		return 1;
	for (i = 0; i < NWORDS; i++) {
		task_result_t r;

		if (pool_future_wait(fs[i], &r, -1) == 0 && r.output_data)
			printf("  %-8s %ld lines\n", words[i],
			       *(long *)r.output_data);
		pool_result_free(&r);
		pool_future_destroy(fs[i]);
	}

	/* Three searches; the first to end wins, the others go. */
	for (i = 0; i < 3; i++)
		race[i] = search(pool, words[i]);
	if (!race[0] || !race[1] || !race[2] ||
	    pool_wait_any(race, 3, -1, &first))
		return 1;
	for (i = 0; i < 3; i++)
		if (i != first)
			pool_future_cancel(race[i]); /* POOL_ESTATE: it ended */
	pool_wait_all(race, 3, -1);
	printf("first to end: \"%s\"\n", words[first]);
	for (i = 0; i < 3; i++)
		pool_future_destroy(race[i]);

	pool_health(pool, &h);
	pool_destroy(pool); /* every callback has run by now */
	printf("callbacks: %d completed, %d cancelled; health was %s\n",
	       atomic_load(&outcomes[TASK_STATUS_COMPLETED]),
	       atomic_load(&outcomes[TASK_STATUS_CANCELLED]),
	       h.state == POOL_HEALTH_READY ? "ready" : "not ready");
	return 0;
}
