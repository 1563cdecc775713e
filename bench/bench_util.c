/* Benchmark helpers; see bench_util.h. */
#include "bench/bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t bu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bu_samples_init(struct bu_samples *s, size_t cap)
{
	s->n = 0;
	s->cap = cap;
	s->ns = calloc(cap ? cap : 1, sizeof(*s->ns));
	return s->ns ? 0 : -ENOMEM;
}

void bu_samples_free(struct bu_samples *s)
{
	free(s->ns);
	s->ns = NULL;
	s->n = s->cap = 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p of the set at or below. */
static double rank_us(const struct bu_samples *s, double p)
{
	size_t k = (size_t)ceil(p * (double)s->n);

	if (k == 0)
		k = 1;
	if (k > s->n)
		k = s->n;
	return (double)s->ns[k - 1] / 1000.0;
}

struct bu_pct bu_samples_pct(struct bu_samples *s)
{
	struct bu_pct p = { NAN, NAN, NAN, NAN };

	if (!s->n)
		return p;
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_i64);
	p.p50 = rank_us(s, 0.50);
	p.p99 = rank_us(s, 0.99);
	p.p999 = rank_us(s, 0.999);
	p.max = (double)s->ns[s->n - 1] / 1000.0;
	return p;
}

static void strip_newline(char *s)
{
	s[strcspn(s, "\n")] = '\0';
}

static void read_cpu_model(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		strip_newline(colon);
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

static void read_loadavg(char *buf, size_t len)
{
	double l1, l5, l15;
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", l1, l5, l15);
	fclose(f);
}

static long allowed_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	return CPU_COUNT(&set);
}

void bu_machine_read(struct bu_machine *m)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	memset(m, 0, sizeof(*m));
	read_cpu_model(m->cpu_model, sizeof(m->cpu_model));
	read_loadavg(m->loadavg, sizeof(m->loadavg));
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	if (gmtime_r(&now, &tm))
		strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	m->cpus_online = sysconf(_SC_NPROCESSORS_ONLN);
	m->cpus_allowed = allowed_cpus();
}

void bu_machine_print(FILE *f, const struct bu_machine *m)
{
	fprintf(f, "date:     %s\n", m->date);
	fprintf(f, "cpu:      %s\n", m->cpu_model);
	fprintf(f, "cpus:     %ld online, %ld in affinity mask\n",
		m->cpus_online, m->cpus_allowed);
	fprintf(f, "kernel:   %s\n", m->kernel);
	fprintf(f, "loadavg:  %s (at start)\n", m->loadavg);
}

int bu_pick_cpus(int *cpus, int n)
{
	cpu_set_t set;
	int cpu, found = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE && found < n; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[found++] = cpu;
	return found == n ? 0 : -ENODEV;
}

int bu_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

void *bu_shared_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bu_shared_unmap(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

int64_t bu_ctx_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (int64_t)ru.ru_nvcsw + (int64_t)ru.ru_nivcsw;
}

/* In the child, before fn: die with the parent, and not outlive it now. */
static void child_setup(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127);
}

pid_t bu_fork(int (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		child_setup(parent);
		_exit(fn(arg) & 0xff);
	}
	return pid;
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -ECHILD;
}

int bu_reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return decode_status(st);
}

void bu_kill_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	bu_reap(pid);
}

bool bu_child_gone(pid_t pid, int *status)
{
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);

	if (r == 0)
		return false;
	*status = r == pid ? decode_status(st) : -errno;
	return true;
}

bool bu_parent_gone(pid_t parent)
{
	return getppid() != parent;
}

static void table_rule(const struct bu_table *t)
{
	int i, k;

	fputc('|', t->f);
	for (i = 0; i < t->ncols; i++) {
		/* A colon on the right marks right-aligned numeric columns. */
		for (k = 0; k < t->widths[i] + 1; k++)
			fputc('-', t->f);
		fputs(i ? ":|" : "-|", t->f);
	}
	fputc('\n', t->f);
}

void bu_table_row(const struct bu_table *t, const char *const *cells)
{
	int i;

	fputc('|', t->f);
	for (i = 0; i < t->ncols; i++)
		fprintf(t->f, i ? " %*s |" : " %-*s |", t->widths[i],
			cells[i]);
	fputc('\n', t->f);
}

void bu_table_header(const struct bu_table *t, const char *const *titles)
{
	bu_table_row(t, titles);
	table_rule(t);
}

const char *bu_fmt(char *buf, size_t len, const char *fmt, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, v);
	return buf;
}

static void json_key(struct bu_json *j, const char *key)
{
	fprintf(j->f, "%s\n%*s\"%s\": ", j->count++ ? "," : "",
		2 * (j->depth + 1), "", key);
}

void bu_json_begin(struct bu_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	fputc('{', f);
}

void bu_json_str(struct bu_json *j, const char *key, const char *val)
{
	const unsigned char *p;

	json_key(j, key);
	fputc('"', j->f);
	for (p = (const unsigned char *)val; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(j->f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(j->f, "\\u%04x", *p);
		else
			fputc(*p, j->f);
	}
	fputc('"', j->f);
}

void bu_json_num(struct bu_json *j, const char *key, double val)
{
	json_key(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.9g", val);
	else
		fputs("null", j->f);
}

void bu_json_int(struct bu_json *j, const char *key, long long val)
{
	json_key(j, key);
	fprintf(j->f, "%lld", val);
}

void bu_json_bool(struct bu_json *j, const char *key, bool val)
{
	json_key(j, key);
	fputs(val ? "true" : "false", j->f);
}

void bu_json_end(struct bu_json *j)
{
	fputs(j->count ? "\n}\n" : "}\n", j->f);
}

void bu_json_obj_begin(struct bu_json *j, const char *key)
{
	json_key(j, key);
	fputc('{', j->f);
	j->depth++;
	j->count = 0;
}

void bu_json_obj_end(struct bu_json *j)
{
	if (j->depth == 0)
		return;
	if (j->count)
		fprintf(j->f, "\n%*s}", 2 * j->depth, "");
	else
		fputc('}', j->f);
	j->depth--;
	/* The enclosing level holds at least the key just closed. */
	j->count = 1;
}

/* ---- other processes, read from /proc ------------------------------ */

static void status_path(char *buf, size_t len, pid_t pid)
{
	if (pid)
		snprintf(buf, len, "/proc/%d/status", (int)pid);
	else
		snprintf(buf, len, "/proc/self/status");
}

/* The number after "field:" in an open status file, or -ENOENT. */
static long long status_field(FILE *f, const char *field)
{
	size_t len = strlen(field);
	char line[256];

	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			return strtoll(line + len + 1, NULL, 10);
	return -ENOENT;
}

long bu_proc_status_kib(pid_t pid, const char *field)
{
	char path[64];
	long long v;
	FILE *f;

	status_path(path, sizeof(path), pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	v = status_field(f, field);
	fclose(f);
	return (long)v;
}

static int64_t thread_ctx_switches(pid_t pid, int tid)
{
	long long vol, invol;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0; /* the thread exited meanwhile */
	vol = status_field(f, "voluntary_ctxt_switches");
	invol = status_field(f, "nonvoluntary_ctxt_switches");
	fclose(f);
	return (vol > 0 ? vol : 0) + (invol > 0 ? invol : 0);
}

/*
 * /proc/PID/status counts the main thread only, so every thread is read:
 * helpers such as ZeroMQ's I/O thread switch too.
 */
int64_t bu_proc_ctx_switches(pid_t pid)
{
	char path[64];
	struct dirent *d;
	int64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] >= '0' && d->d_name[0] <= '9')
			sum += thread_ctx_switches(pid, atoi(d->d_name));
	closedir(dir);
	return sum;
}

/* utime and stime are fields 14 and 15; comm (field 2) may hold spaces. */
int64_t bu_proc_cpu_ns(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	long tick = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* After comm: state, then fields 4..13, then utime and stime. */
	if (!p || tick <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
		   " %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	return (int64_t)((ut + st) * (1000000000ull / (unsigned long)tick));
}

int64_t bu_self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

int64_t bu_group_ctx_switches(const pid_t *pids, size_t n)
{
	int64_t sum = bu_ctx_switches(), v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = bu_proc_ctx_switches(pids[i]);
		sum += v > 0 ? v : 0;
	}
	return sum;
}

int64_t bu_group_cpu_ns(const pid_t *pids, size_t n)
{
	int64_t sum = bu_self_cpu_ns(), v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = bu_proc_cpu_ns(pids[i]);
		sum += v > 0 ? v : 0;
	}
	return sum;
}

/* ---- floors: two processes handing one shared word back and forth ---- */

#define PONG_WAIT_MS 1000 /* one futex wait before the peer is checked */
#define PONG_STALL_NS (10LL * 1000000000) /* no progress: a hang */
#define PONG_CHECK_MASK 0xffffu /* busy-poll rounds between peer checks */

/* One page of shared memory between the two sides. */
struct pong_shared {
	_Alignas(64) _Atomic uint32_t word; /* odd: request, even: reply */
	_Atomic uint32_t child_ready;
	int64_t child_csw; /* the child's switches over the timed part */
};

/* One side of a ping-pong run. */
struct pong_side {
	struct pong_shared *sh;
	enum bu_pp_mode mode;
	uint64_t warmup;
	uint64_t roundtrips;
	pid_t parent;
	pid_t child; /* in the parent; 0 in the child */
};

static void bu_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * True when the other side is gone. The parent looks without reaping
 * (WNOWAIT), so bu_reap still collects the child's status afterwards.
 */
static bool pong_peer_gone(const struct pong_side *s)
{
	siginfo_t si;

	if (!s->child)
		return bu_parent_gone(s->parent);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)s->child, &si, WEXITED | WNOHANG | WNOWAIT))
		return true;
	return si.si_pid != 0;
}

static long pong_futex(_Atomic uint32_t *word, int op, uint32_t val,
		       const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

/* Wait until the word holds want: one look, then FUTEX_WAIT. */
static int pong_await_futex(const struct pong_side *s, uint32_t want)
{
	const struct timespec ts = { PONG_WAIT_MS / 1000, 0 };
	int64_t since = bu_now_ns();
	uint32_t v;

	while ((v = atomic_load_explicit(&s->sh->word,
					 memory_order_acquire)) != want) {
		if (pong_futex(&s->sh->word, FUTEX_WAIT, v, &ts) == 0 ||
		    errno != ETIMEDOUT)
			continue;
		if (pong_peer_gone(s))
			return -EPIPE;
		if (bu_now_ns() - since > PONG_STALL_NS)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Wait until the word holds want, polling it without a syscall. */
static int pong_await_spin(const struct pong_side *s, uint32_t want)
{
	int64_t since = 0;
	uint32_t rounds = 0;

	while (atomic_load_explicit(&s->sh->word, memory_order_acquire) !=
	       want) {
		bu_cpu_relax();
		if (++rounds & PONG_CHECK_MASK)
			continue;
		if (pong_peer_gone(s))
			return -EPIPE;
		if (!since)
			since = bu_now_ns();
		else if (bu_now_ns() - since > PONG_STALL_NS)
			return -ETIMEDOUT;
	}
	return 0;
}

static int pong_await(const struct pong_side *s, uint32_t want)
{
	if (s->mode == BU_PP_FUTEX)
		return pong_await_futex(s, want);
	return pong_await_spin(s, want);
}

static void pong_hand_over(const struct pong_side *s, uint32_t val)
{
	atomic_store_explicit(&s->sh->word, val, memory_order_release);
	if (s->mode == BU_PP_FUTEX)
		pong_futex(&s->sh->word, FUTEX_WAKE, 1, NULL);
}

/* The child answers each odd value k + 1 with k + 2. */
static int pong_child(void *arg)
{
	const struct pong_side *s = arg;
	uint64_t i, total = s->warmup + s->roundtrips;
	int64_t csw = 0;
	uint32_t k;

	atomic_store_explicit(&s->sh->child_ready, 1, memory_order_release);
	for (i = 0; i < total; i++) {
		if (i == s->warmup)
			csw = bu_ctx_switches();
		k = (uint32_t)i * 2;
		if (pong_await(s, k + 1))
			return 1;
		pong_hand_over(s, k + 2);
	}
	s->sh->child_csw = bu_ctx_switches() - csw;
	return 0;
}

static int pong_await_child_ready(const struct pong_side *s)
{
	int64_t since = bu_now_ns();

	while (!atomic_load_explicit(&s->sh->child_ready,
				     memory_order_acquire)) {
		sched_yield();
		if (pong_peer_gone(s))
			return -EPIPE;
		if (bu_now_ns() - since > PONG_STALL_NS)
			return -ETIMEDOUT;
	}
	return 0;
}

static int pong_parent(const struct pong_side *s, struct bu_samples *lat,
		       int64_t *csw)
{
	uint64_t i, total = s->warmup + s->roundtrips;
	int64_t t0;
	uint32_t k;
	int err = pong_await_child_ready(s);

	for (i = 0; !err && i < total; i++) {
		if (i == s->warmup)
			*csw = bu_ctx_switches();
		k = (uint32_t)i * 2;
		t0 = bu_now_ns();
		pong_hand_over(s, k + 1);
		err = pong_await(s, k + 2);
		if (!err && i >= s->warmup)
			bu_samples_add(lat, bu_now_ns() - t0);
	}
	*csw = bu_ctx_switches() - *csw;
	return err;
}

int bu_pingpong(enum bu_pp_mode mode, uint64_t warmup, uint64_t roundtrips,
		struct bu_samples *lat, int64_t *csw)
{
	struct pong_side s = { .mode = mode, .warmup = warmup,
			       .roundtrips = roundtrips, .parent = getpid() };
	int64_t self_csw = 0;
	int err, st;

	s.sh = bu_shared_map(sizeof(*s.sh));
	if (!s.sh)
		return -ENOMEM;
	s.child = bu_fork(pong_child, &s);
	if (s.child < 0) {
		err = s.child;
		goto out_unmap;
	}
	err = pong_parent(&s, lat, &self_csw);
	if (err) {
		bu_kill_reap(s.child);
		goto out_unmap;
	}
	st = bu_reap(s.child);
	if (st)
		err = st < 0 ? st : -ECHILD;
	if (!err && csw)
		*csw = self_csw + s.sh->child_csw;
out_unmap:
	bu_shared_unmap(s.sh, sizeof(*s.sh));
	return err;
}
