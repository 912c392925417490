/*
 * pq_dl.c - libpq, loaded when a postgresql:// store is opened rather than
 * when the program starts (see pq_dl_p.h). The plugin opens its store when
 * it is initialised, before a program like Postfix's smtp enters a chroot,
 * so the library is mapped while its files are still in reach.
 */
#include <config.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#define PQ_DL_NO_RENAME
#include "pq_dl_p.h"

/* The SONAME of the libpq the build was configured against. */
#define TS_PQ_SONAME "libpq.so.5"

struct ts_pq_api ts_pq;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_err[512];

static void load(void)
{
	struct ts_pq_api api;
	void *h;

	/* Never closed: libpq may keep global state (SSL, Kerberos). */
	h = dlopen(TS_PQ_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(load_err, sizeof(load_err), "%s", dlerror());
		return;
	}
	/* POSIX guarantees that a function's address survives the cast. */
#define PQ_DL_SYM(f)                                                                 \
	if ((*(void **)&api.p_##f = dlsym(h, #f)) == NULL) {                         \
		snprintf(load_err, sizeof(load_err), "%s has no %s", TS_PQ_SONAME, #f); \
		return;                                                              \
	}
	PQ_DL_FUNCS(PQ_DL_SYM)
#undef PQ_DL_SYM
	ts_pq = api;
	loaded = true;
}

int ts_pq_load(ts_error *err)
{
	pthread_once(&load_once, load);
	if (loaded)
		return TS_OK;
	return ts_error_set(err, TS_ERR,
			    "store: cannot load %s (%s); install libpq (Debian: libpq5)",
			    TS_PQ_SONAME, load_err);
}
