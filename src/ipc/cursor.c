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

void pp_writer_init(struct pp_writer *w, void *data, size_t cap)
{
	w->data = data;
	w->cap = data ? cap : 0;
	w->pos = 0;
	w->failed = false;
}

void pp_writer_bytes(struct pp_writer *w, const void *src, size_t n)
{
	uint8_t *p = pp_writer_reserve_(w, n);

	if (p && n)
		memcpy(p, src, n);
}
