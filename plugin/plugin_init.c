/*
 * plugin_init.c - the module entry point: sasl_client_plug_init describes
 * the two client mechanisms (XOAUTH2, OAUTHBEARER) and opens the token
 * store context they share.
 *
 * The store and the configuration are opened here, when libsasl2 loads
 * the plugin, and in a process that may chroot also libcurl, the CA
 * certificates and the secret files (oauth2_preload), so that a client
 * that chroots afterwards (Postfix's smtp) keeps working with nothing
 * copied into the jail. A
 * failure to open is not fatal to loading: it is logged once, kept, retried
 * when a connection starts, and reported to every login attempt meanwhile.
 * That retry may happen in several threads at once: it is serialised by the
 * mutex in the global context (see plugin_p.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "plugin_p.h"

const char *const mech_names[2] = { "XOAUTH2", "OAUTHBEARER" };

/* Only the authentication name is required: the password (which may name
 * a token) is optional, so applications with just an AUTHNAME callback are
 * offered these mechanisms. */
static const unsigned long plug_required_prompts[] = {
	SASL_CB_AUTHNAME,
	SASL_CB_LIST_END,
};

/* Read one plugin option, under either mechanism's name; a fresh copy or
 * NULL. */
static char *plug_option(const sasl_utils_t *utils, const char *option)
{
	size_t i;

	if (utils == NULL || utils->getopt == NULL)
		return NULL;
	for (i = 0; i < 2; i++) {
		const char *v = NULL;
		unsigned len = 0;

		if (utils->getopt(utils->getopt_context, mech_names[i], option,
				  &v, &len) != SASL_OK || v == NULL)
			continue;
		if (len == 0)
			len = (unsigned)strlen(v);
		if (len == 0)
			continue;
		return strndup(v, len);
	}
	return NULL;
}

static void plug_glob_free(plug_glob *glob)
{
	if (glob == NULL)
		return;
	ts_ctx_close(glob->ctx);
	free(glob->opt_store);
	free(glob->opt_config);
	pthread_mutex_destroy(&glob->lock);
	free(glob);
}

/*
 * Whether this process may still enter a chroot jail: CAP_SYS_CHROOT in
 * its permitted set. Postfix's smtp is started by root and chroots after
 * loading the plugin; a mail client run by a user cannot. When the kernel
 * does not say, assume it can (the choice that keeps refreshes working).
 */
static bool plug_may_chroot(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return true;
	return (data[CAP_TO_INDEX(CAP_SYS_CHROOT)].permitted & CAP_TO_MASK(CAP_SYS_CHROOT)) != 0;
}

/* oauth2_preload: yes, no, or auto (the default): yes exactly when the
 * process may chroot. */
static bool plug_preload_wanted(plug_glob *glob, const sasl_utils_t *utils)
{
	char *v = plug_option(utils, "oauth2_preload");
	bool yes;

	if (v != NULL && strcmp(v, "yes") == 0)
		yes = true;
	else if (v != NULL && strcmp(v, "no") == 0)
		yes = false;
	else {
		if (v != NULL && strcmp(v, "auto") != 0)
			plug_ts_log(glob, TS_LOG_WARN, "option oauth2_preload must be auto, yes "
				    "or no; using auto");
		yes = plug_may_chroot();
	}
	free(v);
	return yes;
}

int plug_ctx_ensure(plug_glob *glob, const sasl_utils_t *utils)
{
	ts_open_opts opts;
	ts_error err = { 0 };
	char *store, *config;
	int rc;

	if (glob->ctx != NULL)
		return TS_OK;
	/* Options given to this connection take precedence over the ones the
	 * module saw at load time (some programs pass them only per connection). */
	store = plug_option(utils, "oauth2_store");
	config = plug_option(utils, "oauth2_config");
	if (store != NULL) {
		free(glob->opt_store);
		glob->opt_store = store;
	}
	if (config != NULL) {
		free(glob->opt_config);
		glob->opt_config = config;
	}

	memset(&opts, 0, sizeof(opts));
	opts.plugin_store = glob->opt_store;
	opts.plugin_config = glob->opt_config;
	opts.load_ca = glob->preload;
	opts.preload_secrets = glob->preload;
	opts.log = plug_ts_log;
	opts.log_arg = glob;
	rc = ts_ctx_open(&glob->ctx, &opts, &err);
	if (rc != TS_OK) {
		glob->ctx = NULL;
		glob->open_code = rc;
		if (err.msg[0] == '\0')
			snprintf(err.msg, sizeof(err.msg), "%s", ts_code_str(rc));
		snprintf(glob->open_msg, sizeof(glob->open_msg), "%s", err.msg);
		return rc;
	}
	glob->open_code = TS_OK;
	glob->open_msg[0] = '\0';
	return TS_OK;
}

static int plug_new(void *glob_context, sasl_client_params_t *params, void **conn_context,
		    mech_kind kind)
{
	plug_glob *glob = glob_context;
	char msg[TS_ERRMSG_MAX] = "";
	int rc = TS_OK;

	/* Connections may start in several threads while the store is still
	 * closed: one opens it, the others wait and use it. */
	pthread_mutex_lock(&glob->lock);
	if (glob->ctx == NULL) {
		plug_log_set_conn(params->utils);
		rc = plug_ctx_ensure(glob, params->utils);
		plug_log_set_conn(NULL);
		if (rc != TS_OK)
			snprintf(msg, sizeof(msg), "%s", glob->open_msg);
	}
	pthread_mutex_unlock(&glob->lock);
	if (rc != TS_OK) {
		params->utils->seterror(params->utils->conn, 0,
					"%s: sasl-oauth2 token store unavailable: %s",
					mech_names[kind], msg);
		return rc == TS_ENOMEM ? SASL_NOMEM : SASL_FAIL;
	}
	return mech_conn_new(glob, kind, params, conn_context);
}

static int plug_xoauth2_new(void *glob_context, sasl_client_params_t *params,
			    void **conn_context)
{
	return plug_new(glob_context, params, conn_context, MECH_XOAUTH2);
}

static int plug_oauthbearer_new(void *glob_context, sasl_client_params_t *params,
				void **conn_context)
{
	return plug_new(glob_context, params, conn_context, MECH_OAUTHBEARER);
}

static void plug_free(void *glob_context, const sasl_utils_t *utils)
{
	plug_glob *glob = glob_context;

	(void)utils;
	if (glob == NULL)
		return;
	if (--glob->refs > 0)
		return;
	plug_glob_free(glob);
}

/* Honest flags, as for PLAIN: the token travels in the clear and can be
 * replayed, so the mechanisms are plaintext-equivalent (no NOPLAINTEXT). */
#define PLUG_SECURITY_FLAGS (SASL_SEC_NOANONYMOUS | SASL_SEC_PASS_CREDENTIALS)
/* No SASL_FEAT_ALLOWS_PROXY: the wire carries one identity, the token's
 * mailbox, so an authorization id other than that cannot be honoured (see
 * mech_prepare). */
#define PLUG_FEATURES SASL_FEAT_WANT_CLIENT_FIRST

static sasl_client_plug_t plug_list[2] = {
	{
		"XOAUTH2",              /* mech_name */
		0,                      /* max_ssf */
		PLUG_SECURITY_FLAGS,    /* security_flags */
		PLUG_FEATURES,          /* features */
		plug_required_prompts,  /* required_prompts */
		NULL,                   /* glob_context: set at init */
		plug_xoauth2_new,       /* mech_new */
		mech_conn_step,         /* mech_step */
		mech_conn_dispose,      /* mech_dispose */
		plug_free,              /* mech_free */
		NULL,                   /* idle */
		NULL,                   /* spare */
		NULL,                   /* spare */
	},
	{
		"OAUTHBEARER",
		0,
		PLUG_SECURITY_FLAGS,
		PLUG_FEATURES,
		plug_required_prompts,
		NULL,
		plug_oauthbearer_new,
		mech_conn_step,
		mech_conn_dispose,
		plug_free,
		NULL,
		NULL,
		NULL,
	},
};

/* The module's one exported symbol (see -export-symbols-regex). */
int sasl_client_plug_init(const sasl_utils_t *utils, int max_version, int *out_version,
			  sasl_client_plug_t **pluglist, int *plugcount);

int sasl_client_plug_init(const sasl_utils_t *utils, int max_version, int *out_version,
			  sasl_client_plug_t **pluglist, int *plugcount)
{
	plug_glob *glob;

	if (utils == NULL || out_version == NULL || pluglist == NULL || plugcount == NULL)
		return SASL_BADPARAM;
	if (max_version < SASL_CLIENT_PLUG_VERSION) {
		if (utils->seterror)
			utils->seterror(utils->conn, 0,
					"sasl-oauth2 plugin needs client plugin API version %d, libsasl2 offers %d",
					SASL_CLIENT_PLUG_VERSION, max_version);
		return SASL_BADVERS;
	}

	glob = calloc(1, sizeof(*glob));
	if (glob == NULL)
		return SASL_NOMEM;
	if (pthread_mutex_init(&glob->lock, NULL) != 0) {
		free(glob);
		return SASL_NOMEM;
	}
	glob->utils = utils;
	glob->refs = 2;
	plug_log_init(utils);
	/*
	 * What a refresh reads from outside the store (libcurl and the
	 * libraries it pulls in, the CA certificates, client secrets and keys)
	 * is loaded now only by a process that may enter a chroot, where those
	 * files are out of reach. Any other program loads them at its first
	 * refresh and spares its cached logins their memory (about 4 MB,
	 * mostly libcurl's dependencies). libcurl is loaded even when the
	 * store cannot be opened yet: it may appear after the chroot.
	 */
	glob->preload = plug_preload_wanted(glob, utils);
	if (glob->preload) {
		ts_error err = { 0 };

		if (oa2_preload(&err) != TS_OK)
			plug_ts_log(glob, TS_LOG_WARN, err.msg);
	}
	/* No connection exists yet, so no other thread uses glob. */
	if (plug_ctx_ensure(glob, utils) != TS_OK) {
		if (glob->open_code == TS_ENOMEM) {
			plug_glob_free(glob);
			return SASL_NOMEM;
		}
		/* Loading goes on: the store may appear later (first
		 * authorization after the mail system started). */
		plug_log(utils, SASL_LOG_WARN,
			 "sasl-oauth2: token store not available when the plugin was loaded "
			 "(will retry at each login): %s", glob->open_msg);
	}

	plug_list[0].glob_context = glob;
	plug_list[1].glob_context = glob;
	*out_version = SASL_CLIENT_PLUG_VERSION;
	*pluglist = plug_list;
	*plugcount = 2;
	return SASL_OK;
}
