/*
 * Seccomp learning, parent side: a worker in learning mode sends, before
 * each task's RESULT, LEARNED frames with the syscalls the task needed
 * beyond the policy. They gather in the worker's slot (owned by whoever
 * holds its channel, supervisor or direct-lane client); at the result
 * they become one log line and join the pool's union, which
 * pool_seccomp_learned prints and pool_stop logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/pool_internal.h"

#define WORDS_PER_CHUNK (PP_FRAME_LEARNED_BYTES / 8)

void pp_learn_frame(struct process_pool *pool, struct pp_worker *w,
		    const struct pp_frame *f)
{
	unsigned i, j;

	/* Only a learning pool's workers have anything to say; a frame
	 * from any other is noise and ignored. The codec has checked the
	 * chunk number. */
	if (!pool->learn)
		return;
	for (i = 0; i < WORDS_PER_CHUNK; i++) {
		uint64_t word = 0;

		for (j = 0; j < 8; j++)
			word |= (uint64_t)f->u.learned.bits[i * 8 + j]
				<< (8 * j);
		w->learn_bits[f->u.learned.chunk * WORDS_PER_CHUNK + i] |= word;
	}
}

/*
 * The names of the syscalls in bits, comma-separated, into buf (may be
 * NULL when len is 0). Returns the length the whole list needs, like
 * snprintf.
 */
static size_t format_names(const uint64_t *bits, char *buf, size_t len)
{
	size_t need = 0;
	char name[48];
	int nr;

	if (len)
		buf[0] = '\0';
	for (nr = 0; nr < PP_SECCOMP_MAX_NR; nr++) {
		size_t n;

		if (!(bits[nr / 64] & ((uint64_t)1 << (nr % 64))))
			continue;
		pp_seccomp_syscall_name(nr, name, sizeof(name));
		n = strlen(name) + (need ? 1 : 0);
		if (need + n < len)
			snprintf(buf + need, len - need, "%s%s",
				 need ? "," : "", name);
		need += n;
	}
	return need;
}

void pp_learn_task_done(struct process_pool *pool, struct pp_worker *w,
			uint64_t task_id)
{
	uint64_t none[PP_SECCOMP_LEARN_WORDS] = {0};
	char list[1024];
	unsigned i;

	/* Called for every result: a pool that does not learn stops here. */
	if (!pool->learn || !memcmp(w->learn_bits, none, sizeof(none)))
		return;
	for (i = 0; i < PP_SECCOMP_LEARN_WORDS; i++)
		atomic_fetch_or(&pool->learned[i], w->learn_bits[i]);
	if (pp_log_enabled(LOG_LEVEL_INFO)) {
		/* A longer list is cut short here, never in the union. */
		format_names(w->learn_bits, list, sizeof(list));
		pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "seccomp_learned",
		       "task=%llu syscalls=%s", (unsigned long long)task_id,
		       list);
	}
	memset(w->learn_bits, 0, sizeof(w->learn_bits));
}

static void snapshot(struct process_pool *pool,
		     uint64_t bits[PP_SECCOMP_LEARN_WORDS])
{
	unsigned i;

	for (i = 0; i < PP_SECCOMP_LEARN_WORDS; i++)
		bits[i] = atomic_load(&pool->learned[i]);
}

void pp_learn_report(struct process_pool *pool)
{
	uint64_t bits[PP_SECCOMP_LEARN_WORDS];
	size_t need;
	char *list;

	snapshot(pool, bits);
	need = format_names(bits, NULL, 0);
	list = malloc(need + 1);
	if (!list) {
		pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name,
		       "seccomp_learned_policy", "%s",
		       "error=\"out of memory\"");
		return;
	}
	format_names(bits, list, need + 1);
	pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "seccomp_learned_policy",
	       "seccomp_allow=\"%s\"", list);
	free(list);
}

int pool_seccomp_learned(process_pool_t *pool, char *buf, size_t len)
{
	uint64_t bits[PP_SECCOMP_LEARN_WORDS];
	size_t need;

	if (!pool || !buf || !len)
		return POOL_EINVAL;
	if (!pool->learn)
		return POOL_ESTATE;
	snapshot(pool, bits);
	need = format_names(bits, buf, len);
	if (need >= len) {
		buf[0] = '\0';
		return POOL_EMSGSIZE;
	}
	return (int)need;
}
