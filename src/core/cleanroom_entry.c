/*
 * Clean-room workers, worker side: the program's constructor finds
 * PROCESSPOOL_WORKER, reads the setup the parent wrote (the format is in
 * cleanroom.c), closes its fd and becomes a worker (worker_setup.h),
 * never returning to the program. Knows the setup and the protocol, not
 * the pool. A program started as a pool's clean-room zygote goes to
 * zygote_cleanroom.c instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/core/cleanroom.h"
#include "src/core/modules.h"
#include "src/core/protocol.h"
#include "src/core/worker_setup.h"
#include "src/ipc/cursor.h"

static __attribute__((noreturn)) void die_early(const char *msg, size_t len)
{
	ssize_t ignored = write(2, msg, len);

	(void)ignored;
	_exit(PP_EXIT_CLEANROOM);
}

/*
 * The worker's module table: its own startup modules, with every index
 * whose name or code size differs from the parent's made unusable.
 */
static int match_modules(struct pp_cursor *c, struct pp_module_table *out)
{
	const struct pp_module_table *own = pp_modules_startup();
	uint32_t n = pp_cursor_u32(c), i;

	if (!own || c->failed || n > PP_MODULES_MAX)
		return -EINVAL;
	out->count = n < own->count ? n : own->count;
	out->mods = calloc(out->count ? out->count : 1, sizeof(*out->mods));
	if (!out->mods)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint64_t hash = pp_cursor_u64(c), span = pp_cursor_u64(c);
		const struct pp_module *m;

		if (i >= out->count)
			continue;
		m = &own->mods[i];
		out->mods[i] = *m;
		if (m->name_hash != hash || m->hi - m->lo != span)
			out->mods[i].name_hash = 0;
	}
	return c->failed ? -EINVAL : 0;
}

/* A per-slot id: the slot's own, never wrapping past uid -1. */
static int add_index(unsigned *id, uint32_t per_slot, int index)
{
	if (!per_slot)
		return 0;
	if (*id >= 0xffffffffu - (unsigned)index)
		return -EINVAL;
	*id += (unsigned)index;
	return 0;
}

/* The initializer and a copy of its argument, which outlives the
 * setup's mapping (it lives as long as the worker). */
static int parse_init(struct pp_cursor *c, struct pp_worker_setup *s)
{
	uint64_t size;
	const uint8_t *arg;
	void *copy;

	s->init_ref = pp_cursor_u64(c);
	size = pp_cursor_u64(c);
	if (c->failed || size > POOL_WORKER_INIT_ARG_MAX)
		return -EINVAL;
	arg = pp_cursor_bytes(c, (size_t)size);
	if (c->failed)
		return -EINVAL;
	if (!size)
		return 0;
	copy = malloc((size_t)size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, arg, (size_t)size);
	s->init_arg = copy;
	s->init_arg_size = (size_t)size;
	return 0;
}

static int parse_setup(struct pp_cursor *c, int index,
		       struct pp_worker_setup *s, struct pp_module_table *mods)
{
	uint32_t n, i, count, flags;
	const uint8_t *insns;
	int err;

	if (pp_cursor_u32(c) != PP_CLEANROOM_SETUP_MAGIC ||
	    pp_cursor_u32(c) != PP_CLEANROOM_SETUP_VERSION)
		return -EINVAL;
	s->index = index;
	s->max_output = (size_t)pp_cursor_u64(c);
	s->sandbox_off = (int)pp_cursor_u32(c);
	s->seccomp_errno = (int)pp_cursor_u32(c);
	s->rlimit_as = (unsigned long)pp_cursor_u64(c);
	s->rlimit_nofile = (unsigned long)pp_cursor_u64(c);
	s->rlimit_cpu_s = (unsigned long)pp_cursor_u64(c);
	s->rlimit_nproc = (unsigned long)pp_cursor_u64(c);
	s->uid = pp_cursor_u32(c);
	s->gid = pp_cursor_u32(c);
	flags = pp_cursor_u32(c);
	if (add_index(&s->uid, flags & PP_CLEANROOM_UID_PER_SLOT, index) ||
	    add_index(&s->gid, flags & PP_CLEANROOM_GID_PER_SLOT, index))
		return -EINVAL;
	s->keep_caps = pp_cursor_u64(c);
	s->cpu = s->node = -1;
	n = pp_cursor_u32(c);
	for (i = 0; i < n && !c->failed; i++) {
		uint32_t cpu = pp_cursor_u32(c), node = pp_cursor_u32(c);

		if (i != (uint32_t)index % n)
			continue;
		s->cpu = (int)cpu;
		s->node = (int)node - 1;
	}
	count = pp_cursor_u32(c);
	insns = pp_cursor_bytes(c, (size_t)count * PP_CLEANROOM_BPF_INSN_SIZE);
	s->seccomp.learn = (int)pp_cursor_u32(c);
	s->seccomp.pid_bound = pp_cursor_u32(c);
	s->seccomp.pid_bound_nr[0] = (int)pp_cursor_u32(c);
	s->seccomp.pid_bound_nr[1] = (int)pp_cursor_u32(c);
	if (c->failed || s->seccomp.pid_bound > 2)
		return -EINVAL;
	if (count) {
		s->seccomp.insns =
		    malloc((size_t)count * PP_CLEANROOM_BPF_INSN_SIZE);
		if (!s->seccomp.insns)
			return -ENOMEM;
		memcpy(s->seccomp.insns, insns,
		       (size_t)count * PP_CLEANROOM_BPF_INSN_SIZE);
		s->seccomp.count = count;
	}
	if (match_modules(c, mods))
		return -EINVAL;
	s->modules = mods;
	err = parse_init(c, s);
	if (err)
		return err;
	s->task_usage = (int)pp_cursor_u32(c);
	return c->failed || s->task_usage > 1 ? -EINVAL : 0;
}

static int read_setup(int fd, int index, struct pp_worker_setup *s,
		      struct pp_module_table *mods)
{
	struct pp_cursor c;
	struct stat st;
	void *p;
	int err;

	if (fstat(fd, &st) || st.st_size <= 0)
		return -EINVAL;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	pp_cursor_init(&c, p, (size_t)st.st_size);
	err = parse_setup(&c, index, s, mods);
	munmap(p, (size_t)st.st_size);
	return err;
}

void pp_cleanroom_worker_enter(int setup_fd, int index, int mem, int ev,
			       int sock)
{
	static struct pp_module_table mods;
	static const char bad[] = "processpool: bad clean-room worker setup\n";
	struct pp_worker_setup s;

	memset(&s, 0, sizeof(s));
	if (index < 0 || read_setup(setup_fd, index, &s, &mods))
		die_early(bad, sizeof(bad) - 1);
	close(setup_fd);
	pp_worker_enter(&s, mem, ev, sock);
}

/* A clean-room worker: set up from the inherited fds, then the loop. */
static __attribute__((noreturn)) void become_worker(const char *var)
{
	static const char bad[] = "processpool: bad clean-room worker setup\n";
	int mem, ev, setup, sock, index;

	if (sscanf(var, "%d,%d,%d,%d,%d", &mem, &ev, &setup, &sock, &index) !=
	    5)
		die_early(bad, sizeof(bad) - 1);
	unsetenv(PP_CLEANROOM_ENV); /* nothing the task starts sees it */
	pp_cleanroom_worker_enter(setup, index, mem, ev, sock);
}

/* After the module table (priority 101), before any of main's own
 * constructors. A program started by a pool as a clean-room worker never
 * returns from here; any other program only records its loader
 * environment. */
__attribute__((constructor(102))) static void cleanroom_entry(void)
{
	const char *var = getenv(PP_CLEANROOM_ENV);

	if (var)
		become_worker(var);
	var = getenv(PP_CLEANROOM_ZYGOTE_ENV);
	if (var)
		pp_cleanroom_zygote_main(var);
	pp_cleanroom_capture_environment();
}
