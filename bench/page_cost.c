/*
 * page_cost - where the time of a large payload goes on this machine:
 * one memcpy against the page work each way of moving the same bytes
 * (fresh pages, fresh mappings, kernel copies into a memfd). Medians of
 * 11 runs of each, one process, no pool.
 *
 *   bazel run --config=bench //bench:page_cost -- [MiB]   (default 16)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RUNS 11
#define HUGE ((size_t)2 << 20)

static size_t len;
static unsigned char *src, *dst;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("page-cost", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		perror("page_cost: memfd");
		exit(1);
	}
	return fd;
}

static void *map(int fd, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	if (p == MAP_FAILED) {
		perror("page_cost: mmap");
		exit(1);
	}
	return p;
}

static void write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0) {
			perror("page_cost: write");
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Each case does its work once; setup outside the timed part goes in
 * before(). */
static int fd_ready = -1;

static void c_memcpy(void)
{
	memcpy(dst, src, len);
}

static void c_anon_4k(void)
{
	unsigned char *p =
	    map(-1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	memcpy(p, src, len);
	munmap(p, len);
}

static void c_anon_thp(void)
{
	size_t n = len + HUGE;
	unsigned char *b = mmap(NULL, n, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		      *p;

	if (b == MAP_FAILED)
		exit(1);
	p = (unsigned char *)(((uintptr_t)b + HUGE - 1) &
			      ~(uintptr_t)(HUGE - 1));
	madvise(p, len, MADV_HUGEPAGE);
	memcpy(p, src, len);
	munmap(b, n);
}

static void c_memfd_write(void)
{
	int fd = memfd_create("page-cost", MFD_CLOEXEC);

	write_all(fd, src, len);
	close(fd);
}

static void c_memfd_rw_map(void)
{
	int fd = memfd_of(len);
	unsigned char *p =
	    map(fd, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE);

	memcpy(p, src, len);
	munmap(p, len);
	close(fd);
}

static void c_ro_populate(void)
{
	unsigned char *p = map(fd_ready, PROT_READ, MAP_SHARED | MAP_POPULATE);

	munmap(p, len);
}

static void c_ro_read(void)
{
	unsigned char *p = map(fd_ready, PROT_READ, MAP_SHARED | MAP_POPULATE);

	memcpy(dst, p, len);
	munmap(p, len);
}

static void c_rw_existing(void)
{
	unsigned char *p =
	    map(fd_ready, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE);

	memcpy(p, src, len);
	munmap(p, len);
}

/* Fresh huge pages of len bytes; *base, *n for munmap. */
static unsigned char *huge_pages(unsigned char **base, size_t *n)
{
	*n = len + HUGE;
	*base = mmap(NULL, *n, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*base == MAP_FAILED)
		exit(1);
	unsigned char *p = (unsigned char *)(((uintptr_t)*base + HUGE - 1) &
					     ~(uintptr_t)(HUGE - 1));
	madvise(p, len, MADV_HUGEPAGE);
	return p;
}

static void c_pread_huge(void)
{
	unsigned char *b, *p;
	size_t n, done = 0;

	p = huge_pages(&b, &n);
	while (done < len) {
		ssize_t r = pread(fd_ready, p + done, len - done, (off_t)done);

		if (r <= 0)
			exit(1);
		done += (size_t)r;
	}
	munmap(b, n);
}

static void c_ro_read_huge(void)
{
	unsigned char *b, *d;
	size_t n;
	unsigned char *p = map(fd_ready, PROT_READ, MAP_SHARED | MAP_POPULATE);

	d = huge_pages(&b, &n);
	memcpy(d, p, len);
	munmap(p, len);
	munmap(b, n);
}

static void c_mapped(void)
{
	static unsigned char *p;

	if (!p) {
		p = map(fd_ready, PROT_READ | PROT_WRITE, MAP_SHARED);
		memcpy(p, src, len);
	}
	memcpy(p, src, len);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
    {"memcpy into reused memory", c_memcpy},
    {"fresh anonymous 4 KiB pages + memcpy", c_anon_4k},
    {"fresh anonymous huge pages + memcpy", c_anon_thp},
    {"new memfd, write() (kernel copy)", c_memfd_write},
    {"new memfd, RW MAP_POPULATE + memcpy", c_memfd_rw_map},
    {"filled memfd: RO MAP_POPULATE + munmap", c_ro_populate},
    {"filled memfd: RO MAP_POPULATE + memcpy out", c_ro_read},
    {"filled memfd: RW MAP_POPULATE + memcpy in", c_rw_existing},
    {"filled memfd, mapped already: memcpy in", c_mapped},
    {"filled memfd: pread() into fresh huge pages", c_pread_huge},
    {"filled memfd: RO map + memcpy to huge pages", c_ro_read_huge},
};

int main(int argc, char **argv)
{
	size_t i, r;
	double t[RUNS], base = 0;

	len = (size_t)(argc > 1 ? atoi(argv[1]) : 16) << 20;
	src = malloc(len);
	dst = malloc(len);
	if (!len || !src || !dst)
		return 1;
	memset(src, 1, len);
	memset(dst, 2, len);
	fd_ready = memfd_of(len);
	write_all(fd_ready, src, len);
	printf("%zu MiB, median of %d runs\n", len >> 20, RUNS);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (r = 0; r < RUNS; r++) {
			double t0 = now_s();

			cases[i].run();
			t[r] = now_s() - t0;
		}
		qsort(t, RUNS, sizeof(t[0]), cmp);
		if (i == 0)
			base = t[RUNS / 2];
		printf("%-44s %9.1f us %7.2f GB/s %6.1f x memcpy\n",
		       cases[i].name, t[RUNS / 2] * 1e6,
		       (double)len / t[RUNS / 2] / 1e9, t[RUNS / 2] / base);
	}
	return 0;
}
