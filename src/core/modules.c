/* The program's startup modules; see modules.h. */
#include "src/core/modules.h"

#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1; /* 0 means "not usable" */
}

struct walk {
	struct pp_module_table *t;
	uint32_t cap;
	int err;
};

static int add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct walk *w = arg;
	struct pp_module m;
	int i;

	(void)size;
	memset(&m, 0, sizeof(m));
	m.name_hash = fnv1a(info->dlpi_name ? info->dlpi_name : "");
	m.bias = (uintptr_t)info->dlpi_addr;
	m.lo = UINTPTR_MAX;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = m.bias + (uintptr_t)ph->p_vaddr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (start < m.lo)
			m.lo = start;
		if (start + ph->p_memsz > m.hi)
			m.hi = start + (uintptr_t)ph->p_memsz;
	}
	if (m.lo == UINTPTR_MAX)
		m.lo = m.hi = 0; /* no code: nothing resolves to it */
	if (w->t->count == PP_MODULES_MAX)
		return 1;
	if (w->t->count == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 32;
		struct pp_module *mods =
		    realloc(w->t->mods, cap * sizeof(*mods));

		if (!mods) {
			w->err = -ENOMEM;
			return 1;
		}
		w->t->mods = mods;
		w->cap = cap;
	}
	w->t->mods[w->t->count++] = m;
	return 0;
}

int pp_modules_snapshot(struct pp_module_table *t)
{
	struct walk w = {t, 0, 0};

	t->mods = NULL;
	t->count = 0;
	dl_iterate_phdr(add_module, &w);
	if (w.err) {
		free(t->mods);
		t->mods = NULL;
		t->count = 0;
	}
	return w.err;
}

static struct pp_module_table startup;
static int startup_ok;

/* Before main, and before the clean-room entry (priority 102) looks. */
__attribute__((constructor(101))) static void take_startup_table(void)
{
	startup_ok = pp_modules_snapshot(&startup) == 0;
}

const struct pp_module_table *pp_modules_startup(void)
{
	return startup_ok ? &startup : NULL;
}

int pp_modules_ref(const struct pp_module_table *t, uintptr_t addr,
		   uint64_t *ref)
{
	uint32_t i;

	for (i = 0; t && i < t->count; i++) {
		const struct pp_module *m = &t->mods[i];
		uint64_t off = (uint64_t)(addr - m->bias);

		if (addr < m->lo || addr >= m->hi || !m->name_hash)
			continue;
		if (off > PP_FUNC_REF_OFFSET_MASK)
			return -ENOENT;
		*ref = ((uint64_t)i << PP_FUNC_REF_INDEX_SHIFT) | off;
		return 0;
	}
	return -ENOENT;
}

uintptr_t pp_modules_resolve(const struct pp_module_table *t, uint64_t ref)
{
	uint64_t i = ref >> PP_FUNC_REF_INDEX_SHIFT;
	const struct pp_module *m;
	uintptr_t addr;

	if (!t || i >= t->count)
		return 0;
	m = &t->mods[i];
	addr = m->bias + (uintptr_t)(ref & PP_FUNC_REF_OFFSET_MASK);
	if (!m->name_hash || addr < m->lo || addr >= m->hi)
		return 0;
	return addr;
}
