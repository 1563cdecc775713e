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

/* An address in this library's code, to find the module that holds it. */
__attribute__((noinline)) static void take_self_census_marker(void)
{
	__asm__ __volatile__("");
}

static struct pp_module_table startup;
static int startup_ok;
static int self_at_startup;

/*
 * Whether this library is one a fresh exec of the program loads by
 * itself: part of the executable (a static link), named in the
 * executable's DT_NEEDED closure, or preloaded (LD_PRELOAD). A library
 * that was dlopen'd is none of these, and a clean-room worker would then
 * run the program's own main instead of entering the worker.
 */
struct loaded {
	const char *name;    /* the loader's name (a path; "" for the exe) */
	const char *soname;  /* DT_SONAME, or NULL */
	const ElfW(Dyn) *dyn;
	uintptr_t bias;
	int own;    /* holds this library's code */
	int reached; /* in the closure */
};

#define LOADED_MAX 512

struct census {
	struct loaded m[LOADED_MAX];
	int n;
	uintptr_t self;
};

/* A d_ptr of the dynamic section: relocated in place by glibc on most
 * architectures, an offset from the load address elsewhere. */
static const char *dyn_ptr(const struct loaded *l, ElfW(Addr) p)
{
	return (const char *)(p < l->bias ? p + l->bias : p);
}

static const char *dyn_strtab(const struct loaded *l)
{
	const ElfW(Dyn) *d;

	for (d = l->dyn; d && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_STRTAB)
			return dyn_ptr(l, d->d_un.d_ptr);
	return NULL;
}

static int note_loaded(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct census *c = arg;
	struct loaded *l;
	const ElfW(Dyn) *d;
	const char *str;
	int i;

	(void)size;
	if (c->n == LOADED_MAX)
		return 1;
	l = &c->m[c->n++];
	memset(l, 0, sizeof(*l));
	l->name = info->dlpi_name ? info->dlpi_name : "";
	l->bias = (uintptr_t)info->dlpi_addr;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = l->bias + (uintptr_t)ph->p_vaddr;

		if (ph->p_type == PT_DYNAMIC)
			l->dyn = (const ElfW(Dyn) *)start;
		if (ph->p_type == PT_LOAD && c->self >= start &&
		    c->self < start + ph->p_memsz)
			l->own = 1;
	}
	str = dyn_strtab(l);
	for (d = l->dyn; str && d && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_SONAME)
			l->soname = str + d->d_un.d_val;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Whether needed (a DT_NEEDED or LD_PRELOAD entry) names module l. */
static int names(const struct loaded *l, const char *needed)
{
	if (l->soname && !strcmp(l->soname, needed))
		return 1;
	if (!strcmp(l->name, needed))
		return 1;
	return !strchr(needed, '/') && !strcmp(base_name(l->name), needed);
}

static void reach(struct census *c, const char *needed)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (names(&c->m[i], needed))
			c->m[i].reached = 1;
}

/* LD_PRELOAD lists names separated by spaces or colons. */
static void reach_preloaded(struct census *c)
{
	const char *v = getenv("LD_PRELOAD");
	char name[4096];

	while (v && *v) {
		size_t n = strcspn(v, " :");

		if (n && n < sizeof(name)) {
			memcpy(name, v, n);
			name[n] = '\0';
			reach(c, name);
		}
		v += n;
		v += strspn(v, " :");
	}
}

static int loaded_at_startup(void)
{
	static struct census c;
	int i, grew, k;

	c.n = 0;
	c.self = (uintptr_t)&take_self_census_marker;
	dl_iterate_phdr(note_loaded, &c);
	if (c.n == 0)
		return 0;
	c.m[0].reached = 1; /* the executable */
	reach_preloaded(&c);
	do {
		grew = 0;
		for (i = 0; i < c.n; i++) {
			const struct loaded *l = &c.m[i];
			const char *str = dyn_strtab(l);
			const ElfW(Dyn) *d;

			if (!l->reached || !str)
				continue;
			for (d = l->dyn; d->d_tag != DT_NULL; d++) {
				if (d->d_tag != DT_NEEDED)
					continue;
				for (k = 0; k < c.n; k++)
					if (!c.m[k].reached &&
					    names(&c.m[k], str + d->d_un.d_val)) {
						c.m[k].reached = 1;
						grew = 1;
					}
			}
		}
	} while (grew);
	for (i = 0; i < c.n; i++)
		if (c.m[i].own)
			return c.m[i].reached;
	return 0;
}

/* Before main, and before the clean-room entry (priority 102) looks. */
__attribute__((constructor(101))) static void take_startup_table(void)
{
	startup_ok = pp_modules_snapshot(&startup) == 0;
	self_at_startup = loaded_at_startup();
}

int pp_modules_self_at_startup(void)
{
	return self_at_startup;
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
