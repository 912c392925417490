/*
 * plugin_log.c - logging of the SASL plugin and the mapping of tokenstore
 * results to SASL codes.
 *
 * Everything the plugin reports goes through libsasl2's log callback
 * (utils->log), so it ends up wherever the application sends its SASL logs
 * (Postfix: maillog). Messages carry token names, users, hosts, HTTP status
 * and OAuth error codes, never a token or secret.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "plugin_p.h"

/*
 * The tokenstore context is opened once for the module with a log callback
 * whose argument is the module's global context. During a step we want
 * those messages to reach the connection's log callback (the module's own
 * utils has no connection, so libsasl2 would send them to syslog), hence a
 * per-thread pointer to the utils of the connection being served.
 */
static _Thread_local const sasl_utils_t *plug_conn_utils;

/* libsasl2 hands every message to the application, which filters: debug
 * lines of every login would cost a formatting each, so they are made
 * only when the SASL option log_level asks for them (plug_log_init). */
static int plug_max_level = SASL_LOG_NOTE;

void plug_log_init(const sasl_utils_t *utils)
{
	const char *v = NULL;
	unsigned len = 0;

	if (utils == NULL || utils->getopt == NULL ||
	    utils->getopt(utils->getopt_context, NULL, "log_level", &v, &len) != SASL_OK ||
	    v == NULL)
		return;
	if (atoi(v) > plug_max_level)
		plug_max_level = atoi(v);
}

void plug_log_set_conn(const sasl_utils_t *utils)
{
	plug_conn_utils = utils;
}

void plug_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (utils == NULL || utils->log == NULL || level > plug_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* "%s": libsasl2's formatter knows only a few conversions, and the
	 * message may contain '%' from a server's text. */
	utils->log(utils->conn, level, "%s", buf);
}

static int plug_level(ts_log_level level)
{
	switch (level) {
	case TS_LOG_ERR:
		return SASL_LOG_ERR;
	case TS_LOG_WARN:
		return SASL_LOG_WARN;
	case TS_LOG_INFO:
		return SASL_LOG_NOTE;
	case TS_LOG_DEBUG:
	default:
		return SASL_LOG_DEBUG;
	}
}

void plug_ts_log(void *arg, ts_log_level level, const char *msg)
{
	const plug_glob *glob = arg;
	const sasl_utils_t *utils = plug_conn_utils;

	if (utils == NULL && glob != NULL)
		utils = glob->utils;
	plug_log(utils, plug_level(level), "sasl-oauth2: %s", msg ? msg : "");
}

int plug_ts_to_sasl(int code)
{
	switch (code) {
	case TS_OK:
		return SASL_OK;
	case TS_ENOMEM:
		return SASL_NOMEM;
	case TS_ENOTFOUND:
		return SASL_NOUSER;
	case TS_EINVALID:
	case TS_EGRANT:
	case TS_ESTATE:
	case TS_EDENIED:
	case TS_EEXPIRED:
		return SASL_BADAUTH;
	case TS_ENET:
	case TS_ELOCKED:
		return SASL_TRYAGAIN;
	case TS_ECONFIG:
	case TS_EINVAL:
	case TS_EPERM:
	case TS_EIO:
	default:
		return SASL_FAIL;
	}
}
