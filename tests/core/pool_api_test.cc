// Every public function against invalid arguments and wrong states: a
// clear error code, never a crash or a hang.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using pp_test::noop_task;

TEST(PoolApi, NullPoolEverywhere)
{
	task_result_t r;
	pool_stats_t s;
	task_desc_t d = {noop_task, nullptr, 0, nullptr,
			 TASK_PRIORITY_NORMAL, 0};

	EXPECT_EQ(POOL_EINVAL, pool_start(nullptr));
	EXPECT_EQ(POOL_EINVAL, pool_stop(nullptr, 0));
	pool_destroy(nullptr);
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(nullptr, noop_task, nullptr, 0,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(nullptr, noop_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(nullptr, pool_submit_batch(nullptr, &d, 1));
	EXPECT_EQ(POOL_EINVAL, pool_get_stats(nullptr, &s));
	EXPECT_EQ(POOL_EINVAL, pool_future_wait(nullptr, &r, 0));
	EXPECT_EQ(POOL_EINVAL, pool_future_cancel(nullptr));
	EXPECT_EQ(POOL_EINVAL, pool_future_done(nullptr));
	EXPECT_EQ(POOL_EINVAL, pool_future_fd(nullptr));
	pool_future_destroy(nullptr);
	pool_result_free(nullptr);
	EXPECT_EQ(nullptr, pool_output_alloc(16));  // not inside a task
}

TEST(PoolApi, AbsurdConfigsAreRefused)
{
	pool_config_t c;

	memset(&c, 0, sizeof(c));
	c.min_workers = 8;
	c.max_workers = 2;
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	memset(&c, 0, sizeof(c));
	c.worker_count = -1;
	EXPECT_EQ(nullptr, pool_create(&c));
	c.worker_count = 1 << 20;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.task_timeout = -5;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.queue_size = (size_t)1 << 40;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.log_level = 77;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	memset(c.pool_name, 'x', sizeof(c.pool_name));  // not terminated
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.max_in_flight = 100000;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.cpu_weight = 10001;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.cpu_max_percent = 100 * 4096 + 1;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.spawn_mode = 7;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.seccomp_learn = 2;
	EXPECT_EQ(nullptr, pool_create(&c));
	memset(&c, 0, sizeof(c));
	c.zygote = 2;
	EXPECT_EQ(nullptr, pool_create(&c));
	c.zygote = -2;
	EXPECT_EQ(nullptr, pool_create(&c));
}

TEST(PoolApi, ZeroConfigStartsWithDefaults)
{
	pool_config_t c;
	task_result_t r;

	memset(&c, 0, sizeof(c));
	strcpy(c.pool_name, "defaults");
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_GE(s.active_workers, 1);
	pool_destroy(p);
	p = pool_create(nullptr);  // NULL config: all defaults
	ASSERT_NE(nullptr, p);
	pool_destroy(p);  // never started
}

TEST(PoolApi, WrongStatesAndBadTaskArguments)
{
	pool_config_t c;
	task_result_t r;
	char buf[8] = {};

	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	// Not started yet.
	EXPECT_EQ(POOL_ESTATE, pool_submit_sync(p, noop_task, nullptr, 0,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(p, noop_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_NORMAL, 0));
	EXPECT_EQ(EBADFD, errno);
	EXPECT_EQ(POOL_ESTATE, pool_stop(p, 0));
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(POOL_ESTATE, pool_start(p));
	// Bad task arguments.
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(p, nullptr, nullptr, 0,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(p, noop_task, nullptr, 4,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(p, noop_task, buf, 8, nullptr,
						(task_priority_t)9, 0, &r));
	// -1 is POOL_NO_TIMEOUT; below it is refused.
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(p, noop_task, buf, 8, nullptr,
						TASK_PRIORITY_NORMAL, -2, &r));
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(p, noop_task, buf, 8, nullptr,
						TASK_PRIORITY_NORMAL, 0,
						nullptr));
	task_desc_t d[2] = {
		{noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0},
		{nullptr, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0},
	};
	EXPECT_EQ(nullptr, pool_submit_batch(p, d, 0));
	EXPECT_EQ(nullptr, pool_submit_batch(p, nullptr, 1));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_batch(p, d, 2));  // one bad entry
	EXPECT_EQ(EINVAL, errno);
	task_future_t *f = pool_submit_async(p, noop_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	EXPECT_EQ(POOL_EINVAL, pool_future_wait(f, nullptr, 0));
	ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
	EXPECT_EQ(POOL_ESTATE, pool_future_cancel(f));  // already ended
	pool_future_destroy(f);
	EXPECT_EQ(0, pool_stop(p, 1000));
	EXPECT_EQ(0, pool_stop(p, 1000));  // idempotent once stopped
	EXPECT_EQ(POOL_ESTATE, pool_submit_sync(p, noop_task, nullptr, 0,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	pool_destroy(p);
}

TEST(PoolApi, NamesAndErrors)
{
	for (int s = 0; s < TASK_STATUS_COUNT; s++)
		EXPECT_STRNE("UNKNOWN",
			     pool_task_status_str((task_status_t)s));
	EXPECT_STREQ("UNKNOWN", pool_task_status_str((task_status_t)99));
	EXPECT_STREQ("COMPLETED", pool_task_status_str(TASK_STATUS_COMPLETED));
	EXPECT_STREQ("invalid argument", pool_strerror(POOL_EINVAL));
	EXPECT_STREQ("POOL_ETIMEDOUT", pool_errname(POOL_ETIMEDOUT));
	EXPECT_STREQ("unknown error", pool_strerror(12345));
	EXPECT_EQ(POOL_EINVAL, pool_set_log_level(nullptr, 99));
	EXPECT_EQ(POOL_EINVAL, pool_set_log_level(nullptr, -1));
	EXPECT_EQ(POOL_EINVAL, pool_set_log_file(nullptr, ""));
	EXPECT_EQ(POOL_ESYS,
		  pool_set_log_file(nullptr, "/nonexistent/dir/log"));
	EXPECT_EQ(0, pool_set_log_file(nullptr, nullptr));
}

}  // namespace
