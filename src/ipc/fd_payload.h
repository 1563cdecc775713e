/*
 * Large payloads: a payload too big for the arena travels as a memfd of
 * its own, written once and sealed (F_SEAL_WRITE | F_SEAL_SHRINK |
 * F_SEAL_GROW | F_SEAL_SEAL) before it is sent, over a SOCK_SEQPACKET
 * socket pair per worker (SCM_RIGHTS). Neither side can change the bytes
 * once sealed, so the receiver maps them read-only and uses them in
 * place: nothing is copied out.
 *
 * Each message carries a tag (the task's wire id) and exactly one fd; it
 * is sent before the frame that announces it, so the receiver takes it
 * off the socket when the frame arrives and checks that the tags match.
 * Every call passes its own flags (MSG_DONTWAIT, MSG_CMSG_CLOEXEC): none
 * depends on file flags the peer could change.
 *
 * Thread-safety: none; one sender and one receiver per socket end.
 */
#ifndef PP_IPC_FD_PAYLOAD_H
#define PP_IPC_FD_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seals a payload memfd carries before it is sent. */
#define PP_FD_PAYLOAD_SEALS                                                    \
	(F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Flags of every receive: the worker's seccomp rule names them exactly. */
#define PP_FD_PAYLOAD_RECV_FLAGS (MSG_DONTWAIT | MSG_CMSG_CLOEXEC)

/* Fds one receive takes at most; any beyond the first are closed. */
#define PP_FD_PAYLOAD_MAX_FDS 4

/*
 * pp_fd_payload_socketpair - the two ends (SOCK_SEQPACKET, close-on-exec).
 * Returns 0 or a negated errno.
 */
int pp_fd_payload_socketpair(int sv[2]);

/*
 * pp_fd_payload_make - a sealed memfd holding len bytes of src (len > 0).
 * Returns the fd (close-on-exec) or a negated errno.
 */
int pp_fd_payload_make(const void *src, size_t len);

/*
 * pp_fd_payload_send - send fd with tag on sock, without blocking.
 * Returns 0, -EAGAIN when the socket is full or the sender's user has
 * too many fds in flight (ETOOMANYREFS), or a negated errno. The
 * caller still owns fd (the message holds its own reference).
 */
int pp_fd_payload_send(int sock, uint64_t tag, int fd);

/*
 * pp_fd_payload_recv - the next message on sock, without blocking.
 * Returns 0 with *tag and *fd (owned by the caller), -EAGAIN when none is
 * waiting, or -EPROTO for a message that is not exactly a tag and one fd
 * (whatever fds it carried are closed).
 */
int pp_fd_payload_recv(int sock, uint64_t *tag, int *fd);

/*
 * pp_fd_payload_map - check that fd is a sealed memfd of exactly len
 * bytes (a regular file with all of PP_FD_PAYLOAD_SEALS) and map it
 * read-only, not inherited across fork (MADV_DONTFORK). Returns 0 with *ptr, -EPROTO when fd does not check out, or
 * a negated errno of mmap. Does not close fd.
 */
int pp_fd_payload_map(int fd, uint64_t len, const void **ptr);

/*
 * pp_fd_payload_map_trusted - map len bytes of fd read-only, unchecked:
 * for the worker, which trusts the parent that sealed it (and whose
 * seccomp profile may refuse fstat). Returns 0 with *ptr or a negated
 * errno.
 */
int pp_fd_payload_map_trusted(int fd, size_t len, const void **ptr);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_FD_PAYLOAD_H */
