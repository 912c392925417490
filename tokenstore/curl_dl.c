/*
 * curl_dl.c - libcurl, loaded when the first URL is parsed or the first
 * request made rather than when the program starts (see curl_dl_p.h).
 * libcurl brings about two dozen libraries (TLS, Kerberos, LDAP, ...):
 * mapping and relocating them costs a helper run several times what its
 * real work costs, and most runs (`token` with a valid token, `list`,
 * `status`) never touch the network.
 *
 * The plugin loads it when it opens its context (oa2_preload), before a
 * program like Postfix's smtp enters a chroot where the library files
 * are out of reach.
 */
#include <config.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "curl_dl_p.h"
#include "oauth.h"

/* The SONAME of the libcurl the build was configured against. */
#define OA2_CURL_SONAME "libcurl.so.4"

struct oa2_curl_api oa2_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_err[512];

static void load(void)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define SYM(member, name) { name, offsetof(struct oa2_curl_api, member) }
		SYM(p_global_init, "curl_global_init"),
		SYM(p_global_init_mem, "curl_global_init_mem"),
		SYM(p_easy_init, "curl_easy_init"),
		SYM(p_easy_setopt, "curl_easy_setopt"),
		SYM(p_easy_perform, "curl_easy_perform"),
		SYM(p_easy_getinfo, "curl_easy_getinfo"),
		SYM(p_easy_cleanup, "curl_easy_cleanup"),
		SYM(p_easy_strerror, "curl_easy_strerror"),
		SYM(p_slist_append, "curl_slist_append"),
		SYM(p_slist_free_all, "curl_slist_free_all"),
		SYM(p_url, "curl_url"),
		SYM(p_url_set, "curl_url_set"),
		SYM(p_url_get, "curl_url_get"),
		SYM(p_url_cleanup, "curl_url_cleanup"),
		SYM(p_free, "curl_free"),
#undef SYM
	};
	struct oa2_curl_api api;
	void *h, *f;
	size_t i;

	/* Never closed: libcurl keeps global state, and the plugin may be
	 * unloaded while the application goes on using libcurl itself. */
	h = dlopen(OA2_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(load_err, sizeof(load_err), "%s", dlerror());
		return;
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if ((f = dlsym(h, syms[i].name)) == NULL) {
			snprintf(load_err, sizeof(load_err), "%s has no %s", OA2_CURL_SONAME,
				 syms[i].name);
			return;
		}
		/* POSIX guarantees that a function's address survives this. */
		memcpy((char *)&api + syms[i].off, &f, sizeof(f));
	}
	f = dlsym(h, "SSL_CTX_set_options");
	memcpy(&api.p_ssl_ctx_set_options, &f, sizeof(f));
	oa2_curl = api;
	loaded = true;
}

int oa2_curl_load(ts_error *err)
{
	pthread_once(&load_once, load);
	if (loaded)
		return TS_OK;
	return ts_error_set(err, TS_ERR,
			    "cannot load %s (%s); install libcurl (Debian: libcurl4), and when a "
			    "program using the plugin runs in a chroot, reload it so the plugin "
			    "loads libcurl before entering it", OA2_CURL_SONAME, load_err);
}

int oa2_preload(ts_error *err)
{
	return oa2_curl_load(err);
}
