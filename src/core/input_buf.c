/* Input buffers the caller writes into and submits uncopied; see
 * input_buf.h. */
#include "src/core/input_buf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "process_pool.h"
#include "src/core/pool_internal.h"
#include "src/ipc/fd_payload.h"

struct pp_input_buf {
	void *p;     /* the caller's address; PROT_NONE once sealed */
	size_t cap;  /* bytes mapped at p (whole pages) */
	size_t size; /* bytes the caller asked for */
	int fd;	     /* the memfd */
	int claimed; /* a task owns it */
	int sealed;  /* sent as a sealed memfd: never reused */
	struct pp_input_buf *next; /* hash chain, or the cache */
};

#define NBUCKETS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pp_input_buf *buckets[NBUCKETS];
static struct pp_input_buf *cache; /* released, never sent */
static size_t cache_bytes;
/* Buffers live: an ordinary submit skips the lock at 0. */
static _Atomic size_t live;

static struct pp_input_buf **bucket(const void *p)
{
	uintptr_t k = (uintptr_t)p >> 12;

	return &buckets[(k ^ (k >> 6) ^ (k >> 12)) % NBUCKETS];
}

/* Under lock. */
static struct pp_input_buf *find(const void *p)
{
	struct pp_input_buf *b;

	for (b = *bucket(p); b; b = b->next)
		if (b->p == p)
			return b;
	return NULL;
}

/* Under lock. */
static void insert(struct pp_input_buf *b)
{
	struct pp_input_buf **head = bucket(b->p);

	b->next = *head;
	*head = b;
	atomic_fetch_add(&live, 1);
}

/* Under lock. */
static void unlink_buf(struct pp_input_buf *b)
{
	struct pp_input_buf **pp;

	for (pp = bucket(b->p); *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			atomic_fetch_sub(&live, 1);
			return;
		}
}

static void destroy(struct pp_input_buf *b)
{
	munmap(b->p, b->cap);
	close(b->fd);
	free(b);
}

/* Under lock: the smallest cached buffer of cap bytes up to twice that. */
static struct pp_input_buf *from_cache(size_t cap)
{
	struct pp_input_buf **pp, **best = NULL, *b;

	for (pp = &cache; *pp; pp = &(*pp)->next)
		if ((*pp)->cap >= cap && (*pp)->cap / 2 <= cap &&
		    (!best || (*pp)->cap < (*best)->cap))
			best = pp;
	if (!best)
		return NULL;
	b = *best;
	*best = b->next;
	cache_bytes -= b->cap;
	return b;
}

static int make(size_t cap, struct pp_input_buf **out)
{
	struct pp_input_buf *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	b->cap = cap;
	b->fd =
	    memfd_create("processpool-input", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->fd < 0) {
		err = -errno;
		free(b);
		return err;
	}
	if (ftruncate(b->fd, (off_t)cap))
		goto out_close;
	/* Faulted in now, in one go: cheaper than a fault per page as the
	 * caller writes. */
	b->p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, b->fd, 0);
	if (b->p == MAP_FAILED)
		goto out_close;
	/* A fork-mode worker spawned while this is mapped must not inherit
	 * a writable view of someone else's input. */
	if (madvise(b->p, cap, MADV_DONTFORK)) {
		err = -errno;
		munmap(b->p, cap);
		close(b->fd);
		free(b);
		return err;
	}
	*out = b;
	return 0;
out_close:
	err = -errno;
	close(b->fd);
	free(b);
	return err;
}

int pp_input_buf_new(size_t size, void **p)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), cap;
	struct pp_input_buf *b;
	int err;

	*p = NULL;
	if (size == 0 || size > SIZE_MAX - page)
		return -EINVAL;
	cap = (size + page - 1) & ~(page - 1);
	pthread_mutex_lock(&lock);
	b = from_cache(cap);
	pthread_mutex_unlock(&lock);
	if (!b) {
		err = make(cap, &b);
		if (err)
			return err;
	}
	b->size = size;
	b->claimed = 0;
	pthread_mutex_lock(&lock);
	insert(b);
	pthread_mutex_unlock(&lock);
	*p = b->p;
	return 0;
}

/* Keeps b for reuse if it was never sent and the cache has room. */
static void retire(struct pp_input_buf *b)
{
	if (!b->sealed) {
		pthread_mutex_lock(&lock);
		if (cache_bytes + b->cap <= PP_INPUT_BUF_CACHE_BYTES) {
			b->next = cache;
			cache = b;
			cache_bytes += b->cap;
			b = NULL;
		}
		pthread_mutex_unlock(&lock);
	}
	if (b)
		destroy(b);
}

int pp_input_buf_free(void *p)
{
	struct pp_input_buf *b;

	if (!p || !atomic_load(&live))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	b = find(p);
	if (b && !b->claimed)
		unlink_buf(b);
	else
		b = NULL;
	pthread_mutex_unlock(&lock);
	if (!b)
		return -EINVAL;
	retire(b);
	return 0;
}

struct pp_input_buf *pp_input_buf_claim(const void *p, size_t len, int *err)
{
	struct pp_input_buf *b;

	*err = 0;
	if (!p || !atomic_load(&live))
		return NULL;
	pthread_mutex_lock(&lock);
	b = find(p);
	if (b && (b->claimed || len > b->size)) {
		*err = -EINVAL;
		b = NULL;
	} else if (b) {
		b->claimed = 1;
	}
	pthread_mutex_unlock(&lock);
	return b;
}

void pp_input_buf_unclaim(struct pp_input_buf *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&lock);
	b->claimed = 0;
	pthread_mutex_unlock(&lock);
}

int pp_input_buf_seal(struct pp_input_buf *b, size_t len)
{
	void *p;

	if (b->sealed)
		return b->fd;
	if (len == 0 || len > b->cap)
		return -EINVAL;
	/*
	 * The writable mapping goes (F_SEAL_WRITE waits for none to be
	 * left); the address stays reserved, inaccessible, until the task
	 * is released, so no other mapping can take it while the registry
	 * still knows it.
	 */
	p = mmap(b->p, b->cap, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	b->sealed = 1; /* whatever follows, never reused */
	if ((len < b->cap && ftruncate(b->fd, (off_t)len)) ||
	    fcntl(b->fd, F_ADD_SEALS, PP_FD_PAYLOAD_SEALS)) {
		int err = -errno;

		/* Never sent unsealed: the next try fails too. */
		close(b->fd);
		b->fd = -1;
		return err;
	}
	return b->fd;
}

void pp_input_buf_release(struct pp_input_buf *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&lock);
	unlink_buf(b);
	pthread_mutex_unlock(&lock);
	b->claimed = 0;
	retire(b);
}

/* ---- the public calls ------------------------------------------------ */

void *pool_input_alloc(process_pool_t *pool, size_t size)
{
	void *p;
	int err;

	if (!pool || size == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (size > pool->cfg.max_input_size) {
		errno = EMSGSIZE;
		return NULL;
	}
	err = pp_input_buf_new(size, &p);
	if (err) {
		errno = -err;
		return NULL;
	}
	return p;
}

int pool_input_free(void *buf)
{
	if (!buf)
		return 0;
	return pp_input_buf_free(buf) ? POOL_EINVAL : 0;
}
