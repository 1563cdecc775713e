/* Frame codec; every read goes through a bounded cursor. See frame.h. */
#include "src/ipc/frame.h"

#include <errno.h>
#include <string.h>

#include "src/ipc/cursor.h"

struct frame_kind {
	const char *name;
	int body_size;
	int from_worker;
	int may_inline;
};

static const struct frame_kind kinds[PP_FRAME_TYPE_MAX + 1] = {
    [PP_FRAME_SUBMIT] = {"SUBMIT", 32, 0, 1},
    [PP_FRAME_RESULT] = {"RESULT", 24, 1, 1},
    [PP_FRAME_CANCEL] = {"CANCEL", 0, 0, 0},
    [PP_FRAME_PING] = {"PING", 8, 0, 0},
    [PP_FRAME_PONG] = {"PONG", 8, 1, 0},
    [PP_FRAME_HELLO] = {"HELLO", 8, 1, 0},
    [PP_FRAME_SHUTDOWN] = {"SHUTDOWN", 0, 0, 0},
    [PP_FRAME_LEARNED] = {"LEARNED", 8 + PP_FRAME_LEARNED_BYTES, 1, 0},
    [PP_FRAME_BULK] = {"BULK", 32, 0, 0},
    [PP_FRAME_BULK_RESULT] = {"BULK_RESULT", 8, 1, 0},
    [PP_FRAME_USAGE] = {"USAGE", 24, 1, 0},
    [PP_FRAME_TRACE] = {"TRACE", 32, 0, 0},
};

static const struct frame_kind *kind_of(unsigned type)
{
	if (type == 0 || type > PP_FRAME_TYPE_MAX)
		return NULL;
	return &kinds[type];
}

int pp_frame_body_size(unsigned type)
{
	const struct frame_kind *k = kind_of(type);

	return k ? k->body_size : -1;
}

int pp_frame_from_worker(unsigned type)
{
	const struct frame_kind *k = kind_of(type);

	return k ? k->from_worker : 0;
}

static int has_payload(unsigned type)
{
	return type == PP_FRAME_SUBMIT || type == PP_FRAME_RESULT;
}

/* Known bits only, and the priority bits only on SUBMIT and BULK. */
static int flags_ok(unsigned type, unsigned flags)
{
	if (flags & ~PP_FRAME_F_KNOWN)
		return 0;
	if ((flags & PP_FRAME_F_FD) &&
	    ((type != PP_FRAME_SUBMIT && type != PP_FRAME_RESULT &&
	      type != PP_FRAME_BULK_RESULT) ||
	     (flags & PP_FRAME_F_INLINE)))
		return 0;
	return type == PP_FRAME_SUBMIT || type == PP_FRAME_BULK ||
	       !(flags & PP_FRAME_F_PRIO_MASK);
}

size_t pp_frame_encoded_size(const struct pp_frame *f)
{
	const struct frame_kind *k;
	size_t size;

	if (!f)
		return 0;
	k = kind_of(f->type);
	if (!k || !flags_ok(f->type, f->flags))
		return 0;
	if (f->type == PP_FRAME_LEARNED &&
	    f->u.learned.chunk >= PP_FRAME_LEARNED_CHUNKS)
		return 0;
	if (f->type == PP_FRAME_BULK_RESULT && f->u.bulk.count == 0)
		return 0;
	size = PP_FRAME_HEADER_SIZE + (size_t)k->body_size;
	if (f->flags & PP_FRAME_F_INLINE) {
		if (!k->may_inline || f->payload.offset != 0)
			return 0;
		if (f->payload.length > PP_FRAME_MAX_SIZE - size)
			return 0;
		if (f->payload.length && !f->inline_data)
			return 0;
		size += (size_t)f->payload.length;
	}
	return size;
}

static void encode_body(struct pp_writer *w, const struct pp_frame *f)
{
	switch (f->type) {
	case PP_FRAME_SUBMIT:
	case PP_FRAME_BULK:
		pp_writer_u64(w, f->u.submit.func);
		pp_writer_u64(w, f->u.submit.user_data);
		pp_writer_u64(w, f->payload.offset);
		pp_writer_u64(w, f->payload.length);
		break;
	case PP_FRAME_RESULT:
		pp_writer_u32(w, (uint32_t)f->u.result.status);
		pp_writer_u32(w, (uint32_t)f->u.result.return_code);
		pp_writer_u64(w, f->payload.offset);
		pp_writer_u64(w, f->payload.length);
		break;
	case PP_FRAME_PING:
	case PP_FRAME_PONG:
		pp_writer_u64(w, f->u.ping.nonce);
		break;
	case PP_FRAME_HELLO:
		pp_writer_u32(w, f->u.hello.pid);
		pp_writer_u32(w, 0); /* reserved */
		break;
	case PP_FRAME_LEARNED:
		pp_writer_u32(w, f->u.learned.chunk);
		pp_writer_u32(w, 0); /* reserved */
		pp_writer_bytes(w, f->u.learned.bits, PP_FRAME_LEARNED_BYTES);
		break;
	case PP_FRAME_BULK_RESULT:
		pp_writer_u32(w, f->u.bulk.first);
		pp_writer_u32(w, f->u.bulk.count);
		break;
	case PP_FRAME_USAGE:
		pp_writer_u64(w, f->u.usage.cpu_user_us);
		pp_writer_u64(w, f->u.usage.cpu_sys_us);
		pp_writer_u64(w, f->u.usage.peak_rss_kb);
		break;
	case PP_FRAME_TRACE:
		pp_writer_bytes(w, f->u.trace.trace_id, 16);
		pp_writer_bytes(w, f->u.trace.span_id, 8);
		pp_writer_u8(w, f->u.trace.flags);
		pp_writer_u8(w, 0); /* reserved, 7 bytes */
		pp_writer_u16(w, 0);
		pp_writer_u32(w, 0);
		break;
	default:
		break;
	}
}

int pp_frame_encode(struct pp_frame *f, void *buf, size_t cap)
{
	struct pp_writer w;
	size_t size;

	if (!f || !buf)
		return -EINVAL;
	size = pp_frame_encoded_size(f);
	if (!size)
		return -EINVAL;
	if (size > cap)
		return -EMSGSIZE;
	f->length = (uint32_t)size;
	pp_writer_init(&w, buf, cap);
	pp_writer_u32(&w, PP_FRAME_MAGIC);
	pp_writer_u8(&w, PP_FRAME_VERSION);
	pp_writer_u8(&w, f->type);
	pp_writer_u16(&w, f->flags);
	pp_writer_u32(&w, f->length);
	pp_writer_u32(&w, f->sequence);
	pp_writer_u64(&w, f->task_id);
	encode_body(&w, f);
	if (f->flags & PP_FRAME_F_INLINE)
		pp_writer_bytes(&w, f->inline_data, (size_t)f->payload.length);
	return w.failed ? -EMSGSIZE : (int)w.pos;
}

/* A LEARNED body: the chunk must be one of the bitmap's. */
static int decode_learned(struct pp_cursor *c, struct pp_frame *f)
{
	const uint8_t *bits;

	f->u.learned.chunk = pp_cursor_u32(c);
	if (pp_cursor_u32(c) != 0)
		return c->failed ? PP_FRAME_TRUNCATED : PP_FRAME_BAD_RESERVED;
	bits = pp_cursor_bytes(c, PP_FRAME_LEARNED_BYTES);
	if (!bits)
		return PP_FRAME_TRUNCATED;
	if (f->u.learned.chunk >= PP_FRAME_LEARNED_CHUNKS)
		return PP_FRAME_BAD_RESERVED;
	memcpy(f->u.learned.bits, bits, PP_FRAME_LEARNED_BYTES);
	return PP_FRAME_OK;
}

/* A TRACE body: two ids, the flags, then reserved zero bytes. */
static int decode_trace(struct pp_cursor *c, struct pp_frame *f)
{
	const uint8_t *ids = pp_cursor_bytes(c, 24);
	uint8_t flags = pp_cursor_u8(c);
	uint8_t r8 = pp_cursor_u8(c);
	uint16_t r16 = pp_cursor_u16(c);
	uint32_t r32 = pp_cursor_u32(c);

	if (!ids || c->failed)
		return PP_FRAME_TRUNCATED;
	if (r8 || r16 || r32)
		return PP_FRAME_BAD_RESERVED;
	memcpy(f->u.trace.trace_id, ids, 16);
	memcpy(f->u.trace.span_id, ids + 16, 8);
	f->u.trace.flags = flags;
	return PP_FRAME_OK;
}

/* Reads the type's body; returns PP_FRAME_OK or why it is malformed. */
static int decode_body(struct pp_cursor *c, struct pp_frame *f)
{
	switch (f->type) {
	case PP_FRAME_SUBMIT:
	case PP_FRAME_BULK:
		f->u.submit.func = pp_cursor_u64(c);
		f->u.submit.user_data = pp_cursor_u64(c);
		f->payload.offset = pp_cursor_u64(c);
		f->payload.length = pp_cursor_u64(c);
		break;
	case PP_FRAME_RESULT:
		f->u.result.status = (int32_t)pp_cursor_u32(c);
		f->u.result.return_code = (int32_t)pp_cursor_u32(c);
		f->payload.offset = pp_cursor_u64(c);
		f->payload.length = pp_cursor_u64(c);
		break;
	case PP_FRAME_PING:
	case PP_FRAME_PONG:
		f->u.ping.nonce = pp_cursor_u64(c);
		break;
	case PP_FRAME_HELLO:
		f->u.hello.pid = pp_cursor_u32(c);
		if (pp_cursor_u32(c) != 0)
			return PP_FRAME_BAD_RESERVED;
		break;
	case PP_FRAME_LEARNED:
		return decode_learned(c, f);
	case PP_FRAME_BULK_RESULT:
		f->u.bulk.first = pp_cursor_u32(c);
		f->u.bulk.count = pp_cursor_u32(c);
		/* An empty report says nothing: an honest worker never
		 * sends one. */
		if (!c->failed && f->u.bulk.count == 0)
			return PP_FRAME_BAD_PAYLOAD;
		break;
	case PP_FRAME_USAGE:
		f->u.usage.cpu_user_us = pp_cursor_u64(c);
		f->u.usage.cpu_sys_us = pp_cursor_u64(c);
		f->u.usage.peak_rss_kb = pp_cursor_u64(c);
		break;
	case PP_FRAME_TRACE:
		return decode_trace(c, f);
	default:
		break;
	}
	return c->failed ? PP_FRAME_TRUNCATED : PP_FRAME_OK;
}

/* Checks the payload reference against the frame's own length. */
static int check_payload(struct pp_cursor *c, struct pp_frame *f, size_t fixed)
{
	size_t inline_len = f->length - fixed;

	if (!(f->flags & PP_FRAME_F_INLINE))
		return inline_len ? PP_FRAME_BAD_LENGTH : PP_FRAME_OK;
	if (!has_payload(f->type))
		return PP_FRAME_BAD_FLAGS;
	if (f->payload.offset != 0 || f->payload.length != inline_len)
		return PP_FRAME_BAD_PAYLOAD;
	f->inline_data = inline_len ? pp_cursor_bytes(c, inline_len) : NULL;
	if (inline_len && !f->inline_data)
		return PP_FRAME_TRUNCATED;
	return PP_FRAME_OK;
}

static int decode(struct pp_cursor *c, struct pp_frame *f)
{
	const struct frame_kind *k;
	size_t fixed;
	int status;

	if (pp_cursor_remaining(c) < PP_FRAME_HEADER_SIZE) {
		/* A prefix of a good header is only truncated, not bad. */
		uint8_t magic[4] = {'P', 'P', 'F', 'R'};
		size_t have = pp_cursor_remaining(c);

		if (have && memcmp(c->data, magic, have < 4 ? have : 4))
			return PP_FRAME_BAD_MAGIC;
		return PP_FRAME_TRUNCATED;
	}
	if (pp_cursor_u32(c) != PP_FRAME_MAGIC)
		return PP_FRAME_BAD_MAGIC;
	if (pp_cursor_u8(c) != PP_FRAME_VERSION)
		return PP_FRAME_BAD_VERSION;
	f->type = pp_cursor_u8(c);
	f->flags = pp_cursor_u16(c);
	f->length = pp_cursor_u32(c);
	f->sequence = pp_cursor_u32(c);
	f->task_id = pp_cursor_u64(c);
	k = kind_of(f->type);
	if (!k)
		return PP_FRAME_BAD_TYPE;
	if (!flags_ok(f->type, f->flags))
		return PP_FRAME_BAD_FLAGS;
	fixed = PP_FRAME_HEADER_SIZE + (size_t)k->body_size;
	if (f->length < fixed || f->length > PP_FRAME_MAX_SIZE)
		return PP_FRAME_BAD_LENGTH;
	if (!(f->flags & PP_FRAME_F_INLINE) && f->length != fixed)
		return PP_FRAME_BAD_LENGTH;
	if (c->len < f->length)
		return PP_FRAME_TRUNCATED;
	status = decode_body(c, f);
	if (status)
		return status;
	return check_payload(c, f, fixed);
}

int pp_frame_decode(const void *buf, size_t len, struct pp_frame *out)
{
	struct pp_cursor c;
	int status;

	if (!out)
		return -PP_FRAME_TRUNCATED;
	memset(out, 0, sizeof(*out));
	pp_cursor_init(&c, buf, len);
	status = decode(&c, out);
	if (status) {
		memset(out, 0, sizeof(*out));
		return -status;
	}
	return (int)out->length;
}

const char *pp_frame_status_str(int status)
{
	static const char *const names[PP_FRAME_STATUS_MAX + 1] = {
	    [PP_FRAME_OK] = "ok",
	    [PP_FRAME_TRUNCATED] = "truncated frame",
	    [PP_FRAME_BAD_MAGIC] = "bad magic",
	    [PP_FRAME_BAD_VERSION] = "unsupported version",
	    [PP_FRAME_BAD_TYPE] = "unknown frame type",
	    [PP_FRAME_BAD_FLAGS] = "unknown or misplaced flags",
	    [PP_FRAME_BAD_LENGTH] = "length does not match the type",
	    [PP_FRAME_BAD_RESERVED] = "reserved field not zero",
	    [PP_FRAME_BAD_PAYLOAD] = "inconsistent payload reference",
	};

	/* Range first: negating INT_MIN would overflow. */
	if (status < -PP_FRAME_STATUS_MAX || status > PP_FRAME_STATUS_MAX)
		return "unknown status";
	if (status < 0)
		status = -status;
	return names[status];
}

const char *pp_frame_type_str(unsigned type)
{
	const struct frame_kind *k = kind_of(type);

	return k ? k->name : "unknown";
}
