// Helpers shared by the test suites.
#ifndef PP_TESTS_UTIL_TEST_UTIL_H
#define PP_TESTS_UTIL_TEST_UTIL_H

#include <sys/types.h>

#include <cstddef>
#include <functional>

namespace pp_test {

// Runs fn in a forked child that exits with fn's return value (or 99 if it
// throws). The child dies with the test process. Returns the child's pid.
pid_t spawn_child(const std::function<int()> &fn);

// Waits for that child; returns its exit code, 128 + signal if it was
// killed, or -1 when it did not end within timeout_ms (it is then killed).
int wait_child(pid_t pid, int timeout_ms);

// Returns the child's exit code (as wait_child) if it has ended, without
// waiting or killing it, or -1 while it still runs.
int poll_child(pid_t pid);

// Scales an iteration count down under sanitizers, which slow things 5-20x.
size_t scaled(size_t n);

// Entries in /proc/self/fd now (for leak checks).
int open_fds();

// Shared anonymous memory, visible across fork; freed with unmap_shared.
void *map_shared(size_t size);
void unmap_shared(void *p, size_t size);

}  // namespace pp_test

#endif  // PP_TESTS_UTIL_TEST_UTIL_H
