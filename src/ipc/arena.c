/* First-fit granule allocator with private bookkeeping; see arena.h. */
#include "src/ipc/arena.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

bool pp_range_ok(uint64_t offset, uint64_t length, uint64_t size)
{
	return offset <= size && length <= size - offset;
}

int pp_arena_init(struct pp_arena *a, void *base, size_t size, size_t granule)
{
	size_t words;
	void *p;

	if (!a || !base || granule < 64 || (granule & (granule - 1)))
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	size &= ~(granule - 1);
	if (size == 0 || size / granule > UINT32_MAX)
		return -EINVAL;
	a->base = base;
	a->size = size;
	a->granule = granule;
	a->granules = size / granule;
	/* Both in one anonymous mapping, zero until touched: a 64 MiB
	 * arena has 64 KiB of run lengths, of which a worker that carries
	 * small payloads touches one page (calloc would clear them all, in
	 * a forked worker through copy-on-write faults). */
	words = (a->granules + 63) / 64;
	a->book_size = words * sizeof(*a->bitmap) +
		       a->granules * sizeof(*a->run);
	p = mmap(NULL, a->book_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		memset(a, 0, sizeof(*a));
		return -ENOMEM;
	}
	a->bitmap = p;
	a->run = (uint32_t *)(a->bitmap + words);
	return 0;
}

void pp_arena_destroy(struct pp_arena *a)
{
	if (!a)
		return;
	if (a->bitmap)
		munmap(a->bitmap, a->book_size);
	a->bitmap = NULL;
	a->run = NULL;
	a->book_size = 0;
	a->used = 0;
}

static bool bit(const struct pp_arena *a, size_t i)
{
	return (a->bitmap[i / 64] >> (i % 64)) & 1;
}

static void set_bits(struct pp_arena *a, size_t start, size_t n, bool on)
{
	size_t i;

	for (i = start; i < start + n; i++) {
		if (on)
			a->bitmap[i / 64] |= UINT64_C(1) << (i % 64);
		else
			a->bitmap[i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
}

/* Length of the free run starting at i, capped at want. */
static size_t free_run(const struct pp_arena *a, size_t i, size_t want)
{
	size_t n = 0;

	while (n < want && i + n < a->granules && !bit(a, i + n)) {
		if ((i + n) % 64 == 0 && a->bitmap[(i + n) / 64] == 0 &&
		    want - n >= 64 && i + n + 64 <= a->granules) {
			n += 64;
			continue;
		}
		n++;
	}
	return n;
}

/* First fit in [from, to); returns the start granule or SIZE_MAX. */
static size_t search(const struct pp_arena *a, size_t from, size_t to,
		     size_t want)
{
	size_t i = from, run;

	while (i + want <= to) {
		if (a->bitmap[i / 64] == UINT64_MAX && i % 64 == 0) {
			i += 64;
			continue;
		}
		if (bit(a, i)) {
			i += a->run[i] ? a->run[i] : 1;
			continue;
		}
		run = free_run(a, i, want);
		if (run >= want)
			return i;
		i += run;
	}
	return SIZE_MAX;
}

int pp_arena_alloc(struct pp_arena *a, size_t len, uint64_t *offset)
{
	size_t want, start;

	if (!a || !a->bitmap || !offset || len == 0)
		return -EINVAL;
	if (len > a->size)
		return -ENOSPC;
	want = (len + a->granule - 1) / a->granule;
	if (want > a->granules - a->used)
		return -ENOSPC;
	/* First fit from the lowest free granule: the same few pages are
	 * reused, so an arena used for small payloads stays small in RSS. */
	start = search(a, a->hint, a->granules, want);
	if (start == SIZE_MAX)
		return -ENOSPC;
	set_bits(a, start, want, true);
	a->run[start] = (uint32_t)want;
	a->used += want;
	if (start == a->hint)
		a->hint = start + want;
	*offset = (uint64_t)start * a->granule;
	return 0;
}

int pp_arena_free(struct pp_arena *a, uint64_t offset)
{
	size_t start, n;

	if (!a || !a->bitmap || offset % a->granule || offset >= a->size)
		return -EINVAL;
	start = (size_t)(offset / a->granule);
	n = a->run[start];
	if (n == 0 || !bit(a, start))
		return -EINVAL;
	set_bits(a, start, n, false);
	a->run[start] = 0;
	a->used -= n;
	if (start < a->hint)
		a->hint = start;
	return 0;
}

size_t pp_arena_used(const struct pp_arena *a)
{
	return a ? a->used * a->granule : 0;
}
