/* The learning listener; see seccomp_learn.h. */
#include "sandbox/seccomp_learn.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's structs may be larger than these headers': ask it. */
static int notif_sizes(size_t *req, size_t *resp)
{
	struct seccomp_notif_sizes sizes;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes))
		return -errno;
	*req = sizes.seccomp_notif > sizeof(struct seccomp_notif)
		   ? sizes.seccomp_notif
		   : sizeof(struct seccomp_notif);
	*resp = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp)
		    ? sizes.seccomp_notif_resp
		    : sizeof(struct seccomp_notif_resp);
	return 0;
}

static void record(struct pp_seccomp_learner *l, int nr)
{
	if (nr >= 0 && nr < PP_SECCOMP_MAX_NR)
		atomic_fetch_or(&l->bits[nr / 64], (uint64_t)1 << (nr % 64));
}

/* Receives, records, lets go; forever, or until the fd fails. */
static void serve(struct pp_seccomp_learner *l, struct seccomp_notif *req,
		  size_t req_size, struct seccomp_notif_resp *resp,
		  size_t resp_size)
{
	for (;;) {
		memset(req, 0, req_size); /* the kernel wants it zeroed */
		if (ioctl(l->fd, SECCOMP_IOCTL_NOTIF_RECV, req)) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			_exit(l->fail_exit); /* no listener: fail closed */
		}
		record(l, req->data.nr);
		memset(resp, 0, resp_size);
		resp->id = req->id;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		if (ioctl(l->fd, SECCOMP_IOCTL_NOTIF_SEND, resp) &&
		    errno != ENOENT) /* ENOENT: the caller was interrupted */
			_exit(l->fail_exit); /* CONTINUE refused: fail closed */
	}
}

static void *listener_main(void *arg)
{
	struct pp_seccomp_learner *l = arg;
	struct seccomp_notif_resp *resp;
	struct seccomp_notif *req;
	size_t req_size = 0, resp_size = 0;

	while (sem_wait(&l->ready) && errno == EINTR)
		;
	if (l->fd < 0)
		return NULL;
	if (notif_sizes(&req_size, &resp_size))
		_exit(l->fail_exit);
	req = calloc(1, req_size);
	resp = calloc(1, resp_size);
	if (!req || !resp)
		_exit(l->fail_exit);
	serve(l, req, req_size, resp, resp_size);
	return NULL;
}

int pp_seccomp_learner_start(struct pp_seccomp_learner *l)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err;
	unsigned i;

	for (i = 0; i < PP_SECCOMP_LEARN_WORDS; i++)
		atomic_init(&l->bits[i], 0);
	l->fd = -1;
	if (sem_init(&l->ready, 0, 0))
		return -errno;
	if (pthread_attr_init(&attr))
		return -ENOMEM;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals are the main thread's business, never the listener's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&l->thread, &attr, listener_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -err;
}

void pp_seccomp_learner_attach(struct pp_seccomp_learner *l, int fd)
{
	l->fd = fd;
	sem_post(&l->ready); /* orders the store before the thread's read */
}

unsigned pp_seccomp_learner_take(struct pp_seccomp_learner *l,
				 uint64_t out[PP_SECCOMP_LEARN_WORDS])
{
	unsigned i, n = 0;

	for (i = 0; i < PP_SECCOMP_LEARN_WORDS; i++) {
		out[i] = atomic_exchange(&l->bits[i], 0);
		n += (unsigned)__builtin_popcountll(out[i]);
	}
	return n;
}
