/*
 * Bounded little-endian reader and writer over a byte buffer.
 *
 * Everything parsed from the other side of a trust boundary goes through a
 * pp_cursor: each read checks the bytes left first, and the first failure
 * is sticky, so a parser can read a whole record and check once. A read
 * past the end yields zeros and never touches memory outside the buffer.
 * pp_writer is the mirror image for encoding.
 *
 * Thread-safety: a cursor or writer belongs to one thread. Neither owns the
 * buffer it walks.
 */
#ifndef PP_IPC_CURSOR_H
#define PP_IPC_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pp_cursor {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool failed;
};

struct pp_writer {
	uint8_t *data;
	size_t cap;
	size_t pos;
	bool failed;
};

/* pp_cursor_init - walk len bytes at data (data may be NULL when len is 0). */
void pp_cursor_init(struct pp_cursor *c, const void *data, size_t len);

/* Bytes not yet read; 0 after a failure. */
size_t pp_cursor_remaining(const struct pp_cursor *c);

/*
 * pp_cursor_bytes - a pointer to the next n bytes, or NULL (cursor failed)
 * when fewer remain. The pointer aliases the cursor's buffer.
 */
static inline const uint8_t *pp_cursor_bytes(struct pp_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->failed || n > c->len - c->pos) {
		c->failed = true;
		return NULL;
	}
	p = c->data + c->pos;
	c->pos += n;
	return p;
}

/* The readers and writers are inline: every frame on the hot path goes
 * through a dozen of them, and the compiler folds each into one move. */
static inline uint64_t pp_cursor_le_(struct pp_cursor *c, size_t n)
{
	const uint8_t *p = pp_cursor_bytes(c, n);
	uint64_t v = 0;

	if (!p)
		return 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, n); /* one load */
#else
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
#endif
	return v;
}

/* Each read returns the value, or 0 and marks the cursor failed. */
static inline uint8_t pp_cursor_u8(struct pp_cursor *c)
{
	return (uint8_t)pp_cursor_le_(c, 1);
}

static inline uint16_t pp_cursor_u16(struct pp_cursor *c)
{
	return (uint16_t)pp_cursor_le_(c, 2);
}

static inline uint32_t pp_cursor_u32(struct pp_cursor *c)
{
	return (uint32_t)pp_cursor_le_(c, 4);
}

static inline uint64_t pp_cursor_u64(struct pp_cursor *c)
{
	return pp_cursor_le_(c, 8);
}

/* pp_writer_init - write into cap bytes at data. */
void pp_writer_init(struct pp_writer *w, void *data, size_t cap);

static inline uint8_t *pp_writer_reserve_(struct pp_writer *w, size_t n)
{
	uint8_t *p;

	if (w->failed || n > w->cap - w->pos) {
		w->failed = true;
		return NULL;
	}
	p = w->data + w->pos;
	w->pos += n;
	return p;
}

static inline void pp_writer_le_(struct pp_writer *w, uint64_t v, size_t n)
{
	uint8_t *p = pp_writer_reserve_(w, n);

	if (!p)
		return;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, n); /* one store */
#else
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* Each put writes the value, or marks the writer failed when it is full. */
static inline void pp_writer_u8(struct pp_writer *w, uint8_t v)
{
	pp_writer_le_(w, v, 1);
}

static inline void pp_writer_u16(struct pp_writer *w, uint16_t v)
{
	pp_writer_le_(w, v, 2);
}

static inline void pp_writer_u32(struct pp_writer *w, uint32_t v)
{
	pp_writer_le_(w, v, 4);
}

static inline void pp_writer_u64(struct pp_writer *w, uint64_t v)
{
	pp_writer_le_(w, v, 8);
}

void pp_writer_bytes(struct pp_writer *w, const void *src, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_CURSOR_H */
