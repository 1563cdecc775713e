#include "tests/hostile/impostor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "src/ipc/wake.h"
#include "tests/core/tasks.h"

namespace pp_hostile {

namespace {

template <typename T> T at(const unsigned char *base, size_t off)
{
	T v;
	memcpy(&v, base + off, sizeof(v));
	return v;
}

// The worker's wakeup fd: the one fd it holds that is not a regular file
// (the channel's memfd is one) and not stdio.
int find_wake_fd()
{
	for (int fd = 3; fd < 64; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
			return fd;
	}
	return -1;
}

}  // namespace

bool impostor_open(Impostor *im)
{
	memset(im, 0, sizeof(*im));
	im->base = pp_test::find_channel();
	if (!im->base)
		return false;
	// The header's layout (see channel.c, write_header).
	uint32_t submit_slots = at<uint32_t>(im->base, 20);
	uint32_t complete_slots = at<uint32_t>(im->base, 24);
	uint64_t submit_off = at<uint64_t>(im->base, 32);
	uint64_t complete_off = at<uint64_t>(im->base, 40);
	if (pp_ring_attach(&im->tx, im->base + complete_off, complete_slots,
			   PP_CHANNEL_SLOT_SIZE, PP_RING_PRODUCER) ||
	    pp_ring_attach(&im->rx, im->base + submit_off, submit_slots,
			   PP_CHANNEL_SLOT_SIZE, PP_RING_CONSUMER))
		return false;
	// One frame a slot, counted from zero: the producer index is the
	// sequence number of the next frame.
	im->seq = im->tx.own;
	im->wake_fd = find_wake_fd();
	return true;
}

int impostor_send(Impostor *im, pp_frame *f)
{
	unsigned char slot[PP_CHANNEL_SLOT_SIZE];

	memset(slot, 0, sizeof(slot));
	f->sequence = im->seq;
	if (pp_frame_encode(f, slot, sizeof(slot)) < 0)
		return -EINVAL;
	int err = pp_ring_push(&im->tx, slot, sizeof(slot));
	if (err)
		return err;
	im->seq++;
	pp_wake_notify(im->base + PP_CHANNEL_WAKE_PARENT_OFFSET, im->wake_fd);
	return 0;
}

int impostor_recv(Impostor *im, pp_frame *f)
{
	static unsigned char slot[PP_CHANNEL_SLOT_SIZE];
	int err = pp_ring_pop(&im->rx, slot);

	if (err)
		return err;
	return pp_frame_decode(slot, sizeof(slot), f) > 0 ? 0 : -EPROTO;
}

uint32_t impostor_read_word(const Impostor *im, pp_channel_word w)
{
	auto *p = reinterpret_cast<std::atomic<uint32_t> *>(
		im->base + PP_CHANNEL_CONTROL_OFFSET +
		PP_CHANNEL_CONTROL_STRIDE * static_cast<unsigned>(w));
	return p->load();
}

void impostor_word(Impostor *im, pp_channel_word w, uint32_t value)
{
	auto *p = reinterpret_cast<std::atomic<uint32_t> *>(
		im->base + PP_CHANNEL_CONTROL_OFFSET +
		PP_CHANNEL_CONTROL_STRIDE * static_cast<unsigned>(w));
	p->store(value);
}

}  // namespace pp_hostile
