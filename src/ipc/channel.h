/*
 * Channel: the shared memory between the parent and one worker.
 *
 * One sealed memfd (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, so the
 * worker cannot truncate it under the parent and SIGBUS it), mapped by the
 * parent and that worker only:
 *
 *   0       header: magic, version, sizes, offsets (written by the parent,
 *           read by the worker when it opens the channel; the parent never
 *           reads it back)
 *   256     wake word the worker sleeps on (parent notifies)
 *   320     wake word the parent sleeps on (worker notifies)
 *   384     control words (u32 each, one per 64-byte line, see enum
 *           pp_channel_word)
 *   4096    submission ring, parent -> worker, 64-byte frame slots
 *   ...     completion ring, worker -> parent
 *   ...     payload arena: the parent's input part, then the worker's
 *           output part; each side allocates only in its own part, and a
 *           payload reference's offset is relative to its sender's part
 *
 * A payload too large for the arena travels instead as a sealed memfd of
 * its own over a socket pair (fd_payload.h); its frame has PP_FRAME_F_FD,
 * offset 0 and the length.
 *
 * The parent trusts nothing the worker writes. pp_channel_recv on the
 * parent copies a slot out once, decodes it, and checks that the type may
 * come from a worker, that the sequence number is the next one, and that a
 * payload reference lies inside the worker's output part. Any failure is a
 * sticky violation (pp_channel_violation names it); the caller then kills
 * the worker. Geometry is kept in the private struct, never re-read.
 *
 * Thread-safety: a channel handle belongs to one thread per direction (one
 * sender, one receiver); allocation in the arena belongs to the sender.
 */
#ifndef PP_IPC_CHANNEL_H
#define PP_IPC_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "src/ipc/arena.h"
#include "src/ipc/frame.h"
#include "src/ipc/ring.h"
#include "src/ipc/wake.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PP_CHANNEL_MAGIC	      0x48435050u /* "PPCH" */
#define PP_CHANNEL_VERSION	      1u
#define PP_CHANNEL_SLOT_SIZE	      64u
#define PP_CHANNEL_HEADER_SIZE	      4096u
#define PP_CHANNEL_WAKE_WORKER_OFFSET 256u
#define PP_CHANNEL_WAKE_PARENT_OFFSET 320u
#define PP_CHANNEL_CONTROL_OFFSET     384u
/* A line per control word: the worker's per-task RUNNING store and the
 * parent's per-drain RESULTS_ACKED store do not bounce one line. */
#define PP_CHANNEL_CONTROL_STRIDE 64u
#define PP_CHANNEL_MAX_ARENA	      ((size_t)1 << 34)
/* Wakeup bytes the parent may owe a worker at most (8 notes). */
#define PP_CHANNEL_WAKE_OWED_MAX 64u

/*
 * Control words: single u32 values outside the rings. The parent writes
 * the first two and the worker reads them; the worker writes the last, and
 * the parent treats it as a hint about that worker only, never as an index
 * into its own memory.
 */
enum pp_channel_word {
	PP_WORD_RESULTS_ACKED = 0, /* results the parent has fully consumed */
	PP_WORD_WAITING_PRIO = 1,  /* 1 + highest priority waiting, 0: none */
	PP_WORD_RUNNING = 2,	   /* worker: low 32 bits of the running
				    * task's id, 0 when idle */
	PP_WORD_VIOLATION = 3,	   /* worker: 1 + the syscall seccomp
				    * denied, 0: none */
	PP_WORD_CPU = 4,	   /* worker: 1 + the CPU it last waited on
				    * (a placement hint), 0: unknown */
	PP_WORD_EXIT = 5,	   /* worker: 1 + the status a task passed to
				    * exit(), 0: none */
	PP_WORD_COUNT = 6,
};

enum pp_channel_side {
	PP_CHANNEL_PARENT = 1,
	PP_CHANNEL_WORKER = 2,
};

/* What made a channel unusable; 0 while healthy. */
enum pp_channel_violation {
	PP_CHANNEL_OK = 0,
	PP_CHANNEL_RING_INDEX = 1, /* see ring.violation */
	PP_CHANNEL_BAD_FRAME = 2,  /* see frame_status */
	PP_CHANNEL_WRONG_DIRECTION = 3,
	PP_CHANNEL_BAD_SEQUENCE = 4,
	PP_CHANNEL_BAD_PAYLOAD = 5, /* reference outside the peer's part */
};

struct pp_channel_config {
	uint32_t submit_slots;	 /* power of two; 0: 256 */
	uint32_t complete_slots; /* power of two; 0: 256 */
	size_t input_arena;	 /* parent's part in bytes; 0: 1 MiB */
	size_t output_arena;	 /* worker's part in bytes; 0: 1 MiB */
	size_t granule;		 /* arena granule; 0: 4096 */
};

/* Private per-side handle. */
struct pp_channel {
	int fd;		     /* memfd, owned */
	/* The worker's wakeups for the parent travel through a pipe: the
	 * worker holds only the write end (parent_eventfd, handed to it at
	 * spawn and then closed by the parent), the parent only the read end
	 * (wake_rd). The two ends are separate open file descriptions, so
	 * nothing the worker does to its end (flags, owner, reads) can make
	 * the parent's reads block or signal anyone. */
	int parent_eventfd; /* write end; owned until the worker has it */
	int wake_rd;	    /* parent: read end its epoll watches, owned */
	/* Large payloads (fd_payload.h): this side's end of the socket
	 * pair, and on the parent the worker's end until it has it. */
	int sock;
	int worker_sock;
	uint32_t wake_owed; /* parent: wakeup bytes an honest worker may
			     * still write (one note per claimed arm) */
	unsigned char *base; /* mapping, owned */
	size_t size;
	uint32_t side;		  /* enum pp_channel_side */
	struct pp_ring tx;	  /* ring this side produces into */
	struct pp_ring rx;	  /* ring this side consumes from */
	struct pp_arena own;	  /* this side's part of the arena */
	unsigned char *peer_part; /* the peer's part of the arena */
	size_t peer_part_size;
	void *wake_self; /* word this side sleeps on */
	void *wake_peer; /* word the peer sleeps on */
	struct pp_waiter waiter;
	uint32_t tx_seq;	  /* next sequence to send */
	uint32_t rx_seq;	  /* next sequence expected */
	uint32_t violation;	  /* enum pp_channel_violation, sticky */
	int32_t violation_detail; /* frame status or ring violation */
	unsigned char rx_slot[PP_CHANNEL_SLOT_SIZE]; /* last received slot */
};

/*
 * pp_channel_create - the parent's side of a new channel.
 *
 * Creates the memfd and eventfd (both O_CLOEXEC; the caller makes them
 * inheritable in the child), sizes and seals the memfd, maps it and writes
 * the header. cfg may be NULL for defaults. Returns 0, -EINVAL for a bad
 * config, -ENOMEM, or the negated errno of a failed syscall.
 * Release with pp_channel_close.
 */
int pp_channel_create(struct pp_channel *ch,
		      const struct pp_channel_config *cfg);

/*
 * pp_channel_open_worker - the worker's side, from an inherited memfd and
 * eventfd. Validates the seals, the size and the header before use.
 * Takes ownership of both fds on success only. Returns 0, -EINVAL for a
 * channel that does not check out, or a negated errno.
 */
int pp_channel_open_worker(struct pp_channel *ch, int memfd, int eventfd);

/* pp_channel_close - unmap and close what ch owns; safe to call twice. */
void pp_channel_close(struct pp_channel *ch);

/*
 * pp_channel_send - stamp f with the next sequence, encode it into the
 * peer's ring and wake the peer if it sleeps. The frame must fit one slot.
 * Returns 0, -EAGAIN when the ring is full, -EINVAL for a frame that does
 * not encode or fit, -EPROTO once the channel has a violation.
 */
int pp_channel_send(struct pp_channel *ch, struct pp_frame *f);

/*
 * pp_channel_send_batch - like pp_channel_send for n frames, with one
 * index publish and at most one wakeup. Returns the number sent (0 when the
 * ring is full) or a negative error as pp_channel_send.
 */
int pp_channel_send_batch(struct pp_channel *ch, struct pp_frame *f,
			  unsigned n);

/*
 * pp_channel_recv - take the next frame from the peer, validated.
 *
 * Returns 0 with *f filled (inline payload bytes alias ch->rx_slot until
 * the next recv), -EAGAIN when nothing is waiting, or -EPROTO when the
 * peer broke the protocol (the violation is then sticky).
 */
int pp_channel_recv(struct pp_channel *ch, struct pp_frame *f);

/*
 * pp_channel_wait - wait up to timeout_ms for a frame to arrive: spin
 * briefly, then sleep on the futex. Returns 0 when one is ready,
 * -ETIMEDOUT, or -EPROTO.
 */
int pp_channel_wait(struct pp_channel *ch, int timeout_ms);

/*
 * pp_channel_arm - parent only: before sleeping in epoll on ch->wake_rd. Returns 1 when frames are already waiting (do not
 * sleep), 0 when it is safe to sleep, -EPROTO on a violation.
 * pp_channel_disarm ends the sleep and drains the eventfd.
 */
int pp_channel_arm(struct pp_channel *ch);
void pp_channel_disarm(struct pp_channel *ch);

/*
 * pp_channel_drain_wakes - parent only: read every wakeup waiting on
 * ch->wake_rd (never blocks: the read end is the parent's own O_NONBLOCK
 * description). An honest worker writes one note per arm it claims, so
 * the parent knows how many bytes may come; anything more is a flood.
 * Returns 0, or -EPROTO for a flood (the rest is left unread; the caller
 * stops watching the fd and replaces the worker). Does not touch the
 * sticky violation, so it may run while another thread uses the channel.
 */
int pp_channel_drain_wakes(struct pp_channel *ch);

/*
 * pp_channel_worker_started - parent only: the worker now holds its ends
 * of the wakeup pipe and the payload socket; the parent closes its copies.
 */
void pp_channel_worker_started(struct pp_channel *ch);

/*
 * pp_channel_alloc - reserve len bytes in this side's part of the arena.
 * Returns 0 with *ref (offset relative to the arena) and *ptr set,
 * -ENOSPC, or -EINVAL.
 */
int pp_channel_alloc(struct pp_channel *ch, size_t len,
		     struct pp_payload_ref *ref, void **ptr);

/* pp_channel_free - release an allocation of this side. 0 or -EINVAL. */
int pp_channel_free(struct pp_channel *ch, const struct pp_payload_ref *ref);

/*
 * pp_channel_trim - parent only: give the pages of both arena parts
 * beyond their first keep bytes back to the system (the memfd's range is
 * punched: every mapping of it, the worker's too, now reads zeros there
 * and faults fresh pages in on the next use).
 *
 * Call it only while no task is on the worker: the parent's part must
 * hold no allocation (it is left alone otherwise), and the worker's
 * outputs must all have been taken (the worker's allocator may still
 * count them until it sees them acknowledged; their bytes are no longer
 * needed). A worker that writes there meanwhile only refills its own
 * pages. keep is rounded up to a page. Returns the bytes of the two
 * ranges punched (0 when the parts are no larger than keep), or a
 * negated errno (-EINVAL on a worker-side or closed channel, or what
 * fallocate reported).
 */
long long pp_channel_trim(struct pp_channel *ch, size_t keep);

/*
 * pp_channel_peer_payload - the bytes a received frame refers to, in the
 * peer's part of the arena, or NULL when the reference is out of bounds.
 * recv has already checked it; this is the one place that turns a peer's
 * offset into a pointer. The bytes may still change under the caller:
 * copy what is checked before using it.
 */
const void *pp_channel_peer_payload(const struct pp_channel *ch,
				    const struct pp_payload_ref *ref);

/* pp_channel_word_store - publish a control word (sequentially
 * consistent, so later loads of this thread are not moved before it). */
void pp_channel_word_store(struct pp_channel *ch, enum pp_channel_word w,
			   uint32_t value);

/* pp_channel_word_load - read a control word once (acquire); 0 for a bad
 * word or channel. */
uint32_t pp_channel_word_load(const struct pp_channel *ch,
			      enum pp_channel_word w);

/* pp_channel_word_fetch - read a control word with a read-modify-write,
 * a full barrier: earlier stores of this thread are visible first. */
uint32_t pp_channel_word_fetch(struct pp_channel *ch, enum pp_channel_word w);

/* pp_channel_violation - the sticky violation, 0 when healthy. */
enum pp_channel_violation pp_channel_violation(const struct pp_channel *ch);

/* pp_channel_violation_str - a static description, detail included. */
const char *pp_channel_violation_str(const struct pp_channel *ch);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_CHANNEL_H */
