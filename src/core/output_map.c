/* Outputs that are mappings, not heap blocks; see output_map.h. */
#include "src/core/output_map.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

struct mapped {
	void *p;
	size_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapped *maps;
static size_t nmaps, cap;
/* How many are live: a free() of a heap output skips the lock at 0. */
static _Atomic size_t live;

int pp_output_register(void *p, size_t size)
{
	int err = 0;

	pthread_mutex_lock(&lock);
	if (nmaps == cap) {
		size_t ncap = cap ? 2 * cap : 16;
		struct mapped *m = realloc(maps, ncap * sizeof(*m));

		if (!m)
			err = -ENOMEM;
		else {
			maps = m;
			cap = ncap;
		}
	}
	if (!err) {
		maps[nmaps].p = p;
		maps[nmaps].size = size;
		nmaps++;
		atomic_fetch_add(&live, 1);
	}
	pthread_mutex_unlock(&lock);
	return err;
}

void pp_output_free(void *p)
{
	size_t i, size = 0;
	int found = 0;

	if (!p)
		return;
	if (atomic_load(&live)) {
		pthread_mutex_lock(&lock);
		for (i = 0; i < nmaps; i++)
			if (maps[i].p == p) {
				size = maps[i].size;
				maps[i] = maps[--nmaps];
				atomic_fetch_sub(&live, 1);
				found = 1;
				break;
			}
		pthread_mutex_unlock(&lock);
	}
	if (found)
		munmap(p, size);
	else
		free(p);
}
