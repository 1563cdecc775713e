// The trace context inside a task (pool_task_traceparent): a task
// submitted with a traceparent sees its trace id with the pool's run span
// of the current attempt as parent, so the spans it makes hang under the
// pool's; a task without one sees NULL; a retry after a crash sees the
// new attempt's run span.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

using namespace pp_test;

const char kParent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Returns pool_task_traceparent() as its output; return code 1 for NULL.
int traceparent_task(void *, size_t, void **out, size_t *out_n, void *)
{
	const char *tp = pool_task_traceparent();
	if (!tp)
		return 1;
	size_t n = strlen(tp);
	char *copy = static_cast<char *>(malloc(n));
	if (!copy)
		return 2;
	memcpy(copy, tp, n);
	*out = copy;
	*out_n = n;
	return 0;
}

// Crashes on its first attempt, then behaves as traceparent_task.
int crash_once_traceparent_task(void *in, size_t n, void **out, size_t *out_n,
				void *ud)
{
	if (board()->attempts.fetch_add(1) == 0)
		raise(SIGSEGV);
	return traceparent_task(in, n, out, out_n, ud);
}

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

struct Sink {
	std::mutex mu;
	// (attempt, span id) of each run span, with its trace id.
	std::vector<std::pair<int, std::string>> runs;
	std::vector<std::string> traces;
};

void hook(const pool_span_t *s, void *arg)
{
	Sink *sink = static_cast<Sink *>(arg);
	if (strcmp(s->name, "processpool.run") != 0)
		return;
	std::lock_guard<std::mutex> l(sink->mu);
	sink->runs.emplace_back(s->attempt, hex(s->span_id, 8));
	sink->traces.push_back(hex(s->trace_id, 16));
}

process_pool_t *make(Sink *sink, int retries = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.max_retries = retries;
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

task_desc_t desc(task_func_t f, const char *tp)
{
	task_desc_t d;
	memset(&d, 0, sizeof(d));
	d.task_func = f;
	d.priority = TASK_PRIORITY_NORMAL;
	d.traceparent = tp;
	return d;
}

std::string output(const task_result_t &r)
{
	return r.output_data ? std::string(static_cast<char *>(r.output_data),
					   r.output_size)
			     : std::string();
}

// "00-TRACE-PARENT-FLAGS" split at the dashes.
struct Parsed {
	std::string version, trace, parent, flags;
};

Parsed parse(const std::string &tp)
{
	Parsed p;
	if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return p;
	p.version = tp.substr(0, 2);
	p.trace = tp.substr(3, 32);
	p.parent = tp.substr(36, 16);
	p.flags = tp.substr(53, 2);
	return p;
}

TEST(TaskTraceparent, OutsideATaskIsNull)
{
	EXPECT_EQ(nullptr, pool_task_traceparent());
}

// Synchronous (the direct lane) and asynchronous (the supervisor's
// dispatch) submits alike: the task's parent is the pool's run span.
TEST(TaskTraceparent, TheTaskSeesItsRunSpan)
{
	Sink sink;
	process_pool_t *p = make(&sink);
	ASSERT_NE(p, nullptr);
	for (int async = 0; async < 2; async++) {
		task_desc_t d = desc(traceparent_task, kParent);
		task_result_t r;
		if (async) {
			task_future_t *f = pool_submit_task(p, &d);
			ASSERT_NE(f, nullptr);
			ASSERT_EQ(0, pool_future_wait(f, &r, 30000));
			pool_future_destroy(f);
		} else {
			ASSERT_EQ(0, pool_submit_task_sync(p, &d, &r));
		}
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status)
		    << "rc " << r.return_code << " " << r.detail;
		Parsed got = parse(output(r));
		pool_result_free(&r);
		std::lock_guard<std::mutex> l(sink.mu);
		ASSERT_EQ(sink.runs.size(), (size_t)async + 1);
		EXPECT_EQ(got.version, "00");
		EXPECT_EQ(got.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
		EXPECT_EQ(got.trace, sink.traces.back());
		EXPECT_EQ(got.parent, sink.runs.back().second) << async;
		EXPECT_NE(got.parent, "00f067aa0ba902b7");
		EXPECT_EQ(got.flags, "01");
	}
	pool_destroy(p);
}

TEST(TaskTraceparent, WithoutTraceparentNull)
{
	Sink sink;
	process_pool_t *p = make(&sink);
	ASSERT_NE(p, nullptr);
	// The pool traces it in a trace of its own, but passes none on.
	task_desc_t d = desc(traceparent_task, nullptr);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_task_sync(p, &d, &r));
	EXPECT_EQ(TASK_STATUS_FAILED, r.status);
	EXPECT_EQ(1, r.return_code);
	ASSERT_EQ(0, pool_submit_sync(p, traceparent_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(1, r.return_code);
	// And a traced task before does not leak into an untraced one.
	d = desc(traceparent_task, kParent);
	ASSERT_EQ(0, pool_submit_task_sync(p, &d, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_result_free(&r);
	d = desc(traceparent_task, nullptr);
	ASSERT_EQ(0, pool_submit_task_sync(p, &d, &r));
	EXPECT_EQ(1, r.return_code);
	pool_destroy(p);
}

// Without a span hook the pool makes no spans: the task's parent is the
// caller's span, as submitted.
TEST(TaskTraceparent, WithoutAHookTheCallersSpan)
{
	process_pool_t *p = make(nullptr);
	ASSERT_NE(p, nullptr);
	task_desc_t d = desc(traceparent_task, kParent);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_task_sync(p, &d, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.return_code;
	EXPECT_EQ(output(r), kParent);
	pool_result_free(&r);
	pool_destroy(p);
}

TEST(TaskTraceparent, ARetryAfterACrashSeesItsOwnRunSpan)
{
	reset_board();
	Sink sink;
	process_pool_t *p = make(&sink, 1);
	ASSERT_NE(p, nullptr);
	task_desc_t d = desc(crash_once_traceparent_task, kParent);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_task_sync(p, &d, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_EQ(2, board()->attempts.load());
	Parsed got = parse(output(r));
	pool_result_free(&r);
	std::lock_guard<std::mutex> l(sink.mu);
	ASSERT_EQ(sink.runs.size(), 2u);
	std::string first, second;
	for (auto &run : sink.runs)
		(run.first == 1 ? first : second) = run.second;
	ASSERT_FALSE(first.empty());
	ASSERT_FALSE(second.empty());
	EXPECT_NE(first, second);
	EXPECT_EQ(got.parent, second);
	EXPECT_EQ(got.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
	pool_destroy(p);
}

// Like tasks of a batch travel as bulk chunks, but not the ones with a
// traceparent: each of those runs alone, with its context.
TEST(TaskTraceparent, BatchedTasksKeepTheirContext)
{
	Sink sink;
	process_pool_t *p = make(&sink);
	ASSERT_NE(p, nullptr);
	const int n = 8;
	std::vector<task_desc_t> ds(n, desc(traceparent_task, kParent));
	task_future_t **fs = pool_submit_batch(p, ds.data(), n);
	ASSERT_NE(fs, nullptr);
	std::vector<std::string> parents;
	for (int i = 0; i < n; i++) {
		task_result_t r;
		ASSERT_NE(fs[i], nullptr);
		ASSERT_EQ(0, pool_future_wait(fs[i], &r, 30000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << i;
		parents.push_back(parse(output(r)).parent);
		pool_result_free(&r);
		pool_future_destroy(fs[i]);
	}
	free(fs);
	std::lock_guard<std::mutex> l(sink.mu);
	ASSERT_EQ(sink.runs.size(), (size_t)n);
	for (const std::string &parent : parents) {
		bool found = false;
		for (auto &run : sink.runs)
			found = found || run.second == parent;
		EXPECT_TRUE(found) << parent;
	}
	pool_destroy(p);
}

}  // namespace
