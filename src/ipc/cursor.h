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

/* Each read returns the value, or 0 and marks the cursor failed. */
uint8_t pp_cursor_u8(struct pp_cursor *c);
uint16_t pp_cursor_u16(struct pp_cursor *c);
uint32_t pp_cursor_u32(struct pp_cursor *c);
uint64_t pp_cursor_u64(struct pp_cursor *c);

/*
 * pp_cursor_bytes - a pointer to the next n bytes, or NULL (cursor failed)
 * when fewer remain. The pointer aliases the cursor's buffer.
 */
const uint8_t *pp_cursor_bytes(struct pp_cursor *c, size_t n);

/* pp_writer_init - write into cap bytes at data. */
void pp_writer_init(struct pp_writer *w, void *data, size_t cap);

/* Each put writes the value, or marks the writer failed when it is full. */
void pp_writer_u8(struct pp_writer *w, uint8_t v);
void pp_writer_u16(struct pp_writer *w, uint16_t v);
void pp_writer_u32(struct pp_writer *w, uint32_t v);
void pp_writer_u64(struct pp_writer *w, uint64_t v);
void pp_writer_bytes(struct pp_writer *w, const void *src, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_CURSOR_H */
