// SHUTDOWN is a request: a worker taken over by its task can ignore it.
// A worker retired while idle (here by max_tasks_per_worker) that does
// not exit is killed after a grace period, and its slot serves again.
#include <gtest/gtest.h>

#include <cstring>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/hostile/isolation_tasks.h"

namespace
{

TEST(Retire, AWorkerThatIgnoresShutdownLosesItsSlot)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.max_workers = 1;
	c.max_tasks_per_worker = 1; /* retired after its first task */
	c.seccomp_allow = "@file-read"; /* the impostor finds its channel */
	strcpy(c.pool_name, "retire");
	pp_test::reset_board();
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));

	// Reports itself done, then serves as the worker loop, answering
	// pings and ignoring SHUTDOWN.
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, pp_hostile::hijack_task, nullptr, 0,
				      nullptr, TASK_PRIORITY_NORMAL, 10000, &r));
	pool_result_free(&r);
	// The only slot must come back for an honest task. Without the
	// grace kill the retiring impostor holds it until this deadline.
	ASSERT_EQ(0, pool_submit_sync(p, pp_test::noop_task, nullptr, 0,
				      nullptr, TASK_PRIORITY_NORMAL, 20000, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_NE(PP_HIJACK_RC, r.return_code) << "the impostor answered";
	pool_result_free(&r);
	pool_destroy(p);
}

} // namespace
