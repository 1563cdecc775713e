// Task functions shared by the engine tests. They run in worker processes;
// the shared board (MAP_SHARED before pool_create) lets them report back.
#ifndef PP_TESTS_CORE_TASKS_H
#define PP_TESTS_CORE_TASKS_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <sys/types.h>

#include "process_pool.h"

namespace pp_test {

struct Board {
	std::atomic<int> started;
	std::atomic<int> order_next;
	std::atomic<int> order[256];  // task tag per start, in start order
	std::atomic<int> attempts;
	std::atomic<int> release;     // blockers spin until non-zero
};

// The board, shared with workers; created on first use, before any pool.
Board *board();
void reset_board();

int noop_task(void *, size_t, void **, size_t *, void *);
// Returns input * input for an 8-byte integer input, as malloc'd output.
int square_task(void *in, size_t n, void **out, size_t *out_n, void *);
// Echoes its input back through pool_output_alloc (zero copy).
int echo_task(void *in, size_t n, void **out, size_t *out_n, void *);
// Echoes through malloc.
int echo_malloc_task(void *in, size_t n, void **out, size_t *out_n, void *);
// Returns (intptr_t)user_data as the return code.
int return_code_task(void *, size_t, void **, size_t *, void *ud);
int segv_task(void *, size_t, void **, size_t *, void *);
int hang_task(void *, size_t, void **, size_t *, void *);
// Sleeps (int)(intptr_t)user_data milliseconds, then crashes.
int sleep_then_segv_task(void *, size_t, void **, size_t *, void *ud);
// Sleeps (int)(intptr_t)user_data milliseconds.
int sleep_task(void *, size_t, void **, size_t *, void *ud);
// Records its tag ((intptr_t)user_data) in board()->order when it starts.
int record_task(void *, size_t, void **, size_t *, void *ud);
// Waits (up to 10 s) until board()->release is set; counts starts.
int blocker_task(void *, size_t, void **, size_t *, void *);
// Crashes on its first attempt only (board()->attempts).
int crash_once_task(void *, size_t, void **, size_t *, void *);
// Returns (size_t)user_data bytes, byte i being (unsigned char)(i * 31).
int sized_output_task(void *, size_t, void **out, size_t *out_n, void *ud);
// Asks for a huge output.
int huge_output_task(void *, size_t, void **, size_t *, void *);
// This worker's channel mapping, found in /proc/self/maps (the task needs
// "@file-read"), or NULL.
unsigned char *find_channel();
// Scribbles over its own channel: jumps the completion ring's index.
int scribble_task(void *, size_t, void **, size_t *, void *);

// Confinement probes, run inside a worker:
// the CapEff, CapPrm, CapBnd, CapAmb, NoNewPrivs and Seccomp lines of
// /proc/self/status, as a malloc'd string;
int status_task(void *, size_t, void **out, size_t *out_n, void *);
// socket(AF_INET): 0, or the errno it failed with;
int socket_task(void *, size_t, void **, size_t *, void *);
// 0 when fd (int)user_data is not open in the worker;
int fd_open_task(void *, size_t, void **, size_t *, void *ud);
// 0 when RLIMIT_NOFILE stops dup() within 8 more fds.
int nofile_task(void *, size_t, void **, size_t *, void *);

// The pids of this process's children (read from every thread's
// /proc/self/task/TID/children).
std::vector<pid_t> children();

}  // namespace pp_test

#endif  // PP_TESTS_CORE_TASKS_H
