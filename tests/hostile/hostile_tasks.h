// Task functions that attack the pool from inside a worker, one per class
// of hole in the trust boundary. Each reports through pp_test::board().
#ifndef PP_TESTS_HOSTILE_HOSTILE_TASKS_H
#define PP_TESTS_HOSTILE_HOSTILE_TASKS_H

#include <cstddef>

namespace pp_hostile {

// Clears O_NONBLOCK on every fd the worker holds.
int block_fds_task(void *, size_t, void **, size_t *, void *);
// Writes one wakeup (8 bytes) to every pipe it holds (its wakeup pipe),
// once, or
// (user_data != 0) as fast as it can for that many milliseconds.
int wake_spam_task(void *, size_t, void **, size_t *, void *ud);
// Says it is idle (RUNNING = 0), then runs forever.
int running_liar_task(void *, size_t, void **, size_t *, void *);
// Counts its runs (board()->attempts), says it is idle and forges a
// seccomp violation of reboot(2), then exits as a denied worker would.
int forged_blame_task(void *, size_t, void **, size_t *, void *);
// Sends a RESULT that lies, then stops answering. user_data: 1 names no
// task in flight, 2 carries an impossible status, 3 an output of 8 KiB
// inside the arena (over a pool's max_output_size of 4 KiB).
int forged_result_task(void *, size_t, void **, size_t *, void *ud);
// Claims usage it never had, then stops answering: user_data 1 sends one
// USAGE frame claiming 2^64 - 1 of everything and a RESULT (COMPLETED),
// 2 one USAGE frame alone, 3 two USAGE frames. Needs "@file-read".
int usage_liar_task(void *, size_t, void **, size_t *, void *ud);
// Announces a memfd output (PP_FRAME_F_FD, 64 KiB) with a bad fd on the
// worker's payload socket: ud 1 none, 2 unsealed, 3 sealed but for
// F_SEAL_WRITE and changed after sending through a mapping kept
// writable, 4 a pipe, 5 sealed but larger than announced, 6 sealed but
// for another task, 7 two fds, 8 sealed but its status keeps no output
// (CANCELLED). Needs "@file-read".
int bad_fd_output_task(void *, size_t, void **, size_t *, void *ud);
// The honest form of the above (ud 0): a sealed memfd of 64 KiB of 0xab,
// sent the same way; the worker then exits once the parent has taken it.
// Needs "@network" (getsockopt), "fcntl" whole, "pipe2".
#define PP_BAD_FD_OUTPUT_SIZE 65536
// Floods its completion ring with well-formed frames a worker may send:
// user_data 1 PONGs, 2 LEARNED frames. Runs until killed.
int frame_flood_task(void *, size_t, void **, size_t *, void *ud);
// Acts as the worker loop and hands back (DEFERRED) every task it gets.
int defer_everything_task(void *, size_t, void **, size_t *, void *);

}  // namespace pp_hostile

#endif  // PP_TESTS_HOSTILE_HOSTILE_TASKS_H
