/* Clean-room workers, parent side: the setup memfd, the exec; see
 * cleanroom.h. The worker side is cleanroom_entry.c. */
#include "src/core/cleanroom.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/core/pool_internal.h"
#include "src/ipc/cursor.h"

extern char **environ;

/*
 * The worker setup, as the parent writes it and cleanroom_entry.c reads
 * it (little-endian, see cursor.h):
 *   u32 magic, u32 version
 *   u64 max_output
 *   u32 sandbox_off, u32 seccomp_errno
 *   u64 rlimit_as, rlimit_nofile, rlimit_cpu_s, rlimit_nproc
 *   u32 uid, u32 gid (slot 0's), u32 id flags (PP_CLEANROOM_*_PER_SLOT:
 *     add the slot index), u64 keep_caps
 *   u32 n_cpus, then n_cpus x (u32 cpu, u32 node + 1; 0: none)
 *   u32 n_insns, then n_insns x 8 bytes of BPF
 *   u32 learn, u32 pid_bound, u32 pid_bound_nr[2] (seccomp_policy.h)
 *   u32 n_modules, then n_modules x (u64 name hash, u64 code span)
 *   u64 initializer reference (0: none), u64 arg size, arg bytes
 *   u32 task_usage
 * The worker picks CPU index % n_cpus, as a forked worker does.
 */
static size_t setup_size(const struct process_pool *pool,
			 const struct pp_module_table *mods)
{
	return 8 + 8 + 8 + 32 + 12 + 8 + 4 + (size_t)pool->n_cpus * 8 + 4 +
	       pool->seccomp.count * PP_CLEANROOM_BPF_INSN_SIZE + 16 + 4 +
	       (size_t)mods->count * 16 + 16 + pool->init.arg_size + 4;
}

static void write_setup(const struct process_pool *pool,
			const struct pp_module_table *mods, struct pp_writer *w)
{
	unsigned uid, gid;
	uint32_t i, flags = 0;

	pp_writer_u32(w, PP_CLEANROOM_SETUP_MAGIC);
	pp_writer_u32(w, PP_CLEANROOM_SETUP_VERSION);
	pp_writer_u64(w, pool->cfg.max_output_size);
	pp_writer_u32(w, (uint32_t)pool->cfg.sandbox_off);
	pp_writer_u32(w, (uint32_t)pool->cfg.seccomp_errno);
	pp_writer_u64(w, pool->cfg.rlimit_as);
	pp_writer_u64(w, pool->cfg.rlimit_nofile);
	pp_writer_u64(w, pool->cfg.rlimit_cpu_s);
	pp_writer_u64(w, pool->cfg.rlimit_nproc);
	/* Per-slot ids: slot 0's here, each worker adds its index. */
	pp_worker_ids(pool, 0, &uid, &gid);
	if (pool->cfg.worker_uid_count)
		flags = PP_CLEANROOM_UID_PER_SLOT |
			(pool->cfg.worker_gid ? 0 : PP_CLEANROOM_GID_PER_SLOT);
	pp_writer_u32(w, uid);
	pp_writer_u32(w, gid);
	pp_writer_u32(w, flags);
	pp_writer_u64(w, pool->keep_caps);
	pp_writer_u32(w, (uint32_t)pool->n_cpus);
	for (i = 0; i < (uint32_t)pool->n_cpus; i++) {
		pp_writer_u32(w, (uint32_t)pool->cpus[i]);
		pp_writer_u32(w, (uint32_t)(pool->nodes[i] + 1));
	}
	pp_writer_u32(w, (uint32_t)pool->seccomp.count);
	pp_writer_bytes(w, pool->seccomp.insns,
			pool->seccomp.count * PP_CLEANROOM_BPF_INSN_SIZE);
	pp_writer_u32(w, (uint32_t)pool->seccomp.learn);
	pp_writer_u32(w, pool->seccomp.pid_bound);
	pp_writer_u32(w, (uint32_t)pool->seccomp.pid_bound_nr[0]);
	pp_writer_u32(w, (uint32_t)pool->seccomp.pid_bound_nr[1]);
	pp_writer_u32(w, mods->count);
	for (i = 0; i < mods->count; i++) {
		pp_writer_u64(w, mods->mods[i].name_hash);
		pp_writer_u64(w, mods->mods[i].hi - mods->mods[i].lo);
	}
	pp_writer_u64(w, pool->init.ref);
	pp_writer_u64(w, pool->init.arg_size);
	pp_writer_bytes(w, pool->init.arg, pool->init.arg_size);
	pp_writer_u32(w, (uint32_t)pool->cfg.task_usage);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* A sealed memfd holding the setup: no worker can change it for the next. */
static int make_setup_fd(const struct process_pool *pool,
			 const struct pp_module_table *mods)
{
	size_t size = setup_size(pool, mods);
	struct pp_writer w;
	uint8_t *buf = malloc(size);
	int fd, err;

	if (!buf)
		return -ENOMEM;
	pp_writer_init(&w, buf, size);
	write_setup(pool, mods, &w);
	fd = memfd_create("processpool-setup", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || w.failed) {
		err = fd < 0 ? -errno : -EINVAL;
		goto out_free;
	}
	err = write_all(fd, buf, w.pos);
	if (!err &&
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL))
		err = -errno;
	if (err)
		close(fd);
out_free:
	free(buf);
	return err ? err : fd;
}

int pp_cleanroom_prepare(struct process_pool *pool)
{
	const struct pp_module_table *mods = pp_modules_startup();
	struct pp_cleanroom *cr = &pool->cleanroom;
	int exe, setup;

	if (cr->ready)
		return 0;
	if (!mods)
		return -ENOMEM;
	exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (exe < 0)
		return -errno;
	setup = make_setup_fd(pool, mods);
	if (setup < 0) {
		close(exe);
		return setup;
	}
	cr->exe_fd = exe;
	cr->setup_fd = setup;
	cr->ready = 1;
	return 0;
}

void pp_cleanroom_release(struct pp_cleanroom *cr)
{
	if (!cr->ready)
		return;
	close(cr->exe_fd);
	close(cr->setup_fd);
	cr->ready = 0;
}

/* The loader's and sanitizers' variables at startup: a fresh exec needs
 * them to load the same modules (and to run under the same sanitizer). */
static const char *const inherit_names[] = {
    "LD_LIBRARY_PATH=", "LD_PRELOAD=",	 "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
    "LSAN_OPTIONS=",	"TSAN_OPTIONS=", "MSAN_OPTIONS=",
};
static char *inherited[PP_CLEANROOM_ENV_MAX];
static int n_inherited;

void pp_cleanroom_capture_environment(void)
{
	size_t i, k;

	for (i = 0; environ && environ[i]; i++)
		for (k = 0; k < sizeof(inherit_names) / sizeof(*inherit_names);
		     k++) {
			const char *name = inherit_names[k];

			if (strncmp(environ[i], name, strlen(name)) ||
			    n_inherited == PP_CLEANROOM_ENV_MAX)
				continue;
			inherited[n_inherited] = strdup(environ[i]);
			if (inherited[n_inherited])
				n_inherited++;
		}
}

static void fill_exec(struct pp_cleanroom_exec *ex, const char *argv0)
{
	int i;

	ex->argv[0] = (char *)(uintptr_t)argv0;
	ex->argv[1] = NULL;
	ex->envp[0] = ex->worker_var;
	for (i = 0; i < n_inherited; i++)
		ex->envp[i + 1] = inherited[i];
	ex->envp[n_inherited + 1] = NULL;
}

void pp_cleanroom_exec_prepare(const struct pp_worker *w,
			       struct pp_cleanroom_exec *ex)
{
	snprintf(ex->worker_var, sizeof(ex->worker_var), "%s=%d,%d,%d,%d,%d",
		 PP_CLEANROOM_ENV, PP_CLEANROOM_FD_MEM, PP_CLEANROOM_FD_EVENT,
		 PP_CLEANROOM_FD_SETUP, PP_CLEANROOM_FD_SOCK, w->index);
	fill_exec(ex, "processpool-worker");
}

void pp_cleanroom_zygote_exec_prepare(const struct process_pool *pool,
				      struct pp_cleanroom_exec *ex)
{
	snprintf(ex->worker_var, sizeof(ex->worker_var), "%s=%d,%d,%d,%d",
		 PP_CLEANROOM_ZYGOTE_ENV, PP_CLEANROOM_FD_ZYGOTE,
		 PP_CLEANROOM_FD_SETUP, pool->cfg.worker_stdio,
		 pool->cfg.sandbox_off);
	fill_exec(ex, "processpool-zygote");
}

static __attribute__((noreturn)) void die_early(const char *msg, size_t len)
{
	ssize_t ignored = write(2, msg, len);

	(void)ignored;
	_exit(PP_EXIT_CLEANROOM);
}

/*
 * Moves each src[i] to dst[i] (inherited by the exec), closes every other
 * fd above 2 and execs the program. Async-signal-safe only: the parent
 * has other threads.
 */
static __attribute__((noreturn)) void exec_with(const struct pp_cleanroom *cr,
						const int *src, const int *dst,
						int n,
						struct pp_cleanroom_exec *ex)
{
	static const char failed[] = "processpool: clean-room exec failed\n";
	int moved[8], x, i, fd;
	sigset_t none;

	/* Above the fixed numbers first, so no dup2 overwrites a source. */
	for (i = 0; i < n; i++) {
		moved[i] = fcntl(src[i], F_DUPFD, PP_CLEANROOM_FD_EXE + 1);
		if (moved[i] < 0)
			die_early(failed, sizeof(failed) - 1);
	}
	x = fcntl(cr->exe_fd, F_DUPFD_CLOEXEC, PP_CLEANROOM_FD_EXE + 1);
	if (x < 0)
		die_early(failed, sizeof(failed) - 1);
	/* dup2 leaves the new fds without O_CLOEXEC: they survive exec. */
	for (i = 0; i < n; i++)
		if (dup2(moved[i], dst[i]) < 0)
			die_early(failed, sizeof(failed) - 1);
	if (dup3(x, PP_CLEANROOM_FD_EXE, O_CLOEXEC) < 0)
		die_early(failed, sizeof(failed) - 1);
	/* Below the program's fd, only the ones named survive. */
	for (fd = 3; fd < PP_CLEANROOM_FD_EXE; fd++) {
		for (i = 0; i < n && dst[i] != fd; i++)
			;
		if (i == n)
			close(fd);
	}
	syscall(SYS_close_range, (unsigned)PP_CLEANROOM_FD_EXE + 1, ~0u, 0u);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	syscall(SYS_execveat, PP_CLEANROOM_FD_EXE, "", ex->argv, ex->envp,
		AT_EMPTY_PATH);
	die_early(failed, sizeof(failed) - 1);
}

void pp_cleanroom_exec(const struct pp_cleanroom *cr, int memfd, int efd,
		       int sock, struct pp_cleanroom_exec *ex)
{
	const int src[] = {memfd, efd, cr->setup_fd, sock};
	const int dst[] = {PP_CLEANROOM_FD_MEM, PP_CLEANROOM_FD_EVENT,
			   PP_CLEANROOM_FD_SETUP, PP_CLEANROOM_FD_SOCK};

	exec_with(cr, src, dst, 4, ex);
}

void pp_cleanroom_exec_zygote(const struct pp_cleanroom *cr, int sock,
			      struct pp_cleanroom_exec *ex)
{
	const int src[] = {sock, cr->setup_fd};
	const int dst[] = {PP_CLEANROOM_FD_ZYGOTE, PP_CLEANROOM_FD_SETUP};

	exec_with(cr, src, dst, 2, ex);
}

int pp_func_ref(const struct process_pool *pool, task_func_t func,
		uint64_t *ref)
{
	if (pool->cfg.spawn_mode != POOL_SPAWN_CLEANROOM) {
		*ref = (uint64_t)(uintptr_t)func;
		return 0;
	}
	if (pp_modules_ref(pp_modules_startup(), (uintptr_t)func, ref))
		return POOL_EINVAL;
	return 0;
}
