// Task tracing: a traceparent given at submit comes back in every span,
// with the parent links right, through a retry after a crash; malformed
// context is refused; the USDT probes are in the ELF notes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

using namespace pp_test;

const char kParent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const char kState[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

std::string hex(const uint8_t *p, size_t n)
{
	std::string s;
	char b[3];
	for (size_t i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "%02x", p[i]);
		s += b;
	}
	return s;
}

struct Span {
	std::string trace, id, parent, name, state;
	int64_t start, end;
	task_status_t status;
	int pid, attempt;
	uint64_t task;
};

struct Sink {
	std::mutex mu;
	std::vector<Span> spans;
};

void hook(const pool_span_t *s, void *arg)
{
	Sink *sink = static_cast<Sink *>(arg);
	Span x;
	x.trace = hex(s->trace_id, 16);
	x.id = hex(s->span_id, 8);
	x.parent = hex(s->parent_span_id, 8);
	x.name = s->name;
	x.state = s->tracestate ? s->tracestate : "";
	x.start = s->start_unix_ns;
	x.end = s->end_unix_ns;
	x.status = s->status;
	x.pid = s->worker_pid;
	x.attempt = s->attempt;
	x.task = s->task_id;
	std::lock_guard<std::mutex> l(sink->mu);
	sink->spans.push_back(x);
}

process_pool_t *make(Sink *sink, int retries, int in_flight = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.max_retries = retries;
	c.max_in_flight = in_flight;
	process_pool_t *p = pool_create(&c);
	if (!p)
		return nullptr;
	if (sink && pool_set_span_hook(p, hook, sink)) {
		pool_destroy(p);
		return nullptr;
	}
	if (pool_start(p)) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

task_desc_t desc(task_func_t f, const char *tp, const char *ts)
{
	task_desc_t d;
	memset(&d, 0, sizeof(d));
	d.task_func = f;
	d.priority = TASK_PRIORITY_NORMAL;
	d.traceparent = tp;
	d.tracestate = ts;
	return d;
}

const Span *find(const std::vector<Span> &v, const char *name, int attempt)
{
	for (const Span &s : v)
		if (s.name == name && s.attempt == attempt)
			return &s;
	return nullptr;
}

TEST(Trace, MalformedContextIsRefused)
{
	process_pool_t *p = make(nullptr, 0);
	ASSERT_NE(p, nullptr);
	const char *bad[] = {
	    "",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
	    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
	};
	for (const char *tp : bad) {
		task_desc_t d = desc(noop_task, tp, nullptr);
		errno = 0;
		EXPECT_EQ(pool_submit_task(p, &d), nullptr) << tp;
		EXPECT_EQ(errno, EINVAL) << tp;
	}
	std::string longstate(513, 'a');
	task_desc_t d = desc(noop_task, kParent, longstate.c_str());
	EXPECT_EQ(pool_submit_task(p, &d), nullptr);
	d = desc(noop_task, kParent, "a=\x01");
	EXPECT_EQ(pool_submit_task(p, &d), nullptr);
	EXPECT_EQ(pool_submit_task(p, nullptr), nullptr);
	task_result_t r;
	EXPECT_EQ(pool_submit_task_sync(p, nullptr, &r), POOL_EINVAL);
	// A later version may carry more after the flags.
	d = desc(noop_task,
		 "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-zz",
		 nullptr);
	ASSERT_EQ(pool_submit_task_sync(p, &d, &r), 0);
	EXPECT_EQ(r.status, TASK_STATUS_COMPLETED);
	// No hook: the context is checked and the task runs untraced.
	d = desc(noop_task, kParent, kState);
	ASSERT_EQ(pool_submit_task_sync(p, &d, &r), 0);
	EXPECT_EQ(r.status, TASK_STATUS_COMPLETED);
	EXPECT_EQ(pool_set_span_hook(p, hook, nullptr), POOL_ESTATE);
	EXPECT_EQ(pool_set_span_hook(nullptr, hook, nullptr), POOL_EINVAL);
	pool_destroy(p);
}

TEST(Trace, SpansCarryTheTraceparent)
{
	Sink sink;
	process_pool_t *p = make(&sink, 0);
	ASSERT_NE(p, nullptr);
	task_desc_t d = desc(noop_task, kParent, kState);
	task_result_t r;
	ASSERT_EQ(pool_submit_task_sync(p, &d, &r), 0);
	ASSERT_EQ(r.status, TASK_STATUS_COMPLETED);
	std::vector<Span> v;
	{
		std::lock_guard<std::mutex> l(sink.mu);
		v = sink.spans;
	}
	ASSERT_EQ(v.size(), 4u);
	const Span *task = find(v, "processpool.task", 1),
		   *queue = find(v, "processpool.queue", 1),
		   *disp = find(v, "processpool.dispatch", 1),
		   *run = find(v, "processpool.run", 1);
	ASSERT_TRUE(task && queue && disp && run);
	std::set<std::string> ids;
	for (const Span &s : v) {
		EXPECT_EQ(s.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
		EXPECT_EQ(s.state, kState);
		EXPECT_LE(s.start, s.end) << s.name;
		EXPECT_EQ(s.task, r.task_id);
		EXPECT_NE(s.id, "0000000000000000");
		ids.insert(s.id);
		if (&s != task) {
			EXPECT_EQ(s.parent, task->id) << s.name;
			EXPECT_GE(s.start, task->start) << s.name;
			EXPECT_LE(s.end, task->end) << s.name;
		}
	}
	EXPECT_EQ(ids.size(), 4u);
	EXPECT_EQ(task->parent, "00f067aa0ba902b7");
	EXPECT_EQ(task->status, TASK_STATUS_COMPLETED);
	EXPECT_EQ(run->status, TASK_STATUS_COMPLETED);
	EXPECT_EQ(queue->status, TASK_STATUS_PENDING);
	EXPECT_EQ(run->pid, r.worker_pid);
	EXPECT_EQ(queue->end, disp->start);
	EXPECT_EQ(disp->end, run->start);
	// Spans come in time: the wall clock agrees within a minute.
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t wall = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	EXPECT_LT(std::llabs(wall - task->end), 60ll * 1000000000);
	pool_destroy(p);
}

TEST(Trace, TheTraceSurvivesARetryAfterACrash)
{
	reset_board();
	Sink sink;
	process_pool_t *p = make(&sink, 1);
	ASSERT_NE(p, nullptr);
	task_desc_t d = desc(crash_once_task, kParent, nullptr);
	task_result_t r;
	ASSERT_EQ(pool_submit_task_sync(p, &d, &r), 0);
	ASSERT_EQ(r.status, TASK_STATUS_COMPLETED) << r.detail;
	std::vector<Span> v;
	{
		std::lock_guard<std::mutex> l(sink.mu);
		v = sink.spans;
	}
	ASSERT_EQ(v.size(), 7u);
	const Span *task = find(v, "processpool.task", 2);
	ASSERT_NE(task, nullptr);
	EXPECT_EQ(task->parent, "00f067aa0ba902b7");
	const Span *run1 = find(v, "processpool.run", 1),
		   *queue2 = find(v, "processpool.queue", 2),
		   *run2 = find(v, "processpool.run", 2);
	ASSERT_TRUE(run1 && queue2 && run2 && find(v, "processpool.queue", 1) &&
		    find(v, "processpool.dispatch", 1) &&
		    find(v, "processpool.dispatch", 2));
	EXPECT_EQ(run1->status, TASK_STATUS_CRASHED);
	EXPECT_EQ(run2->status, TASK_STATUS_COMPLETED);
	EXPECT_NE(run1->pid, run2->pid); // the crashed worker was replaced
	EXPECT_LE(run1->end, queue2->start + 0);
	EXPECT_EQ(run1->end, queue2->start);
	for (const Span &s : v) {
		EXPECT_EQ(s.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
		if (&s != task) {
			EXPECT_EQ(s.parent, task->id) << s.name;
		}
	}
	pool_destroy(p);
}

TEST(Trace, WithoutTraceparentATraceOfItsOwn)
{
	Sink sink;
	process_pool_t *p = make(&sink, 0);
	ASSERT_NE(p, nullptr);
	task_result_t r;
	ASSERT_EQ(pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_HIGH, 0, &r),
		  0);
	ASSERT_EQ(pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_HIGH, 0, &r),
		  0);
	std::lock_guard<std::mutex> l(sink.mu);
	ASSERT_EQ(sink.spans.size(), 8u);
	std::set<std::string> traces;
	for (const Span &s : sink.spans) {
		EXPECT_NE(s.trace, std::string(32, '0'));
		traces.insert(s.trace);
		if (s.name == "processpool.task") {
			EXPECT_EQ(s.parent, "0000000000000000");
		}
		EXPECT_EQ(s.state, "");
	}
	EXPECT_EQ(traces.size(), 2u);
	pool_destroy(p);
}

TEST(Trace, CancelledInTheQueue)
{
	reset_board();
	Sink sink;
	// One task per worker: the second waits in the pool's own queue.
	process_pool_t *p = make(&sink, 0, 1);
	ASSERT_NE(p, nullptr);
	task_future_t *b = pool_submit_async(p, blocker_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(b, nullptr);
	while (board()->started.load() == 0)
		usleep(1000);
	task_desc_t d = desc(noop_task, kParent, nullptr);
	task_future_t *q = pool_submit_task(p, &d);
	ASSERT_NE(q, nullptr);
	ASSERT_EQ(pool_future_cancel(q), 0);
	board()->release = 1;
	task_result_t r;
	ASSERT_EQ(pool_future_wait(b, &r, -1), 0);
	pool_future_destroy(b);
	pool_future_destroy(q);
	std::lock_guard<std::mutex> l(sink.mu);
	std::vector<Span> v;
	for (const Span &s : sink.spans)
		if (s.trace == "4bf92f3577b34da6a3ce929d0e0e4736")
			v.push_back(s);
	ASSERT_EQ(v.size(), 2u);
	const Span *task = find(v, "processpool.task", 1),
		   *queue = find(v, "processpool.queue", 1);
	ASSERT_TRUE(task && queue);
	EXPECT_EQ(task->status, TASK_STATUS_CANCELLED);
	EXPECT_EQ(queue->status, TASK_STATUS_CANCELLED);
	EXPECT_EQ(queue->pid, 0);
	pool_destroy(p);
}

// The files mapped here that carry our probes (the library may be linked
// in or a shared object of its own, as Bazel links tests), and the
// readelf -n text of all mapped files; false when readelf is missing.
bool probe_notes(std::string *notes, std::vector<std::string> *with_probes)
{
	std::set<std::string> files;
	FILE *maps = fopen("/proc/self/maps", "r");
	if (!maps)
		return false;
	char line[4096];
	while (fgets(line, sizeof(line), maps)) {
		char *path = strchr(line, '/');
		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (!strstr(path, "(deleted)"))
			files.insert(path);
	}
	fclose(maps);
	notes->clear();
	for (const std::string &f : files) {
		FILE *p =
		    popen(("readelf -n '" + f + "' 2>/dev/null").c_str(), "r");
		if (!p)
			return false;
		std::string out;
		char buf[4096];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
			out.append(buf, n);
		int st = pclose(p);
		if (out.empty() && st != 0 && WEXITSTATUS(st) == 127)
			return false;
		if (out.find("Provider: processpool") != std::string::npos)
			with_probes->push_back(f);
		*notes += out;
	}
	return true;
}

TEST(Probes, InTheElfNotes)
{
#if defined(__has_include)
#if !__has_include(<sys/sdt.h>)
	GTEST_SKIP() << "sys/sdt.h not installed (Debian package "
			"systemtap-sdt-dev): built without probes";
#endif
#endif
	std::string out;
	std::vector<std::string> libs;
	if (!probe_notes(&out, &libs))
		GTEST_SKIP() << "readelf not installed (binutils)";
	EXPECT_EQ(libs.size(), 1u);
	EXPECT_NE(out.find("Provider: processpool"), std::string::npos);
	for (const char *name :
	     {"submit", "dispatch", "start", "end", "kill", "respawn"}) {
		std::string want = std::string("Provider: processpool\n") +
				   "    Name: " + name + "\n";
		EXPECT_NE(out.find(want), std::string::npos) << name;
	}
}

// Reads fd until want appears or ms pass; the text read.
std::string read_until(int fd, const char *want, int ms)
{
	std::string out;
	char buf[4096];
	int64_t end = (int64_t)time(nullptr) * 1000 + ms;
	while ((int64_t)time(nullptr) * 1000 < end &&
	       (!want || out.find(want) == std::string::npos)) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 200) != 1)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		out.append(buf, (size_t)n);
	}
	return out;
}

int count_of(const std::string &out, const char *name)
{
	std::string key = std::string("@") + name + ": ";
	size_t at = out.find(key);
	return at == std::string::npos ? 0
				       : atoi(out.c_str() + at + key.size());
}

// Where the machine allows BPF: each probe fires under bpftrace, in the
// pool's process (submit, dispatch, kill, respawn) and in its workers
// (start, end).
TEST(Probes, FireUnderBpftrace)
{
#if defined(__has_include)
#if !__has_include(<sys/sdt.h>)
	GTEST_SKIP() << "sys/sdt.h not installed: built without probes";
#endif
#endif
	if (system("bpftrace -e 'BEGIN { exit(); }' >/dev/null 2>&1") != 0)
		GTEST_SKIP() << "bpftrace not installed, or BPF not allowed "
				"here";
	std::string notes;
	std::vector<std::string> libs;
	if (!probe_notes(&notes, &libs) || libs.size() != 1)
		GTEST_SKIP() << "readelf not installed (binutils)";
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(p, nullptr);
	ASSERT_EQ(pool_start(p), 0);

	std::string prog;
	for (const char *name :
	     {"submit", "dispatch", "start", "end", "kill", "respawn"})
		prog += std::string("usdt:") + libs[0] +
			":processpool:" + name + " { @" + name +
			" = count(); } ";
	int out[2];
	ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
	pid_t bt = fork();
	ASSERT_GE(bt, 0);
	if (bt == 0) {
		dup2(out[1], 1);
		dup2(out[1], 2);
		execlp("bpftrace", "bpftrace", "-e", prog.c_str(),
		       (char *)nullptr);
		_exit(127);
	}
	close(out[1]);
	std::string text = read_until(out[0], "Attaching", 30000);
	if (text.find("Attaching") == std::string::npos) {
		kill(bt, SIGKILL);
		waitpid(bt, nullptr, 0);
		close(out[0]);
		pool_destroy(p);
		GTEST_SKIP() << "bpftrace could not attach here: " << text;
	}
	usleep(200000); /* attached once it says so; a margin anyway */

	task_result_t r;
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
					   TASK_PRIORITY_NORMAL, 0, &r),
			  0);
	}
	// A task past its deadline has its worker killed and replaced.
	ASSERT_EQ(pool_submit_sync(p, hang_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 100, &r),
		  0);
	EXPECT_EQ(r.status, TASK_STATUS_TIMEOUT);
	ASSERT_EQ(pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &r),
		  0); /* on the replacement */
	pool_destroy(p);

	kill(bt, SIGINT);
	text += read_until(out[0], nullptr, 10000);
	waitpid(bt, nullptr, 0);
	close(out[0]);
	EXPECT_GE(count_of(text, "submit"), 5) << text;
	EXPECT_GE(count_of(text, "dispatch"), 5) << text;
	EXPECT_GE(count_of(text, "start"), 5) << text;
	EXPECT_GE(count_of(text, "end"), 4) << text;
	EXPECT_GE(count_of(text, "kill"), 1) << text;
	EXPECT_GE(count_of(text, "respawn"), 1) << text;
}

} // namespace
