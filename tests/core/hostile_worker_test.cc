// Task code that scribbles over its own channel: the parent catches the
// protocol violation, fails that worker's task with PROTOCOL_ERROR,
// replaces the worker, and keeps serving everyone else.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

TEST(HostileWorker, ScribbledRingEndsProtocolError)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.seccomp_allow = "@file-read"; /* to find its channel in maps */
	reset_board();
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));

	task_future_t *evil = pool_submit_async(p, scribble_task, nullptr, 0,
						nullptr, TASK_PRIORITY_NORMAL,
						20000);
	ASSERT_NE(nullptr, evil);
	for (int i = 0; i < 10000 && board()->started == 0; i++)
		usleep(1000);
	ASSERT_EQ(1, board()->started.load());
	// Queued work wakes the supervisor, which then looks at every
	// channel (a scribbler that never wakes it is found by the deadline
	// or the periodic timer instead).
	task_result_t r;
	for (int i = 0; i < 20; i++) {
		int64_t v = i;
		task_future_t *f = pool_submit_async(p, square_task, &v,
						     sizeof(v), nullptr,
						     TASK_PRIORITY_NORMAL, 0);
		ASSERT_NE(nullptr, f);
		ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		pool_result_free(&r);
		pool_future_destroy(f);
	}
	ASSERT_EQ(0, pool_future_wait(evil, &r, 20000));
	EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r.status);
	EXPECT_NE(nullptr, strstr(r.detail, "peer index"));
	pool_future_destroy(evil);
	pool_stats_t s;
	for (int i = 0; i < 5000; i++) {  // the replacement follows the kill
		ASSERT_EQ(0, pool_get_stats(p, &s));
		if (s.worker_restarts >= 1 && s.active_workers == 2)
			break;
		usleep(1000);
	}
	EXPECT_EQ(1u, s.tasks_protocol_error);
	EXPECT_GE(s.worker_restarts, 1u);
	EXPECT_EQ(2, s.active_workers);
	pool_destroy(p);
}

}  // namespace
