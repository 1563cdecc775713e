// Per-pool logging: pool_set_log_level(pool, ...) and
// pool_set_log_file(pool, ...) route one pool's lines without touching the
// others', NULL sets the process-wide defaults, and pool_config_t.log_level
// is the pool's own level.
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

using namespace pp_test;

std::string read_all(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream all;
	all << in.rdbuf();
	return all.str();
}

bool has(const std::string &hay, const std::string &needle)
{
	return hay.find(needle) != std::string::npos;
}

class PoolLog : public ::testing::Test
{
      protected:
	std::string TempFile()
	{
		char path[] = "/tmp/pp_pool_log_XXXXXX";
		int fd = mkstemp(path);
		EXPECT_GE(fd, 0);
		close(fd);
		files_.push_back(path);
		return path;
	}
	process_pool_t *Create(const char *name, int level = 0)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.log_level = level;
		strcpy(c.pool_name, name);
		process_pool_t *p = pool_create(&c);
		EXPECT_NE(nullptr, p);
		return p;
	}
	void Crash(process_pool_t *p)
	{
		task_result_t r;
		ASSERT_EQ(0, pool_submit_sync(p, segv_task, nullptr, 0, nullptr,
					      TASK_PRIORITY_NORMAL, 0, &r));
		ASSERT_EQ(TASK_STATUS_CRASHED, r.status);
	}
	void SetUp() override
	{
		global_ = TempFile();
		ASSERT_EQ(0, pool_set_log_file(nullptr, global_.c_str()));
		ASSERT_EQ(0, pool_set_log_level(nullptr, LOG_LEVEL_WARN));
	}
	void TearDown() override
	{
		pool_set_log_file(nullptr, nullptr);
		pool_set_log_level(nullptr, LOG_LEVEL_DEFAULT);
		for (const std::string &f : files_)
			unlink(f.c_str());
	}

	std::string global_;
	std::vector<std::string> files_;
};

TEST_F(PoolLog, OnePoolsFileAndLevelLeaveTheOthersAlone)
{
	std::string mine = TempFile();
	process_pool_t *a = Create("alpha");
	process_pool_t *b = Create("beta");
	ASSERT_NE(nullptr, a);
	ASSERT_NE(nullptr, b);
	ASSERT_EQ(0, pool_set_log_level(a, LOG_LEVEL_DEBUG));
	ASSERT_EQ(0, pool_set_log_file(a, mine.c_str()));
	ASSERT_EQ(0, pool_start(a));
	ASSERT_EQ(0, pool_start(b));
	Crash(a);
	Crash(b);
	pool_destroy(a);
	pool_destroy(b);
	std::string own = read_all(mine), shared = read_all(global_);
	// alpha: debug and up, in its file only.
	EXPECT_TRUE(has(own, "level=debug pool=alpha")) << own;
	EXPECT_TRUE(has(own, "pool=alpha pid=")) << own;
	EXPECT_TRUE(has(own, "event=task_end")) << own; // info
	EXPECT_FALSE(has(own, "pool=beta")) << own;
	// Only what alpha logged at pool_create, before it had a file of
	// its own, may be in the shared one.
	EXPECT_FALSE(has(shared, "pool=alpha pid=") &&
		     !has(shared, "event=worker_uid_off"))
	    << shared;
	EXPECT_FALSE(has(shared, "level=info pool=alpha")) << shared;
	// beta: the process-wide file and level (warn: worker_exit, no
	// info or debug lines).
	EXPECT_TRUE(has(shared, "level=warn pool=beta")) << shared;
	EXPECT_FALSE(has(shared, "level=info")) << shared;
	EXPECT_FALSE(has(shared, "level=debug")) << shared;
}

TEST_F(PoolLog, ConfigLevelIsThePoolsOwn)
{
	process_pool_t *loud = Create("loud", LOG_LEVEL_DEBUG);
	process_pool_t *quiet = Create("quiet");
	ASSERT_NE(nullptr, loud);
	ASSERT_NE(nullptr, quiet);
	ASSERT_EQ(0, pool_start(loud));
	ASSERT_EQ(0, pool_start(quiet));
	pool_destroy(loud);
	pool_destroy(quiet);
	std::string shared = read_all(global_);
	EXPECT_TRUE(has(shared, "level=debug pool=loud")) << shared;
	EXPECT_FALSE(has(shared, "pool=quiet")) << shared;
}

TEST_F(PoolLog, BackToTheProcessWideSinkAndLevel)
{
	std::string mine = TempFile();
	process_pool_t *a = Create("gamma");
	process_pool_t *b = Create("zeta");
	ASSERT_NE(nullptr, a);
	ASSERT_NE(nullptr, b);
	ASSERT_EQ(0, pool_set_log_file(a, mine.c_str()));
	ASSERT_EQ(0, pool_set_log_level(a, LOG_LEVEL_INFO));
	ASSERT_EQ(0, pool_start(a));
	ASSERT_EQ(0, pool_set_log_file(a, nullptr));
	Crash(a);
	// The stop joins the supervisor: task_end is written by then, at
	// gamma's level (info), into the shared file.
	ASSERT_EQ(0, pool_stop(a, 1000));
	pool_destroy(a);
	// zeta's own info level, then back to the process-wide warn before
	// its info pool_started line.
	ASSERT_EQ(0, pool_set_log_level(b, LOG_LEVEL_INFO));
	ASSERT_EQ(0, pool_set_log_level(b, LOG_LEVEL_DEFAULT));
	ASSERT_EQ(0, pool_start(b));
	pool_destroy(b);
	std::string own = read_all(mine), shared = read_all(global_);
	EXPECT_TRUE(has(own, "event=pool_started")) << own;
	EXPECT_FALSE(has(own, "event=task_end")) << own;
	EXPECT_TRUE(has(shared, "pool=gamma pid=")) << shared;
	EXPECT_TRUE(has(shared, "event=task_end")) << shared;
	EXPECT_TRUE(has(shared, "event=pool_stopped")) << shared;
	EXPECT_FALSE(has(shared, "pool=zeta")) << shared;
}

TEST_F(PoolLog, SamePathAgainReopensForRotation)
{
	std::string mine = TempFile(), rotated = mine + ".1";
	files_.push_back(rotated);
	process_pool_t *a = Create("delta", LOG_LEVEL_INFO);
	ASSERT_NE(nullptr, a);
	ASSERT_EQ(0, pool_set_log_file(a, mine.c_str()));
	ASSERT_EQ(0, pool_start(a));
	ASSERT_EQ(0, rename(mine.c_str(), rotated.c_str()));
	ASSERT_EQ(0, pool_set_log_file(a, mine.c_str()));
	Crash(a);
	pool_destroy(a);
	std::string before = read_all(rotated), after = read_all(mine);
	EXPECT_TRUE(has(before, "event=pool_started")) << before;
	EXPECT_FALSE(has(before, "event=task_end")) << before;
	EXPECT_TRUE(has(after, "event=task_end")) << after;
}

TEST_F(PoolLog, BadArguments)
{
	process_pool_t *a = Create("epsilon");
	ASSERT_NE(nullptr, a);
	EXPECT_EQ(POOL_EINVAL, pool_set_log_level(a, -1));
	EXPECT_EQ(POOL_EINVAL, pool_set_log_level(a, LOG_LEVEL_NONE + 1));
	EXPECT_EQ(POOL_EINVAL, pool_set_log_file(a, ""));
	EXPECT_EQ(POOL_ESYS, pool_set_log_file(a, "/nonexistent/dir/log"));
	EXPECT_EQ(0, pool_set_log_file(a, nullptr)); // nothing to undo
	EXPECT_EQ(0, pool_set_log_level(a, LOG_LEVEL_DEFAULT));
	EXPECT_EQ(0, pool_set_log_level(nullptr, LOG_LEVEL_DEFAULT));
	pool_destroy(a);
}

} // namespace
