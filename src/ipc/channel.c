/* Parent/worker channel over a sealed memfd; see channel.h. */
#include "src/ipc/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/ipc/cursor.h"
#include "src/ipc/fd_payload.h"

#define PAGE	    4096u
#define SEALS	    (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define BATCH_CHUNK 32u

struct layout {
	uint32_t submit_slots;
	uint32_t complete_slots;
	uint32_t granule;
	uint64_t submit_off;
	uint64_t complete_off;
	uint64_t input_off;
	uint64_t input_size;
	uint64_t output_off;
	uint64_t output_size;
	uint64_t total;
};

static uint64_t page_up(uint64_t n)
{
	return (n + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

static int is_pow2(uint64_t n)
{
	return n && !(n & (n - 1));
}

/* Computes the layout from sizes alone; both sides use it. */
static int compute_layout(struct layout *l)
{
	size_t sub = pp_ring_region_size(l->submit_slots, PP_CHANNEL_SLOT_SIZE);
	size_t com =
	    pp_ring_region_size(l->complete_slots, PP_CHANNEL_SLOT_SIZE);

	if (!sub || !com || !is_pow2(l->granule) || l->granule < 64)
		return -EINVAL;
	if (l->input_size == 0 || l->output_size == 0 ||
	    l->input_size > PP_CHANNEL_MAX_ARENA ||
	    l->output_size > PP_CHANNEL_MAX_ARENA ||
	    l->input_size % l->granule || l->output_size % l->granule)
		return -EINVAL;
	l->submit_off = PP_CHANNEL_HEADER_SIZE;
	l->complete_off = l->submit_off + page_up(sub);
	l->input_off = l->complete_off + page_up(com);
	l->output_off = l->input_off + page_up(l->input_size);
	l->total = l->output_off + page_up(l->output_size);
	return 0;
}

static void write_header(unsigned char *base, const struct layout *l)
{
	struct pp_writer w;

	pp_writer_init(&w, base, PP_CHANNEL_WAKE_WORKER_OFFSET);
	pp_writer_u32(&w, PP_CHANNEL_MAGIC);
	pp_writer_u32(&w, PP_CHANNEL_VERSION);
	pp_writer_u64(&w, l->total);
	pp_writer_u32(&w, PP_CHANNEL_SLOT_SIZE);
	pp_writer_u32(&w, l->submit_slots);
	pp_writer_u32(&w, l->complete_slots);
	pp_writer_u32(&w, l->granule);
	pp_writer_u64(&w, l->submit_off);
	pp_writer_u64(&w, l->complete_off);
	pp_writer_u64(&w, l->input_off);
	pp_writer_u64(&w, l->input_size);
	pp_writer_u64(&w, l->output_off);
	pp_writer_u64(&w, l->output_size);
}

/* Reads the header and accepts it only if it matches its own layout. */
static int read_header(const unsigned char *base, size_t size, struct layout *l)
{
	struct pp_cursor c;
	struct layout want;
	uint64_t total;

	pp_cursor_init(&c, base, PP_CHANNEL_WAKE_WORKER_OFFSET);
	if (pp_cursor_u32(&c) != PP_CHANNEL_MAGIC ||
	    pp_cursor_u32(&c) != PP_CHANNEL_VERSION)
		return -EINVAL;
	total = pp_cursor_u64(&c);
	if (pp_cursor_u32(&c) != PP_CHANNEL_SLOT_SIZE)
		return -EINVAL;
	memset(&want, 0, sizeof(want));
	want.submit_slots = pp_cursor_u32(&c);
	want.complete_slots = pp_cursor_u32(&c);
	want.granule = pp_cursor_u32(&c);
	l->submit_off = pp_cursor_u64(&c);
	l->complete_off = pp_cursor_u64(&c);
	l->input_off = pp_cursor_u64(&c);
	want.input_size = pp_cursor_u64(&c);
	l->output_off = pp_cursor_u64(&c);
	want.output_size = pp_cursor_u64(&c);
	if (c.failed || compute_layout(&want))
		return -EINVAL;
	if (want.total != total || total != size ||
	    want.submit_off != l->submit_off ||
	    want.complete_off != l->complete_off ||
	    want.input_off != l->input_off || want.output_off != l->output_off)
		return -EINVAL;
	*l = want;
	return 0;
}

static void fill_config(struct layout *l, const struct pp_channel_config *cfg)
{
	memset(l, 0, sizeof(*l));
	l->submit_slots = cfg && cfg->submit_slots ? cfg->submit_slots : 256;
	l->complete_slots =
	    cfg && cfg->complete_slots ? cfg->complete_slots : 256;
	l->granule = cfg && cfg->granule ? (uint32_t)cfg->granule : 4096;
	if (cfg && cfg->granule > UINT32_MAX)
		l->granule = 0;
	l->input_size = cfg && cfg->input_arena ? cfg->input_arena : 1 << 20;
	l->output_size = cfg && cfg->output_arena ? cfg->output_arena : 1 << 20;
}

/* Points the private handle at the mapped regions for one side. */
static int attach(struct pp_channel *ch, const struct layout *l,
		  enum pp_channel_side side)
{
	void *sub = ch->base + l->submit_off;
	void *com = ch->base + l->complete_off;
	unsigned char *in = ch->base + l->input_off;
	unsigned char *out = ch->base + l->output_off;
	int parent = side == PP_CHANNEL_PARENT;
	int err;

	ch->side = side;
	err = pp_ring_attach(&ch->tx, parent ? sub : com,
			     parent ? l->submit_slots : l->complete_slots,
			     PP_CHANNEL_SLOT_SIZE, PP_RING_PRODUCER);
	if (!err)
		err =
		    pp_ring_attach(&ch->rx, parent ? com : sub,
				   parent ? l->complete_slots : l->submit_slots,
				   PP_CHANNEL_SLOT_SIZE, PP_RING_CONSUMER);
	if (!err)
		err = pp_arena_init(&ch->own, parent ? in : out,
				    parent ? l->input_size : l->output_size,
				    l->granule);
	if (err)
		return err;
	ch->peer_part = parent ? out : in;
	ch->peer_part_size = parent ? l->output_size : l->input_size;
	ch->wake_self = ch->base + (parent ? PP_CHANNEL_WAKE_PARENT_OFFSET
					   : PP_CHANNEL_WAKE_WORKER_OFFSET);
	ch->wake_peer = ch->base + (parent ? PP_CHANNEL_WAKE_WORKER_OFFSET
					   : PP_CHANNEL_WAKE_PARENT_OFFSET);
	pp_waiter_init(&ch->waiter, ch->wake_self);
	return 0;
}

static void reset(struct pp_channel *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
	ch->parent_eventfd = -1;
	ch->wake_rd = -1;
	ch->sock = -1;
	ch->worker_sock = -1;
}

int pp_channel_create(struct pp_channel *ch,
		      const struct pp_channel_config *cfg)
{
	struct layout l;
	int err, wake[2], sv[2];

	if (!ch)
		return -EINVAL;
	reset(ch);
	fill_config(&l, cfg);
	if (compute_layout(&l))
		return -EINVAL;
	ch->fd = memfd_create("processpool-channel",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ch->fd < 0)
		return -errno;
	err = -EINVAL;
	if (ftruncate(ch->fd, (off_t)l.total) < 0 ||
	    fcntl(ch->fd, F_ADD_SEALS, SEALS) < 0)
		goto out_errno;
	ch->size = l.total;
	ch->base =
	    mmap(NULL, ch->size, PROT_READ | PROT_WRITE, MAP_SHARED, ch->fd, 0);
	if (ch->base == MAP_FAILED) {
		ch->base = NULL;
		goto out_errno;
	}
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0)
		goto out_errno;
	ch->wake_rd = wake[0];
	ch->parent_eventfd = wake[1];
	err = pp_fd_payload_socketpair(sv);
	if (err)
		goto out_close;
	ch->sock = sv[0];
	ch->worker_sock = sv[1];
	write_header(ch->base, &l);
	pp_wake_word_init(ch->base + PP_CHANNEL_WAKE_WORKER_OFFSET);
	pp_wake_word_init(ch->base + PP_CHANNEL_WAKE_PARENT_OFFSET);
	pp_ring_init_region(ch->base + l.submit_off, l.submit_slots,
			    PP_CHANNEL_SLOT_SIZE);
	pp_ring_init_region(ch->base + l.complete_off, l.complete_slots,
			    PP_CHANNEL_SLOT_SIZE);
	err = attach(ch, &l, PP_CHANNEL_PARENT);
	if (err)
		goto out_close;
	return 0;

out_errno:
	err = -errno;
out_close:
	pp_channel_close(ch);
	return err;
}

int pp_channel_open_worker(struct pp_channel *ch, int memfd, int eventfd)
{
	struct layout l;
	struct stat st;
	int seals, err;

	if (!ch || memfd < 0)
		return -EINVAL;
	reset(ch);
	if (fstat(memfd, &st) < 0)
		return -errno;
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
		(F_SEAL_SHRINK | F_SEAL_GROW) ||
	    st.st_size < (off_t)PP_CHANNEL_HEADER_SIZE)
		return -EINVAL;
	ch->base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			MAP_SHARED, memfd, 0);
	if (ch->base == MAP_FAILED) {
		ch->base = NULL;
		return -errno;
	}
	ch->size = (size_t)st.st_size;
	err = read_header(ch->base, ch->size, &l);
	if (!err)
		err = attach(ch, &l, PP_CHANNEL_WORKER);
	if (err) {
		pp_channel_close(ch);
		return err;
	}
	ch->fd = memfd;
	ch->parent_eventfd = eventfd;
	return 0;
}

void pp_channel_close(struct pp_channel *ch)
{
	if (!ch)
		return;
	pp_arena_destroy(&ch->own);
	if (ch->base)
		munmap(ch->base, ch->size);
	if (ch->fd >= 0)
		close(ch->fd);
	if (ch->parent_eventfd >= 0)
		close(ch->parent_eventfd);
	if (ch->wake_rd >= 0)
		close(ch->wake_rd);
	if (ch->sock >= 0)
		close(ch->sock);
	if (ch->worker_sock >= 0)
		close(ch->worker_sock);
	reset(ch);
}

static int violate(struct pp_channel *ch, enum pp_channel_violation v,
		   int32_t detail)
{
	if (!ch->violation) {
		ch->violation = v;
		ch->violation_detail = detail;
	}
	return -EPROTO;
}

static int ring_error(struct pp_channel *ch, struct pp_ring *ring, int err)
{
	if (err == -EPROTO)
		return violate(ch, PP_CHANNEL_RING_INDEX,
			       (int32_t)pp_ring_violation(ring));
	return err;
}

static void notify_peer(struct pp_channel *ch)
{
	pp_wake_notify(ch->wake_peer,
		       ch->side == PP_CHANNEL_WORKER ? ch->parent_eventfd : -1);
}

static int encode_slot(struct pp_channel *ch, struct pp_frame *f, uint32_t seq,
		       unsigned char *slot)
{
	int n;

	f->sequence = seq;
	n = pp_frame_encode(f, slot, PP_CHANNEL_SLOT_SIZE);
	if (n < 0)
		return -EINVAL;
	memset(slot + n, 0, PP_CHANNEL_SLOT_SIZE - (size_t)n);
	(void)ch;
	return 0;
}

int pp_channel_send(struct pp_channel *ch, struct pp_frame *f)
{
	int n = pp_channel_send_batch(ch, f, 1);

	if (n < 0)
		return n;
	return n == 1 ? 0 : -EAGAIN;
}

static int send_chunk(struct pp_channel *ch, struct pp_frame *f, unsigned n)
{
	unsigned char slots[BATCH_CHUNK][PP_CHANNEL_SLOT_SIZE];
	unsigned i;
	int pushed;

	for (i = 0; i < n; i++)
		if (encode_slot(ch, &f[i], ch->tx_seq + i, slots[i]))
			return -EINVAL;
	pushed = pp_ring_push_batch(&ch->tx, slots, n);
	if (pushed < 0)
		return ring_error(ch, &ch->tx, pushed);
	ch->tx_seq += (uint32_t)pushed;
	return pushed;
}

int pp_channel_send_batch(struct pp_channel *ch, struct pp_frame *f, unsigned n)
{
	unsigned done = 0, chunk;
	int pushed = 0;

	if (!ch || !ch->base || !f)
		return -EINVAL;
	if (ch->violation)
		return -EPROTO;
	while (done < n) {
		chunk = n - done < BATCH_CHUNK ? n - done : BATCH_CHUNK;
		pushed = send_chunk(ch, f + done, chunk);
		if (pushed <= 0)
			break;
		done += (unsigned)pushed;
		if ((unsigned)pushed < chunk)
			break;
	}
	if (done)
		notify_peer(ch);
	if (pushed < 0 && (done == 0 || pushed == -EPROTO))
		return pushed;
	return (int)done;
}

static int check_frame(struct pp_channel *ch, const struct pp_frame *f)
{
	int from_worker = pp_frame_from_worker(f->type);

	if (from_worker != (ch->side == PP_CHANNEL_PARENT))
		return violate(ch, PP_CHANNEL_WRONG_DIRECTION, f->type);
	if (f->sequence != ch->rx_seq)
		return violate(ch, PP_CHANNEL_BAD_SEQUENCE,
			       (int32_t)(f->sequence - ch->rx_seq));
	/* A payload in a memfd of its own starts at its offset 0. */
	if ((f->flags & PP_FRAME_F_FD) && f->payload.offset != 0)
		return violate(ch, PP_CHANNEL_BAD_PAYLOAD, 0);
	if (!(f->flags & (PP_FRAME_F_INLINE | PP_FRAME_F_FD)) &&
	    (f->type == PP_FRAME_SUBMIT || f->type == PP_FRAME_RESULT ||
	     f->type == PP_FRAME_BULK) &&
	    !pp_range_ok(f->payload.offset, f->payload.length,
			 ch->peer_part_size))
		return violate(ch, PP_CHANNEL_BAD_PAYLOAD, 0);
	return 0;
}

int pp_channel_recv(struct pp_channel *ch, struct pp_frame *f)
{
	int err;

	if (!ch || !ch->base || !f)
		return -EINVAL;
	if (ch->violation)
		return -EPROTO;
	err = pp_ring_pop(&ch->rx, ch->rx_slot);
	if (err)
		return ring_error(ch, &ch->rx, err);
	err = pp_frame_decode(ch->rx_slot, sizeof(ch->rx_slot), f);
	if (err < 0)
		return violate(ch, PP_CHANNEL_BAD_FRAME, -err);
	err = check_frame(ch, f);
	if (err) {
		memset(f, 0, sizeof(*f));
		return err;
	}
	ch->rx_seq++;
	return 0;
}

static bool rx_ready(void *arg)
{
	struct pp_channel *ch = arg;

	return pp_ring_readable(&ch->rx) != 0;
}

int pp_channel_wait(struct pp_channel *ch, int timeout_ms)
{
	int err;

	if (!ch || !ch->base)
		return -EINVAL;
	if (ch->violation)
		return -EPROTO;
	err = pp_wake_wait(&ch->waiter, rx_ready, ch, timeout_ms);
	if (ch->rx.violation)
		return ring_error(ch, &ch->rx, -EPROTO);
	return err;
}

int pp_channel_arm(struct pp_channel *ch)
{
	int avail;

	if (!ch || !ch->base || ch->side != PP_CHANNEL_PARENT)
		return -EINVAL;
	if (ch->violation)
		return -EPROTO;
	pp_wake_arm(ch->wake_self);
	/* Capped: a worker that claims arms without writing cannot save up
	 * a flood for later. An honest one has a note or two in flight. */
	if (ch->wake_owed < PP_CHANNEL_WAKE_OWED_MAX)
		ch->wake_owed += PP_WAKE_NOTE_SIZE;
	avail = pp_ring_readable(&ch->rx);
	if (avail < 0)
		return ring_error(ch, &ch->rx, avail);
	return avail > 0;
}

void pp_channel_disarm(struct pp_channel *ch)
{
	if (!ch || !ch->base || ch->side != PP_CHANNEL_PARENT)
		return;
	/* An arm no notifier claimed will never be written for. (The worker
	 * can set the flag itself: never below zero.) */
	if (pp_wake_disarm(ch->wake_self, -1) &&
	    ch->wake_owed >= PP_WAKE_NOTE_SIZE)
		ch->wake_owed -= PP_WAKE_NOTE_SIZE;
}

int pp_channel_drain_wakes(struct pp_channel *ch)
{
	unsigned char buf[PP_CHANNEL_WAKE_OWED_MAX + 1];
	ssize_t n;

	if (!ch || ch->side != PP_CHANNEL_PARENT || ch->wake_rd < 0)
		return 0;
	for (;;) {
		/* Never more than is owed, plus one byte to see a flood. */
		size_t want = ch->wake_owed + 1 < sizeof(buf)
				  ? ch->wake_owed + 1
				  : sizeof(buf);

		n = read(ch->wake_rd, buf, want);
		if (n <= 0)
			return 0; /* EAGAIN: drained; 0: the worker is gone */
		if ((size_t)n > ch->wake_owed) {
			ch->wake_owed = 0;
			return -EPROTO;
		}
		ch->wake_owed -= (uint32_t)n;
	}
}

void pp_channel_worker_started(struct pp_channel *ch)
{
	if (!ch || ch->side != PP_CHANNEL_PARENT || ch->parent_eventfd < 0)
		return;
	close(ch->parent_eventfd);
	ch->parent_eventfd = -1;
	if (ch->worker_sock >= 0)
		close(ch->worker_sock);
	ch->worker_sock = -1;
}

int pp_channel_alloc(struct pp_channel *ch, size_t len,
		     struct pp_payload_ref *ref, void **ptr)
{
	uint64_t off;
	int err;

	if (!ch || !ch->base || !ref || !ptr)
		return -EINVAL;
	err = pp_arena_alloc(&ch->own, len, &off);
	if (err)
		return err;
	ref->offset = off;
	ref->length = len;
	*ptr = ch->own.base + off;
	return 0;
}

int pp_channel_free(struct pp_channel *ch, const struct pp_payload_ref *ref)
{
	if (!ch || !ch->base || !ref)
		return -EINVAL;
	return pp_arena_free(&ch->own, ref->offset);
}

/* Punches [keep, size) of the part at base; the bytes punched. */
static long long punch_part(const struct pp_channel *ch,
			    const unsigned char *base, size_t size, size_t keep)
{
	off_t at = (off_t)(base - ch->base) + (off_t)keep;

	if (size <= keep)
		return 0;
	if (fallocate(ch->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at,
		      (off_t)(size - keep)))
		return -errno;
	return (long long)(size - keep);
}

long long pp_channel_trim(struct pp_channel *ch, size_t keep)
{
	long long in = 0, out;

	if (!ch || !ch->base || ch->fd < 0 || ch->side != PP_CHANNEL_PARENT)
		return -EINVAL;
	keep = (keep + 4095) & ~(size_t)4095;
	if (pp_arena_used(&ch->own) == 0)
		in = punch_part(ch, ch->own.base, ch->own.size, keep);
	if (in < 0)
		return in;
	out = punch_part(ch, ch->peer_part, ch->peer_part_size, keep);
	return out < 0 ? out : in + out;
}

const void *pp_channel_peer_payload(const struct pp_channel *ch,
				    const struct pp_payload_ref *ref)
{
	if (!ch || !ch->base || !ref)
		return NULL;
	if (!pp_range_ok(ref->offset, ref->length, ch->peer_part_size))
		return NULL;
	return ch->peer_part + ref->offset;
}

_Static_assert(PP_CHANNEL_CONTROL_OFFSET +
		   PP_CHANNEL_CONTROL_STRIDE * PP_WORD_COUNT <=
	       PP_CHANNEL_HEADER_SIZE,
	       "control words fit in the header page");

static _Atomic uint32_t *word_at(const struct pp_channel *ch,
				 enum pp_channel_word w)
{
	if (!ch || !ch->base || (unsigned)w >= PP_WORD_COUNT)
		return NULL;
	return (_Atomic uint32_t *)(void *)(ch->base +
					    PP_CHANNEL_CONTROL_OFFSET +
					    PP_CHANNEL_CONTROL_STRIDE *
						(unsigned)w);
}

void pp_channel_word_store(struct pp_channel *ch, enum pp_channel_word w,
			   uint32_t value)
{
	_Atomic uint32_t *p = word_at(ch, w);

	if (p)
		atomic_store(p, value);
}

uint32_t pp_channel_word_fetch(struct pp_channel *ch, enum pp_channel_word w)
{
	_Atomic uint32_t *p = word_at(ch, w);

	return p ? atomic_fetch_add(p, 0) : 0;
}

uint32_t pp_channel_word_load(const struct pp_channel *ch,
			      enum pp_channel_word w)
{
	_Atomic uint32_t *p = word_at(ch, w);

	return p ? atomic_load_explicit(p, memory_order_acquire) : 0;
}

enum pp_channel_violation pp_channel_violation(const struct pp_channel *ch)
{
	return ch ? (enum pp_channel_violation)ch->violation : PP_CHANNEL_OK;
}

const char *pp_channel_violation_str(const struct pp_channel *ch)
{
	switch (pp_channel_violation(ch)) {
	case PP_CHANNEL_OK:
		return "none";
	case PP_CHANNEL_RING_INDEX:
		return pp_ring_violation_str(
		    (enum pp_ring_violation)ch->violation_detail);
	case PP_CHANNEL_BAD_FRAME:
		return pp_frame_status_str(ch->violation_detail);
	case PP_CHANNEL_WRONG_DIRECTION:
		return "frame type not allowed in this direction";
	case PP_CHANNEL_BAD_SEQUENCE:
		return "frame sequence number out of order";
	case PP_CHANNEL_BAD_PAYLOAD:
		return "payload reference outside the sender's arena part";
	}
	return "unknown";
}
