// A host that loads the library with dlopen (a plugin, a language
// runtime): fork-mode pools work, and a clean-room pool is refused at
// pool_create, naming why, because a fresh exec of the host would not
// load the library and would run the host's own main instead of the
// worker. The library is the Bazel-built libprocesspool.so; this binary
// does not link it.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "process_pool.h"

namespace {

int seven_task(void *, size_t, void **, size_t *, void *)
{
	return 7;
}

struct Api {
	void *handle = nullptr;
	process_pool_t *(*create)(const pool_config_t *) = nullptr;
	int (*start)(process_pool_t *) = nullptr;
	void (*destroy)(process_pool_t *) = nullptr;
	int (*sync)(process_pool_t *, task_func_t, void *, size_t, void *,
		    task_priority_t, int, task_result_t *) = nullptr;
};

std::string library_path()
{
	const char *dir = getenv("TEST_SRCDIR");
	const char *ws = getenv("TEST_WORKSPACE");
	return std::string(dir ? dir : ".") + "/" +
	       (ws ? ws : "processpool") + "/libprocesspool.so";
}

bool load(Api *a)
{
	a->handle = dlopen(library_path().c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!a->handle)
		return false;
	a->create = reinterpret_cast<decltype(a->create)>(
	    dlsym(a->handle, "pool_create"));
	a->start = reinterpret_cast<decltype(a->start)>(
	    dlsym(a->handle, "pool_start"));
	a->destroy = reinterpret_cast<decltype(a->destroy)>(
	    dlsym(a->handle, "pool_destroy"));
	a->sync = reinterpret_cast<decltype(a->sync)>(
	    dlsym(a->handle, "pool_submit_sync"));
	return a->create && a->start && a->destroy && a->sync;
}

TEST(DlopenHost, ForkPoolsWorkCleanRoomIsRefused)
{
	Api api;
	ASSERT_TRUE(load(&api)) << library_path() << ": " << dlerror();

	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	process_pool_t *p = api.create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, api.start(p));
	task_result_t r;
	ASSERT_EQ(0, api.sync(p, seven_task, nullptr, 0, nullptr,
			      TASK_PRIORITY_NORMAL, 10000, &r));
	EXPECT_EQ(TASK_STATUS_FAILED, r.status) << r.detail;
	EXPECT_EQ(7, r.return_code);
	api.destroy(p);

	c.spawn_mode = POOL_SPAWN_CLEANROOM;
	errno = 0;
	EXPECT_EQ(nullptr, api.create(&c));
	EXPECT_EQ(EINVAL, errno);
}

}  // namespace
