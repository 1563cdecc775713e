/* exit() called by a task in a worker; see worker_exit_trap.h. */
#include "src/core/worker_exit_trap.h"

#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <unistd.h>

static struct pp_channel *trap_channel;

/* Runs inside exit(), before the host's handlers and the stdio flush. */
static void on_exit_called(int status, void *arg)
{
	(void)arg;
	pp_channel_word_store(trap_channel, PP_WORD_EXIT,
			      1 + ((unsigned)status & 0xff));
	_exit(PP_EXIT_TASK_CALLED_EXIT);
}

int pp_exit_trap_arm(struct pp_channel *ch)
{
	/* Bytes the host had buffered are the host's to write. No lock is
	 * taken: a host thread may have held one at fork time. */
	__fpurge(stdin);
	__fpurge(stdout);
	__fpurge(stderr);
	trap_channel = ch;
	return on_exit(on_exit_called, NULL) ? -ENOMEM : 0;
}

int pp_exit_trap_detail(const struct pp_channel *ch, int code, int sig,
			pid_t pid, char *buf, size_t len)
{
	uint32_t word;

	if (sig || code != PP_EXIT_TASK_CALLED_EXIT)
		return -1;
	word = pp_channel_word_load(ch, PP_WORD_EXIT);
	if (word == 0 || word > 256)
		return -1;
	snprintf(buf, len, "task called exit(%u) in worker %d", word - 1,
		 (int)pid);
	return (int)word - 1;
}
