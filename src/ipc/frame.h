/*
 * Frame codec: the messages that travel between the parent and a worker.
 *
 * Wire format, little-endian, 24-byte header then a type-specific body:
 *   0  u32 magic     PP_FRAME_MAGIC ("PPFR")
 *   4  u8  version   PP_FRAME_VERSION
 *   5  u8  type      enum pp_frame_type
 *   6  u16 flags     PP_FRAME_F_*; unknown or misplaced bits are an error
 *   8  u32 length    whole frame in bytes, header included
 *  12  u32 sequence  per direction, per channel; checked by the channel
 *  16  u64 task_id
 *  24  body          fixed size per type (see pp_frame_body_size)
 *      inline bytes  only with PP_FRAME_F_INLINE (SUBMIT and RESULT)
 *
 * Payloads normally live in the channel's arena and are referenced by
 * (offset, length); the codec checks only the frame's own consistency, the
 * channel checks the reference against its arena. Decoding any bytes yields
 * a frame or an error and never reads outside the given buffer.
 *
 * Thread-safety: all functions are pure; they own nothing.
 */
#ifndef PP_IPC_FRAME_H
#define PP_IPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_FRAME_MAGIC	     0x52465050u /* "PPFR" in memory order */
#define PP_FRAME_VERSION     1
#define PP_FRAME_HEADER_SIZE 24u
#define PP_FRAME_MAX_SIZE                                                      \
	(1u << 20)		      /* largest frame, inline bytes included  \
				       */
#define PP_FRAME_F_INLINE     0x0001u /* payload bytes follow the body */
#define PP_FRAME_F_FD	      0x0002u /* SUBMIT or RESULT: the payload is a
				       * sealed memfd on the socket
				       * (fd_payload.h), never inline;
				       * BULK_RESULT: its one task's
				       * output is */
#define PP_FRAME_F_PRIO_SHIFT 8	      /* SUBMIT and BULK: priority 0..3 */
#define PP_FRAME_F_PRIO_MASK  0x0300u
#define PP_FRAME_F_KNOWN                                                       \
	(PP_FRAME_F_INLINE | PP_FRAME_F_FD | PP_FRAME_F_PRIO_MASK)

/*
 * A LEARNED frame carries one chunk of a syscall bitmap: bit b of
 * bits[i] is syscall chunk * 256 + i * 8 + b. Body: u32 chunk (below
 * PP_FRAME_LEARNED_CHUNKS), u32 reserved (zero), 32 bitmap bytes, so the
 * frame fills one 64-byte slot exactly. A worker sends the non-empty
 * chunks of a task before that task's RESULT, with the same task_id.
 */
#define PP_FRAME_LEARNED_BYTES	32u
#define PP_FRAME_LEARNED_CHUNKS 4u /* 1024 syscalls */

enum pp_frame_type {
	PP_FRAME_SUBMIT = 1,   /* parent -> worker: run a task */
	PP_FRAME_RESULT = 2,   /* worker -> parent: a task's outcome */
	PP_FRAME_CANCEL = 3,   /* parent -> worker: drop a queued task */
	PP_FRAME_PING = 4,     /* parent -> worker: health check */
	PP_FRAME_PONG = 5,     /* worker -> parent: answer to PING */
	PP_FRAME_HELLO = 6,    /* worker -> parent: ready */
	PP_FRAME_SHUTDOWN = 7, /* parent -> worker: exit when idle */
	PP_FRAME_LEARNED = 8,  /* worker -> parent: syscalls a task needed
				* beyond the policy (seccomp learning) */
	PP_FRAME_BULK = 9,	   /* parent -> worker: run a chunk of tasks
				    * (protocol.h: struct pp_bulk_head) */
	PP_FRAME_BULK_RESULT = 10, /* worker -> parent: outcomes of a
				    * chunk's tasks first..first+count-1 */
	PP_FRAME_USAGE = 11, /* worker -> parent: what a task used, by the
			      * worker's own count, just before its RESULT
			      * (only in a pool with task_usage) */
	PP_FRAME_TRACE = 12, /* parent -> worker: the trace context of the
			      * SUBMIT that follows, with its task_id */
	PP_FRAME_TYPE_MAX = 12,
};

/* Why a buffer did not decode; decode returns the negated value. */
enum pp_frame_status {
	PP_FRAME_OK = 0,
	PP_FRAME_TRUNCATED = 1, /* fewer bytes than the frame needs */
	PP_FRAME_BAD_MAGIC = 2,
	PP_FRAME_BAD_VERSION = 3,
	PP_FRAME_BAD_TYPE = 4,
	PP_FRAME_BAD_FLAGS = 5,
	PP_FRAME_BAD_LENGTH = 6,   /* length field wrong for the type */
	PP_FRAME_BAD_RESERVED = 7, /* a reserved field is not zero */
	PP_FRAME_BAD_PAYLOAD = 8,  /* payload reference inconsistent */
	PP_FRAME_STATUS_MAX = 8,
};

struct pp_payload_ref {
	uint64_t offset; /* into the arena; 0 for inline payloads */
	uint64_t length;
};

struct pp_frame {
	uint8_t type;
	uint16_t flags;
	uint32_t length; /* filled by decode and by pp_frame_encode */
	uint32_t sequence;
	uint64_t task_id;
	union {
		struct {
			uint64_t func;	    /* function reference, opaque
					     * here: a pointer, or a module
					     * index and offset for a
					     * clean-room worker */
			uint64_t user_data; /* opaque to the worker runtime */
		} submit;
		struct {
			int32_t status;	     /* task status code */
			int32_t return_code; /* task function's return value */
		} result;
		struct {
			uint64_t nonce;
		} ping; /* PING and PONG */
		struct {
			uint32_t pid;
		} hello;
		struct {
			uint32_t chunk;
			uint8_t bits[PP_FRAME_LEARNED_BYTES];
		} learned;
		struct {
			uint32_t first; /* index of the first task */
			uint32_t count; /* tasks reported, at least 1 */
		} bulk; /* BULK_RESULT; a BULK uses submit */
		struct {
			uint64_t cpu_user_us;
			uint64_t cpu_sys_us;
			uint64_t peak_rss_kb;
		} usage;
		struct {
			uint8_t trace_id[16];
			uint8_t span_id[8]; /* the parent for the task's spans */
			uint8_t flags;	    /* then 7 reserved zero bytes */
		} trace;
	} u;
	struct pp_payload_ref payload; /* SUBMIT, RESULT and BULK only */
	/* With PP_FRAME_F_INLINE: payload.length bytes, aliasing the buffer
	 * decode read from (decode) or read by encode. NULL otherwise. */
	const uint8_t *inline_data;
};

/* pp_frame_body_size - fixed body bytes of a type, or -1 if unknown. */
int pp_frame_body_size(unsigned type);

/* pp_frame_from_worker - 1 if a worker may send this type, else 0. */
int pp_frame_from_worker(unsigned type);

/*
 * pp_frame_encoded_size - bytes pp_frame_encode will write for f, or 0 when
 * f is not a valid frame (unknown type or flags, inline data on a type that
 * has none, inline without data, more than PP_FRAME_MAX_SIZE).
 */
size_t pp_frame_encoded_size(const struct pp_frame *f);

/*
 * pp_frame_encode - write f into buf (cap bytes) and set f->length.
 *
 * Returns the bytes written, -EINVAL for an invalid frame (see
 * pp_frame_encoded_size) or NULL arguments, -EMSGSIZE when cap is too small.
 */
int pp_frame_encode(struct pp_frame *f, void *buf, size_t cap);

/*
 * pp_frame_decode - parse the frame at the start of buf (len bytes).
 *
 * Returns the frame's length (bytes consumed, > 0) with *out filled, or the
 * negated enum pp_frame_status. A stream reader that gets
 * -PP_FRAME_TRUNCATED needs more bytes; any other error is final. On error
 * *out is zeroed. Never reads outside [buf, buf + len).
 */
int pp_frame_decode(const void *buf, size_t len, struct pp_frame *out);

/* pp_frame_status_str - short static description of a decode status. */
const char *pp_frame_status_str(int status);

/* pp_frame_type_str - the type's name ("SUBMIT"), "unknown" otherwise. */
const char *pp_frame_type_str(unsigned type);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_FRAME_H */
