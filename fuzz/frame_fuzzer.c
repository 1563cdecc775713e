/*
 * Fuzz target for the frame codec (src/ipc/frame.h).
 *
 * The same input is used three ways:
 *  1. Decoded as a stream of back-to-back frames from a buffer of exactly
 *     its size (ASan sees any read past it). Each decode must return a
 *     length in (0, remaining] or a known negated status; a decoded frame
 *     must re-encode to the very bytes it came from, every proper prefix of
 *     it must decode as truncated, and trailing bytes must not matter.
 *     After a final error the walk resynchronises at the next "PPFR".
 *  2. Read as the fields of a frame (below) that is encoded and decoded
 *     back: the codec must accept exactly the frames the format allows
 *     (checked against an independent rule set here) and return them
 *     unchanged, inline payloads included.
 *  3. Its first bytes feed the string and table helpers.
 *
 * Field layout for 2: sel8 type8 flags16 seq32 task64 a64 b64 off64 len64,
 * then inline bytes. sel bit 7: keep all flag bits (else only the defined
 * ones, INLINE and the priority); bit 6: keep the payload offset of an
 * inline frame (else 0); bit 5: keep a huge inline length (else len % 64);
 * bit 4: keep a LEARNED frame's whole chunk number (else chunk % 5, so 4
 * is the one invalid value). Type is type8 % 14, so 0 and 13 are invalid
 * types. A LEARNED frame's chunk is a's low half; its bitmap starts with
 * a's high half, b and off. A USAGE frame's figures are a, b and off; a
 * TRACE frame's trace id is a and b, its span id off, its flags len's
 * low byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_check.h"
#include "src/ipc/cursor.h"
#include "src/ipc/frame.h"

/* Flags the format defines: inline bytes; a priority, on SUBMIT only. */
#define ALLOWED_FLAGS (PP_FRAME_F_INLINE | PP_FRAME_F_PRIO_MASK | PP_FRAME_F_FD)

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* A decoded frame must describe itself consistently. */
static void check_fields(const struct pp_frame *f, const uint8_t *buf, int len)
{
	int body = pp_frame_body_size(f->type);
	size_t fixed = PP_FRAME_HEADER_SIZE + (size_t)body;

	FUZZ_CHECK(body >= 0);
	FUZZ_CHECK(strcmp(pp_frame_type_str(f->type), "unknown") != 0);
	FUZZ_CHECK((f->flags & ~PP_FRAME_F_KNOWN) == 0);
	if (f->type != PP_FRAME_SUBMIT && f->type != PP_FRAME_BULK)
		FUZZ_CHECK(!(f->flags & PP_FRAME_F_PRIO_MASK));
	FUZZ_CHECK(f->length == (uint32_t)len && (size_t)len >= fixed);
	if (!(f->flags & PP_FRAME_F_INLINE)) {
		FUZZ_CHECK((size_t)len == fixed && !f->inline_data);
		return;
	}
	FUZZ_CHECK(f->type == PP_FRAME_SUBMIT || f->type == PP_FRAME_RESULT);
	FUZZ_CHECK(f->payload.offset == 0);
	FUZZ_CHECK(f->payload.length == (size_t)len - fixed);
	if (f->payload.length)
		FUZZ_CHECK(f->inline_data == buf + fixed);
	else
		FUZZ_CHECK(!f->inline_data);
}

/* Re-encoding a decoded frame gives back the bytes it was decoded from. */
static void check_reencode(const struct pp_frame *f, const uint8_t *buf,
			   int len)
{
	struct pp_frame g = *f;
	uint8_t *out = malloc((size_t)len);

	if (!out)
		return;
	FUZZ_CHECK(pp_frame_encoded_size(f) == (size_t)len);
	FUZZ_CHECK(pp_frame_encode(&g, out, (size_t)len) == len);
	FUZZ_CHECK(memcmp(out, buf, (size_t)len) == 0);
	FUZZ_CHECK(pp_frame_encode(&g, out, (size_t)len - 1) == -EMSGSIZE);
	free(out);
}

/* Decodes buf[0, len) and checks everything the result promises. */
static int check_decode(const uint8_t *buf, size_t len)
{
	struct pp_frame f, g;
	int ret = pp_frame_decode(buf, len, &f);

	FUZZ_CHECK(ret != 0);
	FUZZ_CHECK(pp_frame_status_str(ret) != NULL);
	if (ret < 0) {
		FUZZ_CHECK(ret >= -PP_FRAME_STATUS_MAX);
		FUZZ_CHECK(all_zero(&f, sizeof(f)));
		return ret;
	}
	FUZZ_CHECK((size_t)ret <= len);
	check_fields(&f, buf, ret);
	check_reencode(&f, buf, ret);
	/* A proper prefix of a good frame is only "truncated". */
	FUZZ_CHECK(pp_frame_decode(buf, (size_t)ret - 1, &g) ==
		   -PP_FRAME_TRUNCATED);
	FUZZ_CHECK(pp_frame_decode(buf, PP_FRAME_HEADER_SIZE / 2, &g) ==
		   -PP_FRAME_TRUNCATED);
	if ((size_t)ret < len) {
		FUZZ_CHECK(pp_frame_decode(buf, (size_t)ret, &g) == ret);
		FUZZ_CHECK(memcmp(&f, &g, sizeof(f)) == 0);
	}
	return ret;
}

/* Walks the buffer as a stream; returns the number of frames decoded. */
static unsigned walk_stream(const uint8_t *buf, size_t len)
{
	const uint8_t *next;
	unsigned frames = 0;
	size_t pos = 0;
	int ret;

	while (pos < len) {
		ret = check_decode(buf + pos, len - pos);
		if (ret > 0) {
			pos += (size_t)ret;
			frames++;
			continue;
		}
		if (ret == -PP_FRAME_TRUNCATED)
			break;
		next = memmem(buf + pos + 1, len - pos - 1, "PPFR", 4);
		if (!next)
			break;
		pos = (size_t)(next - buf);
	}
	return frames;
}

/* The format's rules, restated from frame.h: the size or 0 if invalid. */
static size_t expected_size(const struct pp_frame *f)
{
	static const int body[] = {-1, 32, 24, 0, 8, 8, 8, 0, 40, 32, 8, 24, 32};
	size_t size;

	if (f->type < 1 || f->type > 12 || (f->flags & ~ALLOWED_FLAGS))
		return 0;
	if (f->type == PP_FRAME_LEARNED && f->u.learned.chunk >= 4)
		return 0;
	if (f->type == PP_FRAME_BULK_RESULT && f->u.bulk.count == 0)
		return 0;
	if (f->type != PP_FRAME_SUBMIT && f->type != PP_FRAME_BULK &&
	    (f->flags & PP_FRAME_F_PRIO_MASK))
		return 0;
	/* A payload in its own fd: SUBMIT, RESULT and BULK_RESULT only,
	 * never inline. */
	if ((f->flags & PP_FRAME_F_FD) &&
	    ((f->type != PP_FRAME_SUBMIT && f->type != PP_FRAME_RESULT &&
	      f->type != PP_FRAME_BULK_RESULT) ||
	     (f->flags & PP_FRAME_F_INLINE)))
		return 0;
	size = PP_FRAME_HEADER_SIZE + (size_t)body[f->type];
	if (!(f->flags & PP_FRAME_F_INLINE))
		return size;
	if (f->type != PP_FRAME_SUBMIT && f->type != PP_FRAME_RESULT)
		return 0;
	if (f->payload.offset || f->payload.length > PP_FRAME_MAX_SIZE - size)
		return 0;
	if (f->payload.length && !f->inline_data)
		return 0;
	return size + (size_t)f->payload.length;
}

static void build_frame(struct pp_cursor *c, struct pp_frame *f)
{
	uint8_t sel = pp_cursor_u8(c);
	uint16_t flags;
	size_t left;

	memset(f, 0, sizeof(*f));
	f->type = pp_cursor_u8(c) % 14;
	flags = pp_cursor_u16(c);
	f->flags = (sel & 0x80) ? flags : (flags & ALLOWED_FLAGS);
	f->sequence = pp_cursor_u32(c);
	f->task_id = pp_cursor_u64(c);
	f->u.submit.func = pp_cursor_u64(c);
	f->u.submit.user_data = pp_cursor_u64(c);
	f->payload.offset = pp_cursor_u64(c);
	f->payload.length = pp_cursor_u64(c);
	if (f->type == PP_FRAME_LEARNED) {
		memcpy(f->u.learned.bits + 12, &f->payload.offset, 8);
		if (!(sel & 0x10))
			f->u.learned.chunk %= 5;
	}
	if (f->type == PP_FRAME_USAGE)
		f->u.usage.peak_rss_kb = f->payload.offset;
	if (f->type == PP_FRAME_TRACE) {
		memcpy(f->u.trace.span_id, &f->payload.offset, 8);
		f->u.trace.flags = (uint8_t)f->payload.length;
	}
	if (!(f->flags & PP_FRAME_F_INLINE))
		return;
	if (!(sel & 0x40))
		f->payload.offset = 0;
	if (!(sel & 0x20))
		f->payload.length %= 64;
	/* Point at real bytes only when there are enough of them. */
	left = pp_cursor_remaining(c);
	if (f->payload.length <= left)
		f->inline_data = pp_cursor_bytes(c, (size_t)f->payload.length);
}

static void check_body(const struct pp_frame *f, const struct pp_frame *g)
{
	switch (f->type) {
	case PP_FRAME_BULK_RESULT:
		FUZZ_CHECK(g->u.bulk.first == f->u.bulk.first);
		FUZZ_CHECK(g->u.bulk.count == f->u.bulk.count);
		break;
	case PP_FRAME_SUBMIT:
	case PP_FRAME_BULK:
		FUZZ_CHECK(g->u.submit.func == f->u.submit.func);
		FUZZ_CHECK(g->u.submit.user_data == f->u.submit.user_data);
		break;
	case PP_FRAME_RESULT:
		FUZZ_CHECK(g->u.result.status == f->u.result.status);
		FUZZ_CHECK(g->u.result.return_code == f->u.result.return_code);
		break;
	case PP_FRAME_PING:
	case PP_FRAME_PONG:
		FUZZ_CHECK(g->u.ping.nonce == f->u.ping.nonce);
		break;
	case PP_FRAME_HELLO:
		FUZZ_CHECK(g->u.hello.pid == f->u.hello.pid);
		break;
	case PP_FRAME_LEARNED:
		FUZZ_CHECK(g->u.learned.chunk == f->u.learned.chunk);
		FUZZ_CHECK(!memcmp(g->u.learned.bits, f->u.learned.bits,
				   sizeof(f->u.learned.bits)));
		break;
	case PP_FRAME_USAGE:
		FUZZ_CHECK(g->u.usage.cpu_user_us == f->u.usage.cpu_user_us);
		FUZZ_CHECK(g->u.usage.cpu_sys_us == f->u.usage.cpu_sys_us);
		FUZZ_CHECK(g->u.usage.peak_rss_kb == f->u.usage.peak_rss_kb);
		break;
	case PP_FRAME_TRACE:
		FUZZ_CHECK(!memcmp(g->u.trace.trace_id, f->u.trace.trace_id,
				   16));
		FUZZ_CHECK(!memcmp(g->u.trace.span_id, f->u.trace.span_id, 8));
		FUZZ_CHECK(g->u.trace.flags == f->u.trace.flags);
		break;
	default:
		break;
	}
}

static void check_payload(const struct pp_frame *f, const struct pp_frame *g,
			  const uint8_t *buf, int len)
{
	size_t n = (size_t)f->payload.length;

	if (f->type == PP_FRAME_BULK) { /* its region, never inline */
		FUZZ_CHECK(g->payload.offset == f->payload.offset);
		FUZZ_CHECK(g->payload.length == f->payload.length);
		FUZZ_CHECK(!g->inline_data);
		return;
	}
	if (f->type != PP_FRAME_SUBMIT && f->type != PP_FRAME_RESULT) {
		FUZZ_CHECK(g->payload.offset == 0 && g->payload.length == 0);
		FUZZ_CHECK(!g->inline_data);
		return;
	}
	FUZZ_CHECK(g->payload.offset == f->payload.offset);
	FUZZ_CHECK(g->payload.length == f->payload.length);
	if (!(f->flags & PP_FRAME_F_INLINE) || n == 0) {
		FUZZ_CHECK(!g->inline_data);
		return;
	}
	FUZZ_CHECK(g->inline_data == buf + len - n);
	FUZZ_CHECK(memcmp(g->inline_data, f->inline_data, n) == 0);
}

/* Encodes a frame built from the input, decodes it, compares. */
static void round_trip(const uint8_t *data, size_t size)
{
	struct pp_frame f, g;
	struct pp_cursor c;
	size_t want, cap;
	uint8_t *buf;
	int n;

	pp_cursor_init(&c, data, size);
	build_frame(&c, &f);
	want = expected_size(&f);
	FUZZ_CHECK(pp_frame_encoded_size(&f) == want);
	cap = want ? want : 64;
	buf = malloc(cap);
	if (!buf)
		return;
	n = pp_frame_encode(&f, buf, cap);
	if (!want) {
		FUZZ_CHECK(n == -EINVAL);
		goto out_free;
	}
	FUZZ_CHECK(n == (int)want && f.length == want);
	FUZZ_CHECK(pp_frame_encode(&f, buf, want - 1) == -EMSGSIZE);
	FUZZ_CHECK(pp_frame_decode(buf, want, &g) == n);
	FUZZ_CHECK(g.type == f.type && g.flags == f.flags);
	FUZZ_CHECK(g.length == f.length && g.sequence == f.sequence);
	FUZZ_CHECK(g.task_id == f.task_id);
	check_body(&f, &g);
	check_payload(&f, &g, buf, n);
out_free:
	free(buf);
}

/* The lookup helpers take any value and answer something static. */
static void check_helpers(const uint8_t *data, size_t size)
{
	struct pp_cursor c;
	int32_t status;
	uint32_t type;
	int worker;

	pp_cursor_init(&c, data, size);
	status = (int32_t)pp_cursor_u32(&c);
	type = pp_cursor_u32(&c);
	FUZZ_CHECK(pp_frame_status_str(status) != NULL);
	FUZZ_CHECK(pp_frame_type_str(type) != NULL);
	worker = pp_frame_from_worker(type);
	FUZZ_CHECK(worker == (type == PP_FRAME_RESULT ||
			      type == PP_FRAME_PONG || type == PP_FRAME_HELLO ||
			      type == PP_FRAME_LEARNED ||
			      type == PP_FRAME_BULK_RESULT ||
			      type == PP_FRAME_USAGE));
	FUZZ_CHECK((pp_frame_body_size(type) < 0) ==
		   (type == 0 || type > PP_FRAME_TYPE_MAX));
	FUZZ_CHECK(pp_frame_encode(NULL, NULL, 0) == -EINVAL);
	FUZZ_CHECK(pp_frame_encoded_size(NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	walk_stream(buf, size);
	free(buf);
	round_trip(data, size);
	check_helpers(data, size);
	return 0;
}
