/* Workers' stdio: the child's fds 0..2, the parent's reading; see
 * worker_output.h. */
#include "src/core/worker_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "process_pool.h"
#include "src/core/log.h"

#define SECOND_NS      1000000000LL
#define ESCAPED_MAX    640 /* the escaped line, within a log line */
#define TASK_FIELD_MAX 96

/* The words another thread writes, as atomics. */
static _Atomic uint64_t *shared(uint64_t *word)
{
	return (_Atomic uint64_t *)word;
}

int pp_worker_output_open(struct pp_worker_output *o, unsigned rate,
			  int *write_end)
{
	int fds[2];

	/* Two open file descriptions: O_NONBLOCK on the parent's end
	 * leaves the child's writes blocking. */
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK)) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	o->open = 1;
	o->fd = fds[0];
	o->rate = rate ? rate : PP_OUTPUT_RATE_DEFAULT;
	o->len = o->cut = 0;
	o->second_ns = 0;
	o->logged = 0;
	o->dropped = 0;
	atomic_store(shared(&o->ended_seq), 0);
	atomic_store(shared(&o->last_ended), 0);
	atomic_store(shared(&o->lane_task), 0);
	o->window = 0;
	o->saw_empty = 0;
	*write_end = fds[1];
	return 0;
}

/* ---- who wrote it ----------------------------------------------------- */

/*
 * A sequence lock with one writer at a time (whoever holds the worker),
 * so a reader never pairs a count with another task's id; plain stores
 * on the path of every task. Whatever the mode: a client must not look at
 * o->open, which the supervisor may change meanwhile.
 */
void pp_worker_output_task_ended(struct pp_worker_output *o, uint64_t id)
{
	_Atomic uint64_t *seq = shared(&o->ended_seq);
	_Atomic uint64_t *lane = shared(&o->lane_task);
	uint64_t n = atomic_load_explicit(seq, memory_order_relaxed);

	atomic_store_explicit(seq, n + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(shared(&o->last_ended), id, memory_order_relaxed);
	atomic_store_explicit(seq, n + 2, memory_order_release);
	if (atomic_load_explicit(lane, memory_order_relaxed) == id)
		atomic_store_explicit(lane, 0, memory_order_release);
}

void pp_worker_output_lane_task(struct pp_worker_output *o, uint64_t id)
{
	atomic_store_explicit(shared(&o->lane_task), id, memory_order_release);
}

/* The count of tasks ended so far, and the latest one, consistently. */
static uint64_t ended_now(struct pp_worker_output *o, uint64_t *last)
{
	_Atomic uint64_t *seq = shared(&o->ended_seq);
	uint64_t a, b;

	do {
		a = atomic_load_explicit(seq, memory_order_acquire);
		*last = atomic_load_explicit(shared(&o->last_ended),
					     memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		b = atomic_load_explicit(seq, memory_order_relaxed);
	} while (a != b || (a & 1));
	return a / 2;
}

/* Fills the task field of what was read; see pp_output_who. */
static void name_task(struct pp_worker_output *o,
		      const struct pp_output_who *who, char *buf, size_t len)
{
	uint64_t last, lane, ended;

	/* The lane's task first: one that ends meanwhile is then counted
	 * twice (honestly ambiguous), never missed. */
	lane =
	    atomic_load_explicit(shared(&o->lane_task), memory_order_acquire);
	ended = ended_now(o, &last) - o->window;
	who->task(who->ctx, ended, last, lane, buf, len);
}

/* ---- logging ---------------------------------------------------------- */

/*
 * Escapes in into out (NUL-terminated, at most cap bytes): printable
 * ASCII as is, \" and \\, everything else \xNN. Returns the bytes of in
 * that fit.
 */
static size_t escape(const char *in, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t need = c == '"' || c == '\\'   ? 2
			      : c >= 0x20 && c < 0x7f ? 1
						      : 4;

		if (k + need >= cap)
			break;
		if (need == 1) {
			out[k++] = (char)c;
		} else if (need == 2) {
			out[k++] = '\\';
			out[k++] = (char)c;
		} else {
			out[k++] = '\\';
			out[k++] = 'x';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		}
	}
	out[k] = '\0';
	return i;
}

static void report_dropped(struct pp_worker_output *o,
			   const struct pp_output_who *who)
{
	if (!o->dropped)
		return;
	pp_log(LOG_LEVEL_WARN, who->pool, "worker_output_dropped",
	       "worker=%d pid=%d lines=%llu rate=%u", who->worker, who->pid,
	       (unsigned long long)o->dropped, o->rate);
	o->dropped = 0;
}

/* Whether one more line may be logged in the current second. */
static int admit(struct pp_worker_output *o, const struct pp_output_who *who,
		 int64_t now)
{
	if (now - o->second_ns >= SECOND_NS) {
		report_dropped(o, who);
		o->second_ns = now;
		o->logged = 0;
	}
	if (o->logged >= o->rate) {
		o->dropped++;
		return 0;
	}
	o->logged++;
	return 1;
}

/* Logs the line held (if the rate allows) and starts the next. */
static void emit(struct pp_worker_output *o, const struct pp_output_who *who,
		 const char *task, int64_t now)
{
	char esc[ESCAPED_MAX];
	size_t shown, cut;

	if (admit(o, who, now) && pp_log_enabled(LOG_LEVEL_WARN)) {
		shown = escape(o->line, o->len, esc, sizeof(esc));
		cut = o->cut + (o->len - shown);
		if (cut)
			pp_log(LOG_LEVEL_WARN, who->pool, "worker_output",
			       "worker=%d pid=%d %s cut=%zu line=\"%s\"",
			       who->worker, who->pid, task, cut, esc);
		else
			pp_log(LOG_LEVEL_WARN, who->pool, "worker_output",
			       "worker=%d pid=%d %s line=\"%s\"", who->worker,
			       who->pid, task, esc);
	}
	o->len = 0;
	o->cut = 0;
}

/* Splits n bytes into lines; the one left open stays held. */
static void take(struct pp_worker_output *o, const struct pp_output_who *who,
		 const char *task, const char *p, size_t n, int64_t now)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t part = nl ? (size_t)(nl - p) : n;
		size_t room = PP_OUTPUT_LINE_MAX - o->len;
		size_t keep = part < room ? part : room;

		memcpy(o->line + o->len, p, keep);
		o->len += keep;
		o->cut += part - keep;
		if (!nl)
			return;
		emit(o, who, task, now);
		p += part + 1;
		n -= part + 1;
	}
}

/* ---- reading ---------------------------------------------------------- */

/*
 * Reads up to cap bytes, until the pipe is empty. The ended count is
 * taken before each read: when a read finds the pipe empty, everything
 * read later was written by a task that ended after that count, or is
 * still on the worker. Returns the bytes read; *eof when no writer is
 * left or the fd failed.
 */
static size_t fill(struct pp_worker_output *o, char *buf, size_t cap, int *eof)
{
	size_t got = 0;
	uint64_t last;

	*eof = 0;
	o->saw_empty = 0;
	while (got < cap) {
		uint64_t seq = ended_now(o, &last);
		ssize_t k = read(o->fd, buf + got, cap - got);

		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		o->saw_empty = 1;
		o->empty_at = seq;
		*eof = k == 0 || errno != EAGAIN;
		break;
	}
	return got;
}

/* Reads one budget's worth and logs it; see pp_worker_output_read. */
static int read_once(struct pp_worker_output *o,
		     const struct pp_output_who *who, int64_t now, char *buf,
		     size_t cap)
{
	char task[TASK_FIELD_MAX];
	size_t n;
	int eof;

	n = fill(o, buf, cap, &eof);
	o->bytes_read += n;
	if (n) {
		/* Named after the reads: every byte was written before. */
		name_task(o, who, task, sizeof(task));
		take(o, who, task, buf, n, now);
	}
	/* Nothing held across the empty pipe: a new window opens. */
	if (o->saw_empty && !o->len && !o->cut)
		o->window = o->empty_at;
	return eof;
}

int pp_worker_output_read(struct pp_worker_output *o,
			  const struct pp_output_who *who, int64_t now)
{
	char buf[PP_OUTPUT_READ_BUDGET];

	if (!o->open)
		return 0;
	if (now - o->bytes_second_ns >= SECOND_NS) {
		o->bytes_second_ns = now;
		o->bytes_read = 0;
	}
	if (o->bytes_read >= PP_OUTPUT_BYTES_PER_S)
		return PP_OUTPUT_PAUSED;
	return read_once(o, who, now, buf, sizeof(buf));
}

int64_t pp_worker_output_resume_at(const struct pp_worker_output *o)
{
	return o->bytes_second_ns + SECOND_NS;
}

void pp_worker_output_close(struct pp_worker_output *o,
			    const struct pp_output_who *who, int64_t now)
{
	char buf[PP_OUTPUT_READ_BUDGET], task[TASK_FIELD_MAX];
	size_t total = 0;

	if (!o->open)
		return;
	while (who && total < PP_OUTPUT_DRAIN_BUDGET &&
	       !read_once(o, who, now, buf, sizeof(buf)) && !o->saw_empty)
		total += sizeof(buf);
	if (who && (o->len || o->cut)) {
		name_task(o, who, task, sizeof(task));
		emit(o, who, task, now); /* its last words, unfinished */
	}
	if (who)
		report_dropped(o, who);
	close(o->fd);
	o->fd = -1;
	o->open = 0;
}

/* ---- the child's side ------------------------------------------------ */

/* Moves *fd above 2 when it sits in 0..2 (a close-on-exec copy: the
 * caller dups it again, or places it on 1 and 2). */
static int lift(int *fd)
{
	int moved;

	if (*fd < 0 || *fd > 2)
		return 0;
	moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		return -1;
	*fd = moved;
	return 0;
}

/* dup2 src onto each of the fds from..to; src closed when above 2. */
static int place(int src, int from, int to)
{
	int fd;

	for (fd = from; fd <= to; fd++)
		if (src != fd && dup2(src, fd) < 0)
			return -1;
	if (src > 2)
		close(src);
	return 0;
}

int pp_worker_stdio_child(int mode, int write_end, int *const *keep, int nkeep)
{
	int i, in, out;

	for (i = 0; i < nkeep; i++)
		if (lift(keep[i]))
			return -1;
	if (mode == POOL_STDIO_INHERIT)
		return 0;
	if (lift(&write_end))
		return -1;
	/* Its own descriptions: a flag set on them is set on nobody's. */
	in = open("/dev/null", O_RDONLY);
	if (in < 0 || place(in, 0, 0))
		return -1;
	out = mode == POOL_STDIO_CAPTURE ? write_end
					 : open("/dev/null", O_WRONLY);
	if (out < 0 || place(out, 1, 2))
		return -1;
	if (mode != POOL_STDIO_CAPTURE && write_end >= 0)
		close(write_end);
	return 0;
}
