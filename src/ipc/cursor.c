/* Bounded little-endian reader and writer; see cursor.h. */
#include "src/ipc/cursor.h"

#include <string.h>

void pp_cursor_init(struct pp_cursor *c, const void *data, size_t len)
{
	c->data = data;
	c->len = data ? len : 0;
	c->pos = 0;
	c->failed = false;
}

size_t pp_cursor_remaining(const struct pp_cursor *c)
{
	return c->failed ? 0 : c->len - c->pos;
}

const uint8_t *pp_cursor_bytes(struct pp_cursor *c, size_t n)
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

static uint64_t read_le(struct pp_cursor *c, size_t n)
{
	const uint8_t *p = pp_cursor_bytes(c, n);
	uint64_t v = 0;
	size_t i;

	if (!p)
		return 0;
	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t pp_cursor_u8(struct pp_cursor *c)
{
	return (uint8_t)read_le(c, 1);
}

uint16_t pp_cursor_u16(struct pp_cursor *c)
{
	return (uint16_t)read_le(c, 2);
}

uint32_t pp_cursor_u32(struct pp_cursor *c)
{
	return (uint32_t)read_le(c, 4);
}

uint64_t pp_cursor_u64(struct pp_cursor *c)
{
	return read_le(c, 8);
}

void pp_writer_init(struct pp_writer *w, void *data, size_t cap)
{
	w->data = data;
	w->cap = data ? cap : 0;
	w->pos = 0;
	w->failed = false;
}

static uint8_t *reserve(struct pp_writer *w, size_t n)
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

static void write_le(struct pp_writer *w, uint64_t v, size_t n)
{
	uint8_t *p = reserve(w, n);
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void pp_writer_u8(struct pp_writer *w, uint8_t v)
{
	write_le(w, v, 1);
}

void pp_writer_u16(struct pp_writer *w, uint16_t v)
{
	write_le(w, v, 2);
}

void pp_writer_u32(struct pp_writer *w, uint32_t v)
{
	write_le(w, v, 4);
}

void pp_writer_u64(struct pp_writer *w, uint64_t v)
{
	write_le(w, v, 8);
}

void pp_writer_bytes(struct pp_writer *w, const void *src, size_t n)
{
	uint8_t *p = reserve(w, n);

	if (p && n)
		memcpy(p, src, n);
}
