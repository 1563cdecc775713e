/*
 * The program's modules (the executable and the shared libraries loaded
 * at startup), for clean-room workers: a task function travels as
 * (module index, offset from the module's load address), because a fresh
 * exec of the program loads the same modules in the same order at other
 * addresses.
 *
 * Both sides take their table in the library's constructor, before main:
 * the link map then holds exactly what the program loads at startup, so a
 * module dlopen'd later is never in it, and a worker that is a fresh exec
 * finds the same list. Only executable segments count: a reference always
 * names code.
 *
 * Thread-safety: the table is written once, in the constructor, and
 * read-only afterwards.
 */
#ifndef PP_CORE_MODULES_H
#define PP_CORE_MODULES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A reference: the module's index above this bit, the offset below. */
#define PP_FUNC_REF_INDEX_SHIFT 48
#define PP_FUNC_REF_OFFSET_MASK ((UINT64_C(1) << PP_FUNC_REF_INDEX_SHIFT) - 1)
#define PP_MODULES_MAX		4096

struct pp_module {
	uint64_t name_hash; /* FNV-1a of the loader's name ("" for the
			     * executable); 0: not usable here */
	uintptr_t bias;	    /* load address (dlpi_addr) */
	uintptr_t lo, hi;   /* extent of the executable segments */
};

struct pp_module_table {
	struct pp_module *mods;
	uint32_t count;
};

/* pp_modules_snapshot - the modules loaded now, in link-map order.
 * Returns 0 or -ENOMEM. */
int pp_modules_snapshot(struct pp_module_table *t);

/*
 * pp_modules_self_at_startup - 1 when a fresh exec of the program loads
 * this library by itself (linked in statically, in the executable's
 * DT_NEEDED closure, or in LD_PRELOAD), 0 when it was dlopen'd: then a
 * clean-room worker could not enter through it.
 */
int pp_modules_self_at_startup(void);

/* pp_modules_startup - the table the constructor took, or NULL when it
 * could not (out of memory). */
const struct pp_module_table *pp_modules_startup(void);

/*
 * pp_modules_ref - the reference of code address addr. Returns 0 with
 * *ref set, or -ENOENT when addr lies in no executable segment of a
 * module in t.
 */
int pp_modules_ref(const struct pp_module_table *t, uintptr_t addr,
		   uint64_t *ref);

/*
 * pp_modules_resolve - the address a reference names in t, or 0 when the
 * index is out of range, the module is not usable, or the offset falls
 * outside its executable segments.
 */
uintptr_t pp_modules_resolve(const struct pp_module_table *t, uint64_t ref);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_MODULES_H */
