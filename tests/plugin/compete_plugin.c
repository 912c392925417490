/*
 * compete_plugin.c - a small competing SASL client module for the doctor
 * tests: it offers XOAUTH2 the way tarickb's sasl-xoauth2 does (security
 * flags NOANONYMOUS|NOPLAINTEXT, max_ssf 60), so libsasl2 ranks it before
 * sasl-oauth2's honest XOAUTH2. Its exchange always fails; it is never
 * meant to log in, only to be found.
 */
#include "config.h"

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

int sasl_client_plug_init(const sasl_utils_t *utils, int max_version, int *out_version,
			  sasl_client_plug_t **pluglist, int *plugcount);

static int compete_new(void *glob, sasl_client_params_t *params, void **conn)
{
	(void)glob;
	(void)params;
	*conn = NULL;
	return SASL_OK;
}

static int compete_step(void *conn, sasl_client_params_t *params, const char *serverin,
			unsigned serverinlen, sasl_interact_t **prompt_need,
			const char **clientout, unsigned *clientoutlen,
			sasl_out_params_t *oparams)
{
	(void)conn;
	(void)params;
	(void)serverin;
	(void)serverinlen;
	(void)prompt_need;
	(void)clientout;
	(void)clientoutlen;
	(void)oparams;
	return SASL_FAIL;
}

static void compete_dispose(void *conn, const sasl_utils_t *utils)
{
	(void)conn;
	(void)utils;
}

static sasl_client_plug_t compete_plugins[] = { {
	"XOAUTH2",                                      /* mech_name */
	60,                                             /* max_ssf */
	SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT,    /* security_flags */
	SASL_FEAT_WANT_CLIENT_FIRST,                    /* features */
	NULL, NULL,                                     /* required_prompts, glob_context */
	compete_new, compete_step, compete_dispose,
	NULL, NULL, NULL, NULL,                         /* mech_free, idle, spares */
} };

int sasl_client_plug_init(const sasl_utils_t *utils, int max_version, int *out_version,
			  sasl_client_plug_t **pluglist, int *plugcount)
{
	(void)utils;
	if (max_version < SASL_CLIENT_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_CLIENT_PLUG_VERSION;
	*pluglist = compete_plugins;
	*plugcount = 1;
	return SASL_OK;
}
