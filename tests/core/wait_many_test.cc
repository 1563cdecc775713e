// Waiting on many futures: pool_wait_any, pool_wait_all, wait sets,
// completion callbacks and task ids; under concurrency (threads waiting on
// overlapping sets, callbacks racing with cancels) every future ends once,
// each callback runs once, and each set returns each future once.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

using pp_test::blocker_task;
using pp_test::board;
using pp_test::noop_task;
using pp_test::square_task;

namespace {

class WaitMany : public ::testing::Test {
      protected:
	void SetUp() override
	{
		pool_config_t cfg;

		pp_test::reset_board();
		memset(&cfg, 0, sizeof(cfg));
		cfg.worker_count = 2;
		cfg.cgroup_mode = POOL_CGROUP_OFF;
		pool_ = pool_create(&cfg);
		ASSERT_NE(pool_, nullptr);
		ASSERT_EQ(pool_start(pool_), 0);
	}

	void TearDown() override
	{
		board()->release = 1;
		pool_destroy(pool_);
	}

	task_future_t *Submit(task_func_t fn, int64_t in = 3)
	{
		task_future_t *f =
		    pool_submit_async(pool_, fn, &in, sizeof(in), nullptr,
				      TASK_PRIORITY_NORMAL, 0);
		EXPECT_NE(f, nullptr);
		return f;
	}

	process_pool_t *pool_ = nullptr;
};

TEST_F(WaitMany, TaskIdIsTheResultsFromSubmitOn)
{
	task_future_t *f = Submit(square_task);
	uint64_t id = pool_future_task_id(f);
	task_result_t r;

	EXPECT_NE(id, 0u);
	ASSERT_EQ(pool_future_wait(f, &r, -1), 0);
	EXPECT_EQ(r.task_id, id);
	pool_result_free(&r);
	pool_future_destroy(f);
	EXPECT_EQ(pool_future_task_id(nullptr), 0u);
}

TEST_F(WaitMany, TheOutputHasOneOwnerAndLaterWaitsSaySo)
{
	task_future_t *f = Submit(square_task, 7);
	task_result_t r, again;

	ASSERT_EQ(pool_future_wait(f, &r, -1), 0);
	ASSERT_EQ(r.output_size, sizeof(int64_t));
	EXPECT_EQ(*static_cast<int64_t *>(r.output_data), 49);
	EXPECT_EQ(pool_future_wait(f, &again, -1), POOL_EALREADY);
	EXPECT_EQ(again.status, TASK_STATUS_COMPLETED);
	EXPECT_EQ(again.output_data, nullptr);
	EXPECT_EQ(again.task_id, r.task_id);
	pool_result_free(&r);
	pool_future_destroy(f);

	// Without output, every wait reads the same result.
	f = Submit(noop_task);
	ASSERT_EQ(pool_future_wait(f, &r, -1), 0);
	EXPECT_EQ(pool_future_wait(f, &again, -1), 0);
	EXPECT_EQ(again.status, TASK_STATUS_COMPLETED);
	pool_future_destroy(f);
	EXPECT_STREQ(pool_errname(POOL_EALREADY), "POOL_EALREADY");
}

TEST_F(WaitMany, StatusReadsTheOutcomeAndLeavesTheOutput)
{
	task_future_t *b = Submit(blocker_task);
	task_future_t *f = Submit(square_task, 5);
	task_result_t r;

	EXPECT_EQ(pool_future_status(nullptr), POOL_EINVAL);
	EXPECT_EQ(pool_future_status(b), TASK_STATUS_PENDING);
	ASSERT_EQ(pool_wait_all(&f, 1, -1), 0);
	EXPECT_EQ(pool_future_status(f), TASK_STATUS_COMPLETED);
	ASSERT_EQ(pool_future_wait(f, &r, 0), 0);
	ASSERT_NE(r.output_data, nullptr);
	EXPECT_EQ(*static_cast<int64_t *>(r.output_data), 25);
	pool_result_free(&r);
	ASSERT_EQ(pool_future_cancel(b), 0);
	EXPECT_EQ(pool_future_status(b), TASK_STATUS_CANCELLED);
	pool_future_destroy(f);
	pool_future_destroy(b);
}

TEST_F(WaitMany, WaitAnyReturnsAnEndedOneAndWaitAllEvery)
{
	task_future_t *f[3] = {Submit(blocker_task), Submit(noop_task),
			       Submit(blocker_task)};
	size_t index = 99;

	ASSERT_EQ(pool_wait_any(f, 3, -1, &index), 0);
	EXPECT_EQ(index, 1u);
	EXPECT_EQ(pool_future_done(f[1]), 1);
	task_future_t *blocked[2] = {f[0], f[2]};
	EXPECT_EQ(pool_wait_any(blocked, 2, 0, &index), POOL_ETIMEDOUT);
	EXPECT_EQ(pool_wait_any(blocked, 2, 30, &index), POOL_ETIMEDOUT);
	EXPECT_EQ(pool_wait_all(f, 3, 30), POOL_ETIMEDOUT);
	board()->release = 1;
	ASSERT_EQ(pool_wait_all(f, 3, -1), 0);
	for (auto *x : f) {
		EXPECT_EQ(pool_future_done(x), 1);
		pool_future_destroy(x);
	}
}

TEST_F(WaitMany, BadArgumentsAreRefused)
{
	task_future_t *f = Submit(noop_task);
	task_future_t *with_null[2] = {f, nullptr};
	size_t index;

	EXPECT_EQ(pool_wait_any(nullptr, 1, 0, &index), POOL_EINVAL);
	EXPECT_EQ(pool_wait_any(&f, 0, 0, &index), POOL_EINVAL);
	EXPECT_EQ(pool_wait_any(&f, 1, 0, nullptr), POOL_EINVAL);
	EXPECT_EQ(pool_wait_any(with_null, 2, 0, &index), POOL_EINVAL);
	EXPECT_EQ(pool_wait_all(nullptr, 1, 0), POOL_EINVAL);
	EXPECT_EQ(pool_wait_all(with_null, 2, 0), POOL_EINVAL);
	EXPECT_EQ(pool_future_on_done(nullptr, nullptr, nullptr),
		  POOL_EINVAL);
	EXPECT_EQ(pool_future_on_done(f, nullptr, nullptr), POOL_EINVAL);
	EXPECT_EQ(pool_wait_set_add(nullptr, f), POOL_EINVAL);
	EXPECT_EQ(pool_wait_set_next(nullptr, 0, &f), POOL_EINVAL);
	EXPECT_EQ(pool_wait_set_fd(nullptr), POOL_EINVAL);
	EXPECT_EQ(pool_wait_set_count(nullptr), 0u);
	pool_wait_set_destroy(nullptr);
	ASSERT_EQ(pool_wait_all(&f, 1, -1), 0);
	pool_future_destroy(f);
}

TEST_F(WaitMany, AWaitSetReturnsEachFutureOnceAsItEnds)
{
	pool_wait_set_t *s = pool_wait_set_create();
	std::set<task_future_t *> added, got;
	task_future_t *f;

	ASSERT_NE(s, nullptr);
	for (int i = 0; i < 40; i++) {
		f = Submit(square_task, i);
		added.insert(f);
		ASSERT_EQ(pool_wait_set_add(s, f), 0);
	}
	// Last, so that no square waits behind it on its worker.
	task_future_t *blocked = Submit(blocker_task);
	ASSERT_EQ(pool_wait_set_add(s, blocked), 0);
	EXPECT_EQ(pool_wait_set_count(s), 41u);
	for (int i = 0; i < 40; i++) {
		struct pollfd p = {pool_wait_set_fd(s), POLLIN, 0};

		ASSERT_EQ(poll(&p, 1, 10000), 1); // readable once one ended
		ASSERT_EQ(pool_wait_set_next(s, -1, &f), 0);
		EXPECT_TRUE(got.insert(f).second) << "returned twice";
		EXPECT_EQ(pool_future_done(f), 1);
	}
	EXPECT_EQ(got, added);
	// Only the blocked one is left: nothing ready, the fd is quiet.
	EXPECT_EQ(pool_wait_set_next(s, 0, &f), POOL_ETIMEDOUT);
	struct pollfd p = {pool_wait_set_fd(s), POLLIN, 0};
	EXPECT_EQ(poll(&p, 1, 0), 0);
	board()->release = 1;
	ASSERT_EQ(pool_wait_set_next(s, -1, &f), 0);
	EXPECT_EQ(f, blocked);
	EXPECT_EQ(pool_wait_set_next(s, -1, &f), POOL_ESTATE); // empty
	// An ended future goes straight to the ready list.
	ASSERT_EQ(pool_wait_set_add(s, blocked), 0);
	ASSERT_EQ(pool_wait_set_next(s, 0, &f), 0);
	EXPECT_EQ(f, blocked);
	for (auto *x : added)
		pool_future_destroy(x);
	pool_future_destroy(blocked);
	pool_wait_set_destroy(s);
}

// Two takers asleep on a set of one: the one that does not get it learns
// that the set is empty instead of sleeping on.
TEST_F(WaitMany, TakersLeftOverAreToldTheSetIsEmpty)
{
	pool_wait_set_t *s = pool_wait_set_create();
	task_future_t *f = Submit(blocker_task);
	std::atomic<int> got{0}, empty{0};

	ASSERT_NE(s, nullptr);
	ASSERT_EQ(pool_wait_set_add(s, f), 0);
	auto take = [&] {
		task_future_t *g;
		int rc = pool_wait_set_next(s, -1, &g);

		(rc == 0 ? got : empty)++;
	};
	std::thread a(take), b(take);
	usleep(100 * 1000); // most likely both asleep by now
	board()->release = 1;
	for (int i = 0; i < 3000 && got + empty < 2; i++)
		usleep(10000);
	EXPECT_EQ(got, 1);
	EXPECT_EQ(empty, 1) << "a taker slept on after the set emptied";
	if (got + empty < 2) { // rescue the sleeper
		task_future_t *g = Submit(noop_task);
		ASSERT_EQ(pool_wait_all(&g, 1, -1), 0);
		pool_wait_set_add(s, g);
		a.join();
		b.join();
		pool_future_destroy(g);
	} else {
		a.join();
		b.join();
	}
	pool_future_destroy(f);
	pool_wait_set_destroy(s);
}

TEST_F(WaitMany, DestroyingASetReleasesWhatItHolds)
{
	pool_wait_set_t *s = pool_wait_set_create();
	task_future_t *f = Submit(blocker_task);

	ASSERT_NE(s, nullptr);
	ASSERT_EQ(pool_wait_set_add(s, f), 0);
	pool_wait_set_destroy(s); // f still pending, still the caller's
	board()->release = 1;
	task_result_t r;
	ASSERT_EQ(pool_future_wait(f, &r, -1), 0);
	EXPECT_EQ(r.status, TASK_STATUS_COMPLETED);
	pool_future_destroy(f);
}

struct CallbackLog {
	std::atomic<int> runs{0};
	std::atomic<bool> on_caller{false};
	pthread_t caller;
};

void count_cb(task_future_t *, void *arg)
{
	CallbackLog *log = static_cast<CallbackLog *>(arg);

	if (pthread_equal(pthread_self(), log->caller))
		log->on_caller = true;
	log->runs++;
}

TEST_F(WaitMany, ACallbackRunsOnceInTheThreadThatEndsTheTask)
{
	CallbackLog pending, ended;

	pending.caller = ended.caller = pthread_self();
	task_future_t *f = Submit(blocker_task);
	ASSERT_EQ(pool_future_on_done(f, count_cb, &pending), 0);
	EXPECT_EQ(pool_future_on_done(f, count_cb, &pending), POOL_ESTATE);
	board()->release = 1;
	ASSERT_EQ(pool_wait_all(&f, 1, -1), 0);
	for (int i = 0; i < 10000 && pending.runs == 0; i++)
		usleep(1000); // waiters are woken before the callback runs
	EXPECT_EQ(pending.runs, 1);
	EXPECT_FALSE(pending.on_caller); // the supervisor ran it

	// Already ended: here, before pool_future_on_done returns.
	ASSERT_EQ(pool_future_on_done(f, count_cb, &ended), POOL_ESTATE);
	task_future_t *g = Submit(noop_task);
	ASSERT_EQ(pool_wait_all(&g, 1, -1), 0);
	ASSERT_EQ(pool_future_on_done(g, count_cb, &ended), 0);
	EXPECT_EQ(ended.runs, 1);
	EXPECT_TRUE(ended.on_caller);
	pool_future_destroy(f);
	pool_future_destroy(g);
}

struct Rules {
	process_pool_t *pool;
	task_future_t *pending;
	std::atomic<int> sync_rc{1}, stop_rc{1}, wait_rc{1}, any_rc{1},
	    own_rc{1}, done{0};
};

// Tries what a callback must not do; each comes back POOL_ESTATE.
void rules_cb(task_future_t *self, void *arg)
{
	Rules *r = static_cast<Rules *>(arg);
	task_result_t res;
	size_t index;

	r->sync_rc = pool_submit_sync(r->pool, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &res);
	r->stop_rc = pool_stop(r->pool, 0);
	r->wait_rc = pool_future_wait(r->pending, &res, -1);
	r->any_rc = pool_wait_any(&r->pending, 1, -1, &index);
	pool_destroy(r->pool); // refused, logged
	r->own_rc = pool_future_wait(self, &res, 0);
	pool_result_free(&res);
	pool_future_destroy(self); // the callback owned it
	r->done = 1;
}

TEST_F(WaitMany, ACallbackCannotBlockOrStopThePool)
{
	Rules r;

	r.pool = pool_;
	r.pending = Submit(blocker_task);
	task_future_t *f = Submit(square_task);
	ASSERT_EQ(pool_future_on_done(f, rules_cb, &r), 0);
	for (int i = 0; i < 10000 && !r.done; i++)
		usleep(1000);
	ASSERT_TRUE(r.done);
	EXPECT_EQ(r.sync_rc, POOL_ESTATE);
	EXPECT_EQ(r.stop_rc, POOL_ESTATE);
	EXPECT_EQ(r.wait_rc, POOL_ESTATE);
	EXPECT_EQ(r.any_rc, POOL_ESTATE);
	EXPECT_EQ(r.own_rc, 0);
	// The pool still serves.
	task_result_t res;
	ASSERT_EQ(pool_submit_sync(pool_, noop_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &res),
		  0);
	EXPECT_EQ(res.status, TASK_STATUS_COMPLETED);
	board()->release = 1;
	pool_future_destroy(r.pending);
}

void tally_cb(task_future_t *, void *arg)
{
	static_cast<std::atomic<int> *>(arg)->fetch_add(1);
}

// Threads waiting on overlapping slices, a thread cancelling, callbacks
// set while tasks end and get cancelled, two threads taking from one set:
// every callback once, every future out of the set once.
TEST_F(WaitMany, OverlappingWaitersCallbacksAndCancelsUnderRace)
{
	constexpr int kN = 96;
	std::vector<task_future_t *> f(kN);
	std::vector<std::atomic<int>> calls(kN);
	pool_wait_set_t *s = pool_wait_set_create();

	ASSERT_NE(s, nullptr);
	for (int i = 0; i < kN; i++) {
		f[i] = Submit(i % 3 ? square_task : blocker_task, i);
		ASSERT_NE(f[i], nullptr);
		calls[i] = 0;
	}
	std::vector<std::thread> threads;
	// Callbacks set while the tasks end.
	threads.emplace_back([&] {
		for (int i = 0; i < kN; i++)
			EXPECT_EQ(pool_future_on_done(f[i], tally_cb, &calls[i]),
				  0);
	});
	// A canceller racing with them and with the ends.
	threads.emplace_back([&] {
		for (int i = 0; i < kN; i += 2) {
			int rc = pool_future_cancel(f[i]);

			EXPECT_TRUE(rc == 0 || rc == POOL_ESTATE) << rc;
		}
		board()->release = 1;
	});
	// Waiters on overlapping slices.
	for (int t = 0; t < 4; t++)
		threads.emplace_back([&, t] {
			int from = t * kN / 8, len = kN / 2;
			size_t index;

			ASSERT_EQ(pool_wait_any(&f[from], (size_t)len, -1,
						&index),
				  0);
			ASSERT_EQ(pool_future_done(f[from + index]), 1);
			ASSERT_EQ(pool_wait_all(&f[from], (size_t)len, -1), 0);
		});
	for (int i = 0; i < kN; i++)
		ASSERT_EQ(pool_wait_set_add(s, f[i]), 0);
	std::atomic<int> taken{0};
	std::vector<std::atomic<int>> seen(kN);
	for (auto &x : seen)
		x = 0;
	for (int t = 0; t < 2; t++)
		threads.emplace_back([&] {
			task_future_t *g;

			while (pool_wait_set_next(s, -1, &g) == 0) {
				for (int i = 0; i < kN; i++)
					if (f[i] == g)
						seen[i]++;
				taken++;
			}
		});
	for (auto &t : threads)
		t.join();
	EXPECT_EQ(taken, kN);
	for (int i = 0; i < kN; i++) {
		EXPECT_EQ(seen[i], 1) << i;
		EXPECT_EQ(pool_future_done(f[i]), 1);
	}
	pool_wait_set_destroy(s);
	// Callbacks run after the waiters are woken: give them their turn.
	for (int i = 0; i < kN; i++) {
		for (int k = 0; k < 10000 && calls[i] == 0; k++)
			usleep(1000);
		EXPECT_EQ(calls[i], 1) << i;
		pool_future_destroy(f[i]);
	}
}

} // namespace
