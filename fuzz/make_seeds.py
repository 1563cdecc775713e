#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/{ring,frame,channel}/.

Each seed is a meaningful starting point in its target's input format (see
the comment at the top of each *_fuzzer.c): ring op sequences that fill,
drain, wrap and get corrupted; valid, truncated and corrupted frames and
streams; channel sessions that reach the accepting path and every kind of
violation. Generated files are named seed-*; files named regress-* are
inputs a fuzzer once crashed on, kept by hand, and are left alone.

Usage: fuzz/make_seeds.py            (from anywhere; rewrites the seed-*)
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# --- frame wire format (src/ipc/frame.h) -----------------------------------

MAGIC = 0x52465050
SUBMIT, RESULT, CANCEL, PING, PONG, HELLO, SHUTDOWN, LEARNED = range(1, 9)
USAGE, TRACE = 11, 12
F_INLINE = 1
F_PRIO = 0x100  # times 0..3: a SUBMIT's priority
HEADER = 24
BODY = {SUBMIT: 32, RESULT: 24, CANCEL: 0, PING: 8, PONG: 8, HELLO: 8,
        SHUTDOWN: 0, LEARNED: 40, USAGE: 24, TRACE: 32}
LEARNED_CHUNKS = 4  # a chunk is 32 bitmap bytes: 256 syscalls


def body(ftype, a=0, b=0, off=0, length=0):
    if ftype == SUBMIT:
        return struct.pack("<QQQQ", a, b, off, length)
    if ftype == RESULT:
        return struct.pack("<iiQQ", a, b, off, length)
    if ftype in (PING, PONG):
        return struct.pack("<Q", a)
    if ftype == HELLO:
        return struct.pack("<II", a, b)
    if ftype == LEARNED:  # a: chunk, b: reserved, off: the bitmap's bits
        return struct.pack("<II", a, b) + off.to_bytes(32, "little")
    if ftype == USAGE:  # user us, system us, peak KiB
        return struct.pack("<QQQ", a, b, off)
    if ftype == TRACE:  # a: trace id, b: span id, off: flags, length:
        # the reserved bytes
        return (a.to_bytes(16, "little") + b.to_bytes(8, "little") +
                bytes([off]) + (length or 0).to_bytes(7, "little"))
    return b""


def frame(ftype, seq=0, task=0, a=0, b=0, off=0, length=None, data=None,
          flags=0, version=1, magic=MAGIC, total=None):
    """Encodes a frame; every field can be forced to a wrong value."""
    if data is not None:
        flags |= F_INLINE
        length = len(data) if length is None else length
    payload = body(ftype, a, b, off, length or 0)
    data = data or b""
    if total is None:
        total = HEADER + len(payload) + len(data)
    head = struct.pack("<IBBHIIQ", magic, version, ftype, flags, total, seq,
                       task)
    return head + payload + data


# --- output ----------------------------------------------------------------


def write_corpus(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for label, data in seeds:
        with open(os.path.join(d, "seed-" + label), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (name, len(seeds)))


# --- ring ------------------------------------------------------------------

(R_PUSH, R_PUSH_BATCH, R_POP, R_POP_BATCH, R_READABLE, R_WRITABLE,
 R_NUDGE_P, R_NUDGE_C, R_SET_P, R_SET_C, R_MISUSE, R_REATTACH) = range(12)


def ring_cfg(cap_log, slot):
    """cap = 2 << cap_log (cap_log 0..5), slot a multiple of 8 in 8..128."""
    return bytes([cap_log, slot // 8 - 1])


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def i8(v):
    return bytes([v & 0xFF])


def ring_seeds():
    seeds = []
    for cap_log in (0, 2, 5):
        cap = 2 << cap_log
        for slot in (8, 64, 128):
            ops = b""
            for i in range(cap + 1):  # one more than fits: -EAGAIN
                ops += bytes([R_PUSH, (i * 7) % slot])
            ops += bytes([R_READABLE, R_WRITABLE])
            ops += bytes([R_POP]) * (cap + 1)  # one more: -EAGAIN
            seeds.append(("fill-drain-c%d-s%d" % (cap, slot),
                          ring_cfg(cap_log, slot) + ops))
        ops = bytes([R_PUSH_BATCH, cap, R_PUSH_BATCH, 1, R_POP_BATCH, 1,
                     R_PUSH_BATCH, 2 * cap, R_POP_BATCH, 2 * cap,
                     R_POP_BATCH, 1])
        seeds.append(("batch-c%d" % cap, ring_cfg(cap_log, 64) + ops))
        ops = bytes([R_PUSH, 3, R_POP]) * (3 * cap)
        seeds.append(("cycle-c%d" % cap, ring_cfg(cap_log, 16) + ops))

    # Indices near 2^32: both sides re-attach there, then run through the
    # wrap with the model still exact.
    wrap = (bytes([R_SET_P]) + u32(-3) + bytes([R_SET_C]) + u32(-3) +
            bytes([R_REATTACH, 2]))
    seeds.append(("wrap", ring_cfg(1, 8) + wrap +
                  bytes([R_PUSH, 5, R_PUSH_BATCH, 3, R_POP, R_POP_BATCH, 4,
                         R_PUSH_BATCH, 4, R_POP_BATCH, 4, R_READABLE])))

    # A hostile peer: each kind of index corruption, then the victim runs.
    cfg = ring_cfg(2, 32)  # capacity 8
    fill = bytes([R_PUSH, 1, R_PUSH, 2, R_PUSH, 3])
    seeds += [
        ("prod-jump", cfg + fill + bytes([R_NUDGE_P]) + i8(9) +
         bytes([R_POP, R_POP, R_READABLE])),
        ("prod-within", cfg + fill + bytes([R_NUDGE_P]) + i8(2) +
         bytes([R_POP_BATCH, 16, R_PUSH, 1, R_WRITABLE])),
        ("prod-back", cfg + fill + bytes([R_READABLE, R_NUDGE_P]) + i8(-2) +
         bytes([R_READABLE, R_POP])),
        ("prod-set", cfg + fill + bytes([R_SET_P]) + u32(0x80000000) +
         bytes([R_POP_BATCH, 8])),
        ("cons-jump", cfg + fill + bytes([R_NUDGE_C]) + i8(5) +
         bytes([R_WRITABLE, R_PUSH, 1])),
        ("cons-within", cfg + fill + bytes([R_NUDGE_C]) + i8(2) +
         bytes([R_PUSH_BATCH, 16, R_POP_BATCH, 16])),
        ("cons-back", cfg + fill + bytes([R_POP, R_POP, R_WRITABLE,
                                          R_NUDGE_C]) + i8(-1) +
         bytes([R_WRITABLE, R_PUSH_BATCH, 8])),
        ("cons-set", cfg + fill + bytes([R_SET_C]) + u32(0xFFFFFFFF) +
         bytes([R_PUSH_BATCH, 8])),
        ("heal", cfg + fill + bytes([R_NUDGE_P]) + i8(1) +
         bytes([R_PUSH, 4, R_POP_BATCH, 8])),
        ("reattach-mid", cfg + fill + bytes([R_REATTACH, 1, R_POP_BATCH, 8,
                                             R_REATTACH, 0, R_PUSH, 9,
                                             R_POP])),
        ("reattach-bad", cfg + fill + bytes([R_SET_P]) + u32(100) +
         bytes([R_REATTACH, 1, R_REATTACH, 0, R_POP])),
    ]
    misuse = b"".join(bytes([R_MISUSE, k]) for k in range(8))
    seeds.append(("misuse", cfg + fill + misuse))
    seeds.append(("misuse-violated", cfg + fill + bytes([R_NUDGE_P]) +
                  i8(9) + bytes([R_READABLE, R_NUDGE_C]) + i8(-1) +
                  bytes([R_PUSH_BATCH, 8]) + misuse))
    return seeds


# --- frame -----------------------------------------------------------------


def frame_seeds():
    good = [
        ("submit", frame(SUBMIT, 1, 42, 0x1000, 7, 64, 128)),
        ("result", frame(RESULT, 2, 42, 0, -5, 4096, 4096)),
        ("cancel", frame(CANCEL, 3, 42)),
        ("ping", frame(PING, 4, 0, 0xDEADBEEF)),
        ("pong", frame(PONG, 5, 0, 0xDEADBEEF)),
        ("hello", frame(HELLO, 0, 0, 1234)),
        ("shutdown", frame(SHUTDOWN, 9)),
        ("submit-inline", frame(SUBMIT, 1, 7, 3, 4, data=b"12345678")),
        ("submit-inline-0", frame(SUBMIT, 1, 7, data=b"")),
        ("submit-prio", frame(SUBMIT, 1, 7, flags=3 * F_PRIO)),
        ("submit-prio-inline", frame(SUBMIT, 1, 7, flags=F_PRIO, data=b"p")),
        ("result-inline", frame(RESULT, 1, 7, 0, 0, data=b"x" * 16)),
        ("result-inline-big", frame(RESULT, 1, 7, data=bytes(range(200)))),
        ("learned", frame(LEARNED, 10, 42, 0, 0, (1 << 41) | (1 << 2))),
        ("learned-last", frame(LEARNED, 11, 42, LEARNED_CHUNKS - 1, 0,
                               1 << 255)),
        ("usage", frame(USAGE, 12, 42, 200000, 3000, 65 << 10)),
        ("trace", frame(TRACE, 13, 42, (1 << 127) | 5, 0xb7ad6b7169203331,
                        1)),
    ]
    seeds = list(good)
    for label, data in good[:7]:
        seeds.append(("trunc-" + label, data[:-1]))
    seeds.append(("trunc-header", good[0][1][:10]))
    seeds.append(("trunc-inline", good[9][1][:-3]))
    seeds.append(("trunc-learned", good[-1][1][:-1]))
    seeds += [
        ("bad-magic", frame(PING, magic=0x52465051)),
        ("bad-version", frame(PING, version=2)),
        ("bad-type-0", frame(PING)[:5] + b"\x00" + frame(PING)[6:]),
        ("bad-type-9", frame(PING)[:5] + b"\x09" + frame(PING)[6:]),
        ("learned-bad-chunk", frame(LEARNED, a=LEARNED_CHUNKS)),
        ("learned-reserved", frame(LEARNED, a=1, b=1)),
        ("trace-reserved", frame(TRACE, a=1, b=1, off=1, length=1 << 48)),
        ("bad-flags", frame(PING, flags=2)),
        ("bad-flags-prio", frame(RESULT, flags=2 * F_PRIO)),
        ("inline-on-ping", frame(PING, flags=F_INLINE, total=40) + b"\0" * 8),
        ("bad-length-short", frame(RESULT, total=40)),
        ("bad-length-long", frame(PONG, total=33) + b"\0"),
        ("bad-length-huge", frame(SUBMIT, data=b"ab", total=(1 << 20) + 1)),
        ("hello-reserved", frame(HELLO, a=1, b=1)),
        ("inline-offset", frame(SUBMIT, off=8, data=b"abcd")),
        ("inline-length", frame(RESULT, length=5, data=b"abcd")),
    ]
    stream = b"".join(d for _, d in good)
    seeds.append(("stream", stream))
    seeds.append(("stream-garbage", good[3][1] + b"junkPPF" + good[1][1] +
                  b"\xff" * 5 + good[9][1] + good[0][1][:30]))
    seeds.append(("stream-bad-then-good", frame(PING, version=3) +
                  good[4][1]))
    return seeds


# --- channel ---------------------------------------------------------------

(C_SCRIBBLE, C_WORKER_SEND, C_HOSTILE_PUSH, C_RECV, C_SEND, C_WORKER_RECV,
 C_ARM, C_WAIT, C_ALLOC, C_FREE, C_PEER_PAYLOAD, C_REOPEN) = range(12)
A_HEADER, A_WAKE, A_SUBMIT, A_COMPLETE, A_INPUT, A_OUTPUT, A_ANY = range(7)
SLOT = 64
RING_SLOTS = 128


def chan_cfg(submit_log=0, complete_log=0, granule_log=0, arenas=0x11,
             worker=False):
    """Slots 8 << log, granule 64 << log, arena granules - 1 per nibble."""
    return bytes([submit_log, complete_log, granule_log, arenas,
                  1 if worker else 0])


def scribble(area, off, data):
    assert len(data) <= 64
    return bytes([C_SCRIBBLE, area]) + struct.pack("<H", off) + \
        bytes([len(data)]) + data


def put_slot(i, data, slots=8):
    """Writes a raw frame into completion slot i (mod slots)."""
    return scribble(A_COMPLETE, RING_SLOTS + (i % slots) * SLOT, data)


def publish(index):
    return scribble(A_COMPLETE, 0, u32(index))


def worker_send(kind, task=1, a=0, b=0, data=b""):
    """kind % 3: RESULT, PONG, HELLO (LEARNED when kind >= 128); RESULT
    payload (kind >> 2) % 3: inline (b % 17 bytes follow), arena
    reference, none. So kind 0 is an inline RESULT, 6 one in the arena, 9
    one without payload, 131 a LEARNED."""
    return bytes([C_WORKER_SEND, kind, task]) + struct.pack("<H", a) + \
        bytes([b]) + data


def parent_send(kind, task=1, b=0, data=b""):
    """kind odd: PING; even: SUBMIT with payload (kind >> 1) % 3: inline
    (b % 9 bytes follow), a live allocation, none; priority (kind >> 3) & 3.
    """
    return bytes([C_SEND, kind, task, b]) + data


def result(seq, task=1, off=0, length=0, data=None):
    if data is not None:
        length = None  # inline: the data's own length
    return frame(RESULT, seq, task, 0, 0, off, length, data)


def channel_seeds():
    seeds = []
    # Valid frames written straight into the completion ring, published
    # with the right index: the accepting path from the first input.
    raw = b""
    for i in range(3):
        raw += put_slot(i, result(i, task=10 + i, off=64 * i, length=32))
    seeds.append(("raw-results", chan_cfg(arenas=0x33) + raw + publish(3) +
                  bytes([C_ARM, C_RECV, C_ARM])))
    seeds.append(("raw-mixed", chan_cfg() +
                  put_slot(0, frame(HELLO, 0, 0, 99)) +
                  put_slot(1, result(1, data=b"inline-payload!!")) +
                  put_slot(2, frame(PONG, 2, 0, 7)) + publish(3) +
                  bytes([C_WAIT, C_RECV])))
    wrap = b""
    for i in range(12):  # more frames than the 8 slots: wraps the ring
        wrap += put_slot(i, result(i, task=i)) + publish(i + 1)
        wrap += bytes([C_RECV])
    seeds.append(("raw-wrap", chan_cfg() + wrap))

    # The same, each with one thing a hostile worker gets wrong.
    bad = [
        ("seq", result(5)),
        ("type", frame(SUBMIT, 0, 1)),
        ("payload", result(0, off=120, length=16)),
        ("payload-huge", result(0, off=0xFFFFFFFFFFFFFFF0, length=32)),
        ("magic", result(0)[:3] + b"Q" + result(0)[4:]),
        ("length", frame(RESULT, 0, total=200)),
        ("inline", frame(RESULT, 0, data=b"y" * 17)),
    ]
    for label, data in bad:
        seeds.append(("bad-" + label, chan_cfg() + put_slot(0, data[:64]) +
                      publish(1) + bytes([C_RECV, C_RECV, C_SEND, 1, 0, 0,
                                          C_ARM, C_WAIT])))
    seeds.append(("bad-jump", chan_cfg() + put_slot(0, result(0)) +
                  publish(9) + bytes([C_RECV, C_RECV])))
    seeds.append(("bad-backwards", chan_cfg() + put_slot(0, result(0)) +
                  put_slot(1, result(1)) + publish(2) +
                  bytes([C_ARM]) + publish(1) + bytes([C_RECV, C_RECV])))
    seeds.append(("bad-consumer-word", chan_cfg() + parent_send(1) +
                  scribble(A_SUBMIT, 64, u32(50)) + parent_send(1) * 9 +
                  bytes([C_RECV])))

    # An honest worker: a real worker view, or the harness writing raw.
    for worker in (True, False):
        tag = "view" if worker else "raw"
        ops = (worker_send(0, 1, 0, 5, b"hello") +  # RESULT inline
               worker_send(6, 2, 64, 40) +           # RESULT arena
               worker_send(9, 3) +                   # RESULT no payload
               worker_send(1, 4, 77) +               # PONG
               worker_send(2, 5, 1234) +             # HELLO
               worker_send(131, 6, 1, 0xA5) +        # LEARNED
               bytes([C_ARM, C_RECV, C_ARM]))
        seeds.append(("honest-" + tag, chan_cfg(arenas=0x11, worker=worker)
                      + ops))
        fill = worker_send(9) * 9 + bytes([C_RECV]) + worker_send(9) * 3
        seeds.append(("honest-full-" + tag, chan_cfg(worker=worker) + fill +
                      bytes([C_WAIT, C_RECV, C_WAIT])))
    seeds.append(("submit-roundtrip", chan_cfg(arenas=0x22, worker=True) +
                  bytes([C_ALLOC, 100, 0]) +
                  parent_send(0, 1, 4, b"abcd") +    # inline SUBMIT
                  parent_send(2, 2, 0) +             # SUBMIT, arena
                  parent_send(4, 3) +                # SUBMIT, none
                  parent_send(1, 4) +                # PING
                  bytes([C_WORKER_RECV]) + worker_send(6, 1, 0, 60) +
                  bytes([C_RECV, C_FREE, 0, 7, 0])))
    seeds.append(("submit-priority", chan_cfg(worker=True) +
                  parent_send(16, 1) +               # SUBMIT, priority 2
                  parent_send(24, 2, 2, b"hi") +     # inline, priority 3
                  bytes([C_WORKER_RECV])))
    seeds.append(("submit-full", chan_cfg(worker=True) +
                  parent_send(1) * 9 + bytes([C_WORKER_RECV]) +
                  parent_send(1) * 3 + bytes([C_WORKER_RECV])))
    seeds.append(("late-worker", chan_cfg(arenas=0x11) + parent_send(1) * 3 +
                  bytes([C_REOPEN, C_WORKER_RECV]) + worker_send(1) +
                  bytes([C_RECV])))
    seeds.append(("alloc-free", chan_cfg(granule_log=1, arenas=0x33) +
                  bytes([C_ALLOC, 10, 0, C_ALLOC, 200, 0, C_ALLOC, 0, 2,
                         C_FREE, 1, 0, 0, C_ALLOC, 64, 0, C_FREE, 0, 64, 0,
                         C_FREE, 0, 3, 0, C_ALLOC, 0xFF, 0xFF])))
    seeds.append(("peer-payload", chan_cfg(arenas=0x21, worker=True) +
                  bytes([C_PEER_PAYLOAD, 0, 0, 0, 128, 0,
                         C_PEER_PAYLOAD, 0, 64, 0, 65, 0,
                         C_PEER_PAYLOAD, 1, 0, 0, 1, 0,
                         C_PEER_PAYLOAD, 2, 1, 0, 0, 0])))

    # Scribbles the parent must shrug off: header, wake words, arenas.
    seeds.append(("scribble-harmless", chan_cfg(worker=True) +
                  scribble(A_HEADER, 0, b"\xff" * 64) +
                  scribble(A_WAKE, 0, b"\xff" * 64 + b"") +
                  scribble(A_WAKE, 64, b"\x01\x00\x00\x00" * 4) +
                  scribble(A_WAKE, 128, b"\xff" * 12) +  # control words
                  scribble(A_OUTPUT, 0, b"\xaa" * 32) +
                  worker_send(0, 1, 0, 3, b"abc") +
                  bytes([C_ARM, C_WAIT, C_RECV]) + parent_send(1) +
                  bytes([C_WORKER_RECV])))
    # Header changes a worker view may or may not accept on (re)open.
    for label, off, data in [("magic", 0, b"X"),
                             ("total", 8, u32(1 << 20)),
                             ("slots", 20, u32(16)),
                             ("granule", 28, u32(128)),
                             ("offset", 40, u32(12288))]:
        seeds.append(("header-" + label, chan_cfg() +
                      scribble(A_HEADER, off, data) +
                      bytes([C_REOPEN]) + worker_send(0, 1, 0, 2, b"hi") +
                      bytes([C_RECV, C_WORKER_RECV])))
    # mode 1: a PONG built from fields; mode 0: 64 raw slot bytes.
    seeds.append(("hostile-push", chan_cfg() +
                  bytes([C_HOSTILE_PUSH, 1, PONG - 1, 0, 1, 0, 0, 0, 0,
                         C_RECV, C_HOSTILE_PUSH, 0]) +
                  result(1).ljust(SLOT, b"\0") + bytes([C_RECV])))
    return seeds


def main():
    write_corpus("ring", ring_seeds())
    write_corpus("frame", frame_seeds())
    write_corpus("channel", channel_seeds())


if __name__ == "__main__":
    main()
