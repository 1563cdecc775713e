// An attacker's view of its own worker's channel, for task code that has
// taken over its worker: it finds the channel mapping, reads its layout,
// and can then read SUBMIT frames, send any frame a worker could send
// (with the sequence numbers the parent expects) and write the control
// words. Everything a compromised task could do with the shared memory.
#ifndef PP_TESTS_HOSTILE_IMPOSTOR_H
#define PP_TESTS_HOSTILE_IMPOSTOR_H

#include <cstdint>

#include "src/ipc/channel.h"

namespace pp_hostile {

struct Impostor {
	unsigned char *base;
	pp_ring tx;	 // the completion ring, as its producer
	pp_ring rx;	 // the submission ring, as its consumer
	uint32_t seq;	 // next sequence the parent expects
	int wake_fd;	 // the wakeup fd the worker holds, or -1
};

// Opens the view; false when the channel is not found (the task needs
// "@file-read" to read /proc/self/maps).
bool impostor_open(Impostor *im);

// Sends f with the next sequence number and wakes the parent. 0, or
// -EAGAIN when the ring is full.
int impostor_send(Impostor *im, pp_frame *f);

// Takes the next frame the parent sent; 0 or -EAGAIN.
int impostor_recv(Impostor *im, pp_frame *f);

// Reads a control word.
uint32_t impostor_read_word(const Impostor *im, pp_channel_word w);

// Writes a control word.
void impostor_word(Impostor *im, pp_channel_word w, uint32_t value);

}  // namespace pp_hostile

#endif  // PP_TESTS_HOSTILE_IMPOSTOR_H
