// PROCESS_POOL_LOG_LEVEL sets the initial log level. The variable is set
// before main, as a service's environment would be.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

const int env_set = setenv("PROCESS_POOL_LOG_LEVEL", "debug", 1);

TEST(LogEnv, DebugLevelFromEnvironment)
{
	ASSERT_EQ(0, env_set);
	char path[] = "/tmp/pp_env_log_XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(0, pool_set_log_file(nullptr, path));
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	strcpy(c.pool_name, "envpool");
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	pool_destroy(p);
	ASSERT_EQ(0, pool_set_log_file(nullptr, nullptr));
	std::ifstream in(path);
	std::stringstream all;
	all << in.rdbuf();
	// worker_spawned is logged at debug level only.
	EXPECT_NE(std::string::npos,
		  all.str().find("level=debug pool=envpool"));
	EXPECT_NE(std::string::npos, all.str().find("event=worker_spawned"));
	unlink(path);
}

}  // namespace
