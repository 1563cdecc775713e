// Task functions for the isolation tests: a task that takes over its
// worker and answers the SUBMITs that follow, its victims, and a secret
// left in a worker's memory. They report through pp_test::board().
#ifndef PP_TESTS_HOSTILE_ISOLATION_TASKS_H
#define PP_TESTS_HOSTILE_ISOLATION_TASKS_H

#include <cstddef>

namespace pp_hostile
{

// The forged return code the hijacker gives every task it answers.
#define PP_HIJACK_RC 1337

// Takes over its worker: reports its own task COMPLETED (return code 0)
// through the channel, then acts as the worker loop for good, answering
// every later SUBMIT with COMPLETED, return code PP_HIJACK_RC and no
// output, and counting each in board()->attempts. Needs "@file-read".
int hijack_task(void *, size_t, void **, size_t *, void *);
// Returns its pid as 8 bytes of malloc'd output.
int pid_task(void *, size_t, void **out, size_t *out_n, void *);
// Leaves (uint64_t)user_data in a global of its process.
int secret_write_task(void *, size_t, void **, size_t *, void *ud);
// Returns that global (8 bytes): 0 in a process no writer ran in.
int secret_read_task(void *, size_t, void **out, size_t *out_n, void *);

} // namespace pp_hostile

#endif // PP_TESTS_HOSTILE_ISOLATION_TASKS_H
