/*
 * Static probes (USDT, <sys/sdt.h>) for perf, bpftrace and SystemTap:
 * provider "processpool", probes submit, dispatch, start, end, kill and
 * respawn (README, "Tracing"). Each is a single nop in the code and a
 * note in the ELF file; without the header (Debian: systemtap-sdt-dev)
 * they compile to nothing.
 */
#ifndef PP_CORE_PROBES_H
#define PP_CORE_PROBES_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define PP_HAVE_SDT 1
#endif
#endif

#ifdef PP_HAVE_SDT
#define PP_PROBE1(name, a)	 STAP_PROBE1(processpool, name, a)
#define PP_PROBE2(name, a, b)	 STAP_PROBE2(processpool, name, a, b)
#define PP_PROBE3(name, a, b, c) STAP_PROBE3(processpool, name, a, b, c)
#else
#define PP_PROBE1(name, a)	 ((void)0)
#define PP_PROBE2(name, a, b)	 ((void)0)
#define PP_PROBE3(name, a, b, c) ((void)0)
#endif

#endif /* PP_CORE_PROBES_H */
