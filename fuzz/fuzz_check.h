/*
 * Shared by the fuzz targets: the libFuzzer entry point and a check that
 * stops the run on a broken invariant.
 *
 * FUZZ_CHECK prints the failed condition and aborts, so libFuzzer (or the
 * replay test) reports it as a crash with the input that caused it. Inputs
 * are read through the library's own bounded cursor (src/ipc/cursor.h):
 * a read past the end yields zeros and ends the operation loop.
 */
#ifndef PP_FUZZ_FUZZ_CHECK_H
#define PP_FUZZ_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void __attribute__((noreturn))
fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

#define FUZZ_CHECK(cond)                                                       \
	((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

#endif /* PP_FUZZ_FUZZ_CHECK_H */
