// Everything at once, from several threads: sync, async and batch submits
// at every priority, with deadlines and without, cancels of queued and
// running tasks, tasks that crash, hang, sleep, echo or return a large
// output. Each task is checked for exactly one outcome, the one its kind
// and its cancel allow, never later than its deadline plus kSlackUs; the
// stats must add up, and nothing may be left after pool_destroy.
//
// The seed is printed; PP_SEED=<n> replays a run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace {

using namespace pp_test;

// How late a deadline's outcome may come (a loaded 2-core machine under
// a sanitizer).
constexpr uint64_t kSlackUs = 2000000;

enum Kind { NOOP, ECHO, SLEEP, CRASH, HANG, LARGE, KINDS };

int large_task(void *, size_t, void **out, size_t *out_n, void *)
{
	size_t n = 1 << 20;
	auto *p = static_cast<unsigned char *>(malloc(n));
	if (!p)
		return 12;
	memset(p, 0x5c, n);
	*out = p;
	*out_n = n;
	return 0;
}

struct Job {
	Kind kind;
	int priority;
	int timeout_ms; // 0: none
	bool cancel;
	int64_t input;
	task_future_t *future;
	int cancel_rc;
};

task_func_t func_of(Kind k)
{
	switch (k) {
	case NOOP:
		return noop_task;
	case ECHO:
		return echo_task;
	case SLEEP:
		return sleep_task;
	case CRASH:
		return segv_task;
	case HANG:
		return hang_task;
	default:
		return large_task;
	}
}

std::mutex report_mu;
std::vector<std::string> problems;

void problem(const Job &j, const task_result_t &r, const char *what)
{
	std::lock_guard<std::mutex> g(report_mu);
	char buf[256];
	snprintf(buf, sizeof(buf),
		 "kind %d prio %d timeout %d cancel %d(rc %d): %s: status %s "
		 "detail \"%s\" queue %llu run %llu",
		 j.kind, j.priority, j.timeout_ms, j.cancel, j.cancel_rc, what,
		 pool_task_status_str(r.status), r.detail,
		 (unsigned long long)r.queue_us, (unsigned long long)r.run_us);
	problems.push_back(buf);
}

std::atomic<uint64_t> seen[TASK_STATUS_COUNT];

// Checks one finished job's outcome against what its kind allows.
void check(const Job &j, task_result_t &r)
{
	seen[r.status]++;
	uint64_t total = r.queue_us + r.run_us;
	if (j.timeout_ms &&
	    total > (uint64_t)j.timeout_ms * 1000 + kSlackUs)
		problem(j, r, "outcome later than its deadline");
	if (j.cancel && j.cancel_rc == 0) {
		if (r.status != TASK_STATUS_CANCELLED)
			problem(j, r, "cancelled, but another outcome");
		return;
	}
	if (j.cancel && r.status == TASK_STATUS_CANCELLED)
		problem(j, r, "cancel refused, yet CANCELLED");
	bool may_time_out = j.timeout_ms != 0;
	if (may_time_out && r.status == TASK_STATUS_TIMEOUT)
		return;
	switch (j.kind) {
	case CRASH:
		if (r.status != TASK_STATUS_CRASHED)
			problem(j, r, "a crashing task did not end CRASHED");
		break;
	case HANG:
		problem(j, r, "a hanging task ended other than by its "
			      "deadline or cancel");
		break;
	case ECHO:
		if (r.status != TASK_STATUS_COMPLETED ||
		    r.output_size != sizeof(j.input) ||
		    memcmp(r.output_data, &j.input, sizeof(j.input)))
			problem(j, r, "echo lost or changed");
		break;
	case LARGE:
		if (r.status != TASK_STATUS_COMPLETED ||
		    r.output_size != (1u << 20) ||
		    static_cast<unsigned char *>(r.output_data)[12345] != 0x5c)
			problem(j, r, "large output lost");
		break;
	default:
		if (r.status != TASK_STATUS_COMPLETED)
			problem(j, r, "did not complete");
	}
}

Job make_job(std::mt19937_64 &rng)
{
	Job j;
	memset(&j, 0, sizeof(j));
	j.kind = static_cast<Kind>(rng() % KINDS);
	j.priority = static_cast<int>(rng() % TASK_PRIORITY_COUNT);
	j.input = static_cast<int64_t>(rng());
	if (j.kind == HANG)
		j.timeout_ms = 50 + static_cast<int>(rng() % 150);
	else if (rng() % 4 == 0)
		j.timeout_ms = 20 + static_cast<int>(rng() % 500);
	j.cancel = rng() % 8 == 0;
	return j;
}

task_desc_t desc_of(Job &j)
{
	task_desc_t d;
	memset(&d, 0, sizeof(d));
	d.task_func = func_of(j.kind);
	d.priority = static_cast<task_priority_t>(j.priority);
	d.timeout_ms = j.timeout_ms;
	if (j.kind == ECHO) {
		d.input_data = &j.input;
		d.input_size = sizeof(j.input);
	}
	if (j.kind == SLEEP)
		d.user_data = reinterpret_cast<void *>(1 + (j.input & 15));
	return d;
}

void run_thread(process_pool_t *p, uint64_t seed, int ops, int mode)
{
	std::mt19937_64 rng(seed);
	for (int n = 0; n < ops;) {
		if (mode == 0) { // sync
			Job j = make_job(rng);
			if (j.kind == HANG || j.cancel)
				continue; // nothing could cancel it
			task_desc_t d = desc_of(j);
			task_result_t r;
			ASSERT_EQ(0, pool_submit_sync(p, d.task_func,
						      d.input_data,
						      d.input_size, d.user_data,
						      d.priority, d.timeout_ms,
						      &r));
			check(j, r);
			pool_result_free(&r);
			n++;
			continue;
		}
		// async (mode 1) or batch (mode 2) of up to 16 jobs
		std::vector<Job> jobs(1 + rng() % 16);
		std::vector<task_desc_t> ds;
		for (auto &j : jobs)
			j = make_job(rng);
		for (auto &j : jobs)
			ds.push_back(desc_of(j));
		if (mode == 2) {
			task_future_t **fs =
			    pool_submit_batch(p, ds.data(), ds.size());
			ASSERT_NE(nullptr, fs);
			for (size_t i = 0; i < jobs.size(); i++)
				jobs[i].future = fs[i];
			free(fs);
		} else {
			for (size_t i = 0; i < jobs.size(); i++)
				jobs[i].future = pool_submit_async(
				    p, ds[i].task_func, ds[i].input_data,
				    ds[i].input_size, ds[i].user_data,
				    ds[i].priority, ds[i].timeout_ms);
		}
		if (rng() % 2)
			usleep(static_cast<useconds_t>(rng() % 2000));
		for (auto &j : jobs) {
			ASSERT_NE(nullptr, j.future);
			if (j.cancel)
				j.cancel_rc = pool_future_cancel(j.future);
		}
		for (auto &j : jobs) {
			task_result_t r;
			ASSERT_EQ(0, pool_future_wait(j.future, &r, 60000));
			check(j, r);
			pool_result_free(&r);
			pool_future_destroy(j.future);
		}
		n += static_cast<int>(jobs.size());
	}
}

TEST(Concurrency, EveryTaskEndsOnceAndOnTime)
{
	uint64_t seed = getenv("PP_SEED") ? strtoull(getenv("PP_SEED"), nullptr,
						     10)
					  : static_cast<uint64_t>(time(nullptr));
	printf("PP_SEED=%llu\n", (unsigned long long)seed);
	RecordProperty("seed", std::to_string(seed));
	for (auto &s : seen)
		s = 0;
	int fds = open_fds();
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.max_retries = 1; // a task that shared a dead worker runs again
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	const int ops = static_cast<int>(scaled(150));
	std::vector<std::thread> ts;
	for (int k = 0; k < 5; k++)
		ts.emplace_back(run_thread, p, seed * 7919 + k, ops, k % 3);
	for (auto &t : ts)
		t.join();
	for (auto &s : problems)
		ADD_FAILURE() << s;
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	uint64_t ended = st.tasks_completed + st.tasks_failed +
			 st.tasks_crashed + st.tasks_timed_out +
			 st.tasks_cancelled + st.tasks_rejected +
			 st.tasks_protocol_error + st.tasks_sandbox_violation +
			 st.tasks_resource_limit;
	EXPECT_EQ(st.tasks_submitted, ended);
	EXPECT_EQ(seen[TASK_STATUS_COMPLETED].load(), st.tasks_completed);
	EXPECT_EQ(seen[TASK_STATUS_CRASHED].load(), st.tasks_crashed);
	EXPECT_EQ(seen[TASK_STATUS_TIMEOUT].load(), st.tasks_timed_out);
	EXPECT_EQ(seen[TASK_STATUS_CANCELLED].load(), st.tasks_cancelled);
	EXPECT_EQ(0u, st.queue_depth);
	pool_destroy(p);
	EXPECT_TRUE(children().empty());
	EXPECT_EQ(fds, open_fds());
}

}  // namespace
