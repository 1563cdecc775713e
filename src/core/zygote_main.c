/*
 * The fork-mode zygote's side (zygote.h): a child of the supervisor
 * thread's fork, it lets go of what it holds of the host and serves
 * requests (zygote_serve.h), each worker a fork-mode worker built from
 * the setup the request carries (its pointers valid here, in a copy of
 * the host's memory).
 */
#include <sys/mman.h>
#include <unistd.h>

#include "src/core/pool_internal.h"
#include "src/core/zygote.h"
#include "src/core/zygote_serve.h"

static __attribute__((noreturn)) void
become_worker(void *ctx, const struct pp_zygote_request *q,
	      const struct pp_zygote_worker_fds *f, pid_t host)
{
	static struct pp_worker w; /* only the fields the child reads */

	w.index = q->setup.index;
	w.ch.fd = f->mem;
	w.ch.parent_eventfd = f->efd;
	w.ch.worker_sock = f->sock;
	pp_worker_child(ctx, &w, host, f->procs, f->out, &q->setup, NULL);
}

void pp_zygote_main(struct process_pool *pool, int sock)
{
	pid_t host = getppid();
	int i;

	pp_zygote_confine(pool->cfg.sandbox_off, &sock, 1);
	/* Workers' channels live on in the host, not here. */
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_channel *c = &pool->workers[i].ch;

		if (c->base)
			munmap(c->base, c->size);
		c->base = NULL;
	}
	pp_zygote_serve(sock, host, become_worker, pool);
}
