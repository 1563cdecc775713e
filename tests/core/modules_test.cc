// The startup module table: code addresses to (module, offset) and back,
// and what it refuses.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

#include "src/core/modules.h"
#include "tests/core/tasks.h"

namespace {

int local_task(void *, size_t, void **, size_t *, void *)
{
	return 0;
}

TEST(Modules, StartupTableHoldsTheExecutableFirst)
{
	const pp_module_table *t = pp_modules_startup();
	ASSERT_NE(nullptr, t);
	ASSERT_GE(t->count, 2u); /* the executable and at least libc */
	uint64_t ref;
	ASSERT_EQ(0, pp_modules_ref(t, (uintptr_t)&local_task, &ref));
	EXPECT_EQ(0u, ref >> PP_FUNC_REF_INDEX_SHIFT);
}

TEST(Modules, ReferencesRoundTrip)
{
	const pp_module_table *t = pp_modules_startup();
	ASSERT_NE(nullptr, t);
	const uintptr_t code[] = {(uintptr_t)&local_task,
				  (uintptr_t)&pp_test::square_task,
				  (uintptr_t)&pp_modules_resolve,
				  (uintptr_t)&abort};
	for (uintptr_t addr : code) {
		uint64_t ref;
		ASSERT_EQ(0, pp_modules_ref(t, addr, &ref)) << std::hex << addr;
		EXPECT_EQ(addr, pp_modules_resolve(t, ref)) << std::hex << ref;
	}
}

TEST(Modules, NonCodeAndBadReferencesAreRefused)
{
	const pp_module_table *t = pp_modules_startup();
	ASSERT_NE(nullptr, t);
	static int data;
	void *heap = malloc(16);
	void *anon = mmap(nullptr, 4096, PROT_READ | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	uint64_t ref = 0;
	EXPECT_EQ(-ENOENT, pp_modules_ref(t, (uintptr_t)heap, &ref));
	EXPECT_EQ(-ENOENT, pp_modules_ref(t, (uintptr_t)anon, &ref));
	EXPECT_EQ(-ENOENT, pp_modules_ref(t, (uintptr_t)&data, &ref));
	EXPECT_EQ(-ENOENT, pp_modules_ref(nullptr, (uintptr_t)&abort, &ref));
	free(heap);
	munmap(anon, 4096);

	// An index past the table, an offset past the module's code.
	EXPECT_EQ(0u, pp_modules_resolve(
			  t, (uint64_t)t->count << PP_FUNC_REF_INDEX_SHIFT));
	EXPECT_EQ(0u, pp_modules_resolve(t, PP_FUNC_REF_OFFSET_MASK));
	EXPECT_EQ(0u, pp_modules_resolve(t, ~uint64_t{0}));
	EXPECT_EQ(0u, pp_modules_resolve(nullptr, 0));
}

}  // namespace
