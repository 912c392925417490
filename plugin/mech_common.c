/*
 * mech_common.c - the client exchange shared by XOAUTH2 and OAUTHBEARER.
 *
 * One connection goes: credentials (callbacks or interactions), canon_user,
 * token selection and a valid access token from the store, then
 *
 *   first step        -> the response with the token, SASL_CONTINUE
 *                        (or none when POP3/SMTP line limits or the POP3
 *                        split hosts say so: the token then follows on the
 *                        server's empty challenge)
 *   error challenge   -> logged, cached token marked rejected, answered
 *                        with "" (XOAUTH2) or "^A" (OAUTHBEARER), SASL_CONTINUE
 *   final empty step  -> SASL_OK with no output
 *
 * Whether the response was sent is our own flag: imtest -i hands the
 * server's empty challenge over exactly like a first step (NULL, 0).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mech_challenge_p.h"
#include "plugin_p.h"

/* Bounds on what we accept from the application and the server. */
#define MECH_MAX_NAME 1024          /* authentication / authorization name */
#define MECH_MAX_PASSWORD 4096      /* a token name, really */

static void mech_free_prompts(mech_conn *m)
{
	free(m->prompts);
	m->prompts = NULL;
}

static void mech_wipe_resp(mech_conn *m)
{
	if (m->resp != NULL) {
		ts_wipe(m->resp, m->resp_len);
		free(m->resp);
	}
	m->resp = NULL;
	m->resp_len = 0;
}

int mech_conn_new(plug_glob *glob, mech_kind kind, sasl_client_params_t *params, void **out)
{
	mech_conn *m;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		params->utils->seterror(params->utils->conn, 0, "%s: out of memory",
					mech_names[kind]);
		return SASL_NOMEM;
	}
	m->glob = glob;
	m->kind = kind;
	m->phase = MECH_PHASE_START;
	*out = m;
	return SASL_OK;
}

void mech_conn_dispose(void *conn_context, const sasl_utils_t *utils)
{
	mech_conn *m = conn_context;

	(void)utils;
	if (m == NULL)
		return;
	mech_free_prompts(m);
	free(m->authid);
	free(m->authzid);
	ts_free_secret(m->password);
	free(m->token_name);
	free(m->wire_user);
	ts_free_secret(m->access);
	mech_wipe_resp(m);
	free(m);
}

/* A bounded copy of (s, len), len 0 meaning strlen. NULL on allocation
 * failure; *too_long set when the value exceeds `max`. */
static char *mech_copy(const char *s, unsigned len, size_t max, bool *too_long)
{
	size_t n;

	*too_long = false;
	if (s == NULL)
		s = "";
	n = len ? len : strlen(s);
	if (n > max) {
		*too_long = true;
		return NULL;
	}
	return strndup(s, n);
}

/*
 * Ask the application for a simple value through its callback.
 * SASL_OK: *out is a copy, or NULL when the application has no callback;
 * SASL_INTERACT: it answers through interactions; other codes: failure.
 */
static int mech_get_simple(const sasl_utils_t *utils, unsigned long id, char **out)
{
	sasl_callback_ft f = NULL;
	sasl_getsimple_t *proc;
	void *cbctx = NULL;
	const char *v = NULL;
	unsigned len = 0;
	bool too_long;
	int rc;

	*out = NULL;
	rc = utils->getcallback(utils->conn, id, &f, &cbctx);
	if (rc == SASL_INTERACT)
		return SASL_INTERACT;
	if (rc != SASL_OK || f == NULL)
		return SASL_OK;
	proc = (sasl_getsimple_t *)(void (*)(void))f;
	rc = proc(cbctx, (int)id, &v, &len);
	if (rc != SASL_OK)
		return rc;
	if (v == NULL)
		return SASL_OK;
	*out = mech_copy(v, len, MECH_MAX_NAME, &too_long);
	if (*out == NULL)
		return too_long ? SASL_BADPARAM : SASL_NOMEM;
	return SASL_OK;
}

/* The same for the password (SASL_CB_PASS, a sasl_secret_t). */
static int mech_get_password(const sasl_utils_t *utils, char **out)
{
	sasl_callback_ft f = NULL;
	sasl_getsecret_t *proc;
	sasl_secret_t *secret = NULL;
	void *cbctx = NULL;
	int rc;

	*out = NULL;
	rc = utils->getcallback(utils->conn, SASL_CB_PASS, &f, &cbctx);
	if (rc == SASL_INTERACT)
		return SASL_INTERACT;
	if (rc != SASL_OK || f == NULL)
		return SASL_OK;
	proc = (sasl_getsecret_t *)(void (*)(void))f;
	rc = proc(utils->conn, cbctx, SASL_CB_PASS, &secret);
	if (rc != SASL_OK)
		return rc;
	if (secret == NULL)
		return SASL_OK;
	if (secret->len > MECH_MAX_PASSWORD)
		return SASL_BADPARAM;
	*out = strndup((const char *)secret->data, secret->len);
	return *out ? SASL_OK : SASL_NOMEM;
}

/* Take the answers from the prompt list we handed out, then free it. */
static int mech_take_answers(mech_conn *m, sasl_interact_t **prompt_need)
{
	sasl_interact_t *p;
	bool too_long = false;
	int ret = SASL_OK;

	if (m->prompts == NULL)
		return SASL_OK;
	if (prompt_need != NULL && *prompt_need == m->prompts) {
		for (p = m->prompts; p->id != SASL_CB_LIST_END; p++) {
			char *v;

			if (p->id == SASL_CB_PASS) {
				if (p->len > MECH_MAX_PASSWORD) {
					ret = SASL_BADPARAM;
					break;
				}
				v = p->result ? strndup(p->result, p->len) : NULL;
				if (p->result != NULL && v == NULL) {
					ret = SASL_NOMEM;
					break;
				}
				ts_free_secret(m->password);
				m->password = v;
				m->have_password = true;
				continue;
			}
			v = p->result ? mech_copy(p->result, p->len, MECH_MAX_NAME, &too_long) : NULL;
			if (p->result != NULL && v == NULL) {
				ret = too_long ? SASL_BADPARAM : SASL_NOMEM;
				break;
			}
			if (p->id == SASL_CB_AUTHNAME) {
				free(m->authid);
				m->authid = v;
				m->have_authid = true;
			} else if (p->id == SASL_CB_USER) {
				free(m->authzid);
				m->authzid = v;
				m->have_authzid = true;
			} else {
				free(v);
			}
		}
		*prompt_need = NULL;
	}
	mech_free_prompts(m);
	return ret;
}

static const char *mech_prompt_text(unsigned long id)
{
	switch (id) {
	case SASL_CB_AUTHNAME:
		return "Authentication name (mailbox or token name): ";
	case SASL_CB_USER:
		return "Authorization name (empty: same as authentication name): ";
	default:
		return "Password (a token name, or empty): ";
	}
}

/*
 * Obtain authentication name, authorization name and password.
 * SASL_INTERACT with *prompt_need set when the application answers
 * through interactions.
 */
static int mech_get_credentials(mech_conn *m, sasl_client_params_t *params,
				sasl_interact_t **prompt_need)
{
	const sasl_utils_t *utils = params->utils;
	unsigned long need[3];
	size_t nneed = 0, i;
	int rc;

	rc = mech_take_answers(m, prompt_need);
	if (rc != SASL_OK) {
		utils->seterror(utils->conn, 0, "%s: an answer to a prompt is too long or "
				"memory ran out", mech_names[m->kind]);
		return rc;
	}

	if (!m->have_authid) {
		rc = mech_get_simple(utils, SASL_CB_AUTHNAME, &m->authid);
		if (rc == SASL_INTERACT)
			need[nneed++] = SASL_CB_AUTHNAME;
		else if (rc != SASL_OK)
			goto cb_failed;
		else
			m->have_authid = true;
	}
	if (!m->have_authzid) {
		rc = mech_get_simple(utils, SASL_CB_USER, &m->authzid);
		if (rc == SASL_INTERACT)
			need[nneed++] = SASL_CB_USER;
		else if (rc != SASL_OK)
			goto cb_failed;
		else
			m->have_authzid = true;
	}
	if (!m->have_password) {
		rc = mech_get_password(utils, &m->password);
		if (rc == SASL_INTERACT)
			need[nneed++] = SASL_CB_PASS;
		else if (rc != SASL_OK)
			goto cb_failed;
		else
			m->have_password = true;
	}

	if (nneed > 0) {
		if (prompt_need == NULL) {
			utils->seterror(utils->conn, 0,
					"%s: the application answers through interactions but "
					"passed no prompt list", mech_names[m->kind]);
			return SASL_BADPARAM;
		}
		m->prompts = calloc(nneed + 1, sizeof(*m->prompts));
		if (m->prompts == NULL)
			return SASL_NOMEM;
		for (i = 0; i < nneed; i++) {
			m->prompts[i].id = need[i];
			m->prompts[i].challenge = mech_names[m->kind];
			m->prompts[i].prompt = mech_prompt_text(need[i]);
			m->prompts[i].defresult =
				(need[i] == SASL_CB_USER && m->have_authid) ? m->authid : NULL;
		}
		m->prompts[nneed].id = SASL_CB_LIST_END;
		*prompt_need = m->prompts;
		return SASL_INTERACT;
	}

	if (m->authid == NULL || m->authid[0] == '\0') {
		utils->seterror(utils->conn, 0,
				"%s: no authentication name given; configure the mailbox address "
				"(or the token name) as the SASL user name", mech_names[m->kind]);
		return SASL_BADPARAM;
	}
	return SASL_OK;

cb_failed:
	utils->seterror(utils->conn, 0, "%s: the application's callback for the %s failed",
			mech_names[m->kind],
			rc == SASL_NOMEM ? "credentials (out of memory)" : "credentials");
	return rc;
}

/*
 * Tell libsasl2 who logged in: the mailbox that went on the wire, as both
 * the authentication and the authorization identity. The server
 * authenticates the token's identity for that mailbox and nothing else,
 * so reporting the application's authname or authzid instead would make
 * libsasl2 claim an identity the server never saw.
 */
static int mech_canon(mech_conn *m, sasl_client_params_t *params, sasl_out_params_t *oparams)
{
	if (params->canon_user == NULL)
		return SASL_OK;
	return params->canon_user(params->utils->conn, m->wire_user, 0,
				  SASL_CU_AUTHID | SASL_CU_AUTHZID, oparams);
}

/* Report a failure: one log line and the same text as the connection's
 * error string (without libsasl2 logging it a second time). */
static int mech_fail(const mech_conn *m, const sasl_utils_t *utils, int sasl_code,
		     const char *msg)
{
	plug_log(utils, SASL_LOG_ERR, "%s: %s", mech_names[m->kind], msg);
	utils->seterror(utils->conn, SASL_NOLOG, "%s: %s", mech_names[m->kind], msg);
	return sasl_code;
}

static bool mech_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Select the token, check it, fetch a valid access token and build the
 * response. With a valid cached token the store reads nothing but one
 * stamp (ts_token_login). */
static int mech_prepare(mech_conn *m, sasl_client_params_t *params)
{
	const sasl_utils_t *utils = params->utils;
	ts_ctx *ctx = m->glob->ctx;
	ts_login login;
	ts_error err = { 0 };
	const char *pw = (m->password && m->password[0]) ? m->password : NULL;
	const char *host = NULL, *port;
	char portbuf[8];
	int rc, ret = SASL_OK;

	/* A step repeated after a failure starts over. */
	free(m->token_name);
	free(m->wire_user);
	ts_free_secret(m->access);
	mech_wipe_resp(m);
	m->token_name = m->wire_user = m->access = NULL;

	/* Selection, configuration, validity, the token's hosts (it goes only
	 * to its provider's servers), the mailbox (the token's user, or the
	 * authentication name when its users allow it), the access token. */
	rc = ts_token_login(&login, ctx, m->authid, pw, params->serverFQDN, &err);
	m->token_name = login.name;
	m->wire_user = login.mailbox;
	m->access = login.access;
	login.name = login.mailbox = login.access = NULL;
	if (rc != TS_OK && login.step != TS_LOGIN_ACCESS) {
		switch (login.step) {
		case TS_LOGIN_SELECT:
			rc = rc == TS_EINVAL ? SASL_NOUSER : plug_ts_to_sasl(rc);
			break;
		case TS_LOGIN_CONFIG:
			/* The token exists; what is missing (template, secret
			 * file) is configuration, not the user. */
			rc = rc == TS_ENOTFOUND ? SASL_FAIL : plug_ts_to_sasl(rc);
			break;
		default: /* TS_LOGIN_REFUSED */
			rc = rc == TS_ENOMEM ? SASL_NOMEM : SASL_NOAUTHZ;
			break;
		}
		ret = mech_fail(m, utils, rc, err.msg);
		goto cleanup;
	}
	if (login.validity != TS_VALIDITY_VALID) {
		snprintf(err.msg, sizeof(err.msg),
			 "token '%s' is marked '%s' (validity), so the plugin refuses it; "
			 "when it may be used again, run: sasl-oauth2 edit %s --set validity=valid",
			 m->token_name, ts_validity_str(login.validity), m->token_name);
		ret = mech_fail(m, utils, plug_ts_to_sasl(TS_EINVALID), err.msg);
		goto cleanup;
	}
	if (mech_has_ctl(m->wire_user)) {
		snprintf(err.msg, sizeof(err.msg),
			 "token '%s': the user name contains a control character; fix it with: "
			 "sasl-oauth2 edit %s --set user=MAILBOX", m->token_name, m->token_name);
		ret = mech_fail(m, utils, SASL_BADPARAM, err.msg);
		goto cleanup;
	}

	/*
	 * No proxy authorization (SASL_FEAT_ALLOWS_PROXY is not advertised):
	 * XOAUTH2 has no field for a second identity, and the providers
	 * authorize the token's own mailbox. An authorization id the server
	 * would never see is refused rather than silently dropped.
	 */
	if (m->authzid != NULL && m->authzid[0] != '\0' && strcasecmp(m->authzid, m->authid) != 0 &&
	    strcasecmp(m->authzid, m->wire_user) != 0) {
		snprintf(err.msg, sizeof(err.msg),
			 "the application asks to act as '%s', but token '%s' logs in as '%s' and "
			 "proxy authorization is not supported; leave the authorization id empty "
			 "or set it to the mailbox", mech_has_ctl(m->authzid) ? "?" : m->authzid,
			 m->token_name, m->wire_user);
		ret = mech_fail(m, utils, SASL_BADPARAM, err.msg);
		goto cleanup;
	}

	if (rc != TS_OK) {
		/* No valid access token (a refresh failed, say). */
		ret = mech_fail(m, utils, plug_ts_to_sasl(rc), err.msg);
		goto cleanup;
	}

	if (m->kind == MECH_XOAUTH2) {
		ret = mech_xoauth2_build(&m->resp, &m->resp_len, m->wire_user, m->access);
	} else {
		if (params->serverFQDN != NULL && params->serverFQDN[0] != '\0' &&
		    !mech_has_ctl(params->serverFQDN))
			host = params->serverFQDN;
		port = mech_port_of(params->ipremoteport, portbuf, sizeof(portbuf));
		ret = mech_oauthbearer_build(&m->resp, &m->resp_len, m->wire_user, host, port,
					     m->access);
	}
	if (ret != SASL_OK) {
		ret = mech_fail(m, utils, ret, "cannot build the response (out of memory)");
		goto cleanup;
	}
	plug_log(utils, SASL_LOG_DEBUG, "%s: using token '%s' for user '%s'",
		 mech_names[m->kind], m->token_name, m->wire_user);

cleanup:
	ts_login_clear(&login);
	return ret;
}

/* Octets of the command "AUTH <MECH> <base64 of n bytes>\r\n". */
static size_t mech_auth_line_len(const mech_conn *m, size_t n)
{
	return strlen("AUTH ") + strlen(mech_names[m->kind]) + 1 + 4 * ((n + 2) / 3) + 2;
}

/* Postfix passes its master.cf service name: "smtp", "relay", "lmtp", or
 * a name of the administrator's; those starting with "smtp" count too. */
static bool mech_service_is_smtp(const char *service)
{
	return strncmp(service, "smtp", 4) == 0 || strcmp(service, "relay") == 0 ||
	       strcmp(service, "lmtp") == 0 || strcmp(service, "submission") == 0;
}

/*
 * Must the initial response be withheld (the client sends "AUTH <MECH>"
 * alone and the response follows the server's empty challenge)? Returns
 * why, for the debug log, or NULL to send it at once.
 *   POP3: RFC 5034 section 4 caps the AUTH line at 255 octets; hosts in
 *         pop3_split_hosts (Microsoft) want the split even for short ones.
 *   SMTP: RFC 4954 section 4 with RFC 5321's 512-octet command line, unless
 *         the host is in smtp_inline_hosts.
 *   IMAP and others: one line (RFC 4959 has no such limit).
 * Many clients (Postfix) send whatever initial response they get, so the
 * mechanism decides.
 */
static const char *mech_withhold_ir(const mech_conn *m, const sasl_client_params_t *params)
{
	const ts_global_config *cfg = ts_ctx_config(m->glob->ctx);
	const char *host = params->serverFQDN;
	size_t line = mech_auth_line_len(m, m->resp_len);

	if (params->service == NULL)
		return NULL;
	if (strcmp(params->service, "pop") == 0) {
		if (line > 255)
			return "the POP3 AUTH line would exceed 255 octets (RFC 5034)";
		if (cfg != NULL && host != NULL && ts_host_match(&cfg->pop3_split_hosts, host))
			return "the POP3 host is in pop3_split_hosts";
		return NULL;
	}
	if (mech_service_is_smtp(params->service) && line > 512) {
		if (cfg != NULL && host != NULL && ts_host_match(&cfg->smtp_inline_hosts, host))
			return NULL;
		return "the SMTP AUTH line would exceed 512 octets (RFC 4954, RFC 5321)";
	}
	return NULL;
}

void mech_log_error_challenge(const sasl_utils_t *utils, const mech_conn *m,
			      const char *serverin, unsigned serverinlen)
{
	mech_challenge ch;

	mech_challenge_parse(&ch, serverin, serverinlen);
	if (ch.is_json)
		plug_log(utils, SASL_LOG_WARN,
			 "%s: server rejected the access token of token '%s' (user '%s'): "
			 "status '%s', schemes '%s', scope '%s'; it will be refreshed at the "
			 "next login", mech_names[m->kind], m->token_name ? m->token_name : "?",
			 m->wire_user ? m->wire_user : "?", ch.status, ch.schemes, ch.scope);
	else
		plug_log(utils, SASL_LOG_WARN,
			 "%s: server rejected the login of token '%s' (user '%s') with a "
			 "challenge of %u bytes that is not JSON; the access token will be "
			 "refreshed at the next login",
			 mech_names[m->kind], m->token_name ? m->token_name : "?",
			 m->wire_user ? m->wire_user : "?", serverinlen);
}

static int mech_error_challenge(mech_conn *m, sasl_client_params_t *params,
				const char *serverin, unsigned serverinlen,
				const char **clientout, unsigned *clientoutlen)
{
	const sasl_utils_t *utils = params->utils;
	ts_error err = { 0 };

	mech_log_error_challenge(utils, m, serverin, serverinlen);
	if (m->access != NULL &&
	    ts_token_mark_rejected_as(m->glob->ctx, m->token_name, m->wire_user, m->access,
				      &err) != TS_OK)
		plug_log(utils, SASL_LOG_WARN, "%s: cannot mark the access token of '%s' as "
			 "rejected: %s", mech_names[m->kind], m->token_name, err.msg);
	ts_free_secret(m->access);
	m->access = NULL;
	*clientout = mech_error_answer(m->kind, clientoutlen);
	m->phase = MECH_PHASE_ERROR_ANSWERED;
	return SASL_CONTINUE;
}

static int mech_finish(mech_conn *m, sasl_out_params_t *oparams)
{
	m->phase = MECH_PHASE_DONE;
	oparams->doneflag = 1;
	oparams->mech_ssf = 0;
	oparams->maxoutbuf = 0;
	oparams->encode_context = NULL;
	oparams->encode = NULL;
	oparams->decode_context = NULL;
	oparams->decode = NULL;
	oparams->param_version = 0;
	return SASL_OK;
}

int mech_conn_step(void *conn_context, sasl_client_params_t *params,
		   const char *serverin, unsigned serverinlen,
		   sasl_interact_t **prompt_need, const char **clientout,
		   unsigned *clientoutlen, sasl_out_params_t *oparams)
{
	mech_conn *m = conn_context;
	const sasl_utils_t *utils = params->utils;
	const char *why;
	int ret;

	if (clientout == NULL || clientoutlen == NULL || oparams == NULL)
		return SASL_BADPARAM;
	*clientout = NULL;
	*clientoutlen = 0;
	if (serverin == NULL)
		serverinlen = 0;
	plug_log_set_conn(utils);

	switch (m->phase) {
	case MECH_PHASE_START:
		ret = mech_get_credentials(m, params, prompt_need);
		if (ret != SASL_OK)
			break;
		ret = mech_prepare(m, params);
		if (ret != SASL_OK)
			break;
		ret = mech_canon(m, params, oparams);
		if (ret != SASL_OK) {
			utils->seterror(utils->conn, 0, "%s: the user name '%s' was refused "
					"by libsasl2's canon_user", mech_names[m->kind], m->wire_user);
			break;
		}
		if ((why = mech_withhold_ir(m, params)) != NULL) {
			/* No initial response: the client sends "AUTH XOAUTH2"
			 * alone and the token after the server's "+"/"334". */
			plug_log(utils, SASL_LOG_DEBUG, "%s: no initial response to '%s': %s; "
				 "the token follows the server's challenge", mech_names[m->kind],
				 params->serverFQDN ? params->serverFQDN : "?", why);
			m->phase = MECH_PHASE_SPLIT_WAIT;
			ret = SASL_CONTINUE;
			break;
		}
		*clientout = m->resp;
		*clientoutlen = (unsigned)m->resp_len;
		m->phase = MECH_PHASE_SENT;
		ret = SASL_CONTINUE;
		break;
	case MECH_PHASE_SPLIT_WAIT:
		*clientout = m->resp;
		*clientoutlen = (unsigned)m->resp_len;
		m->phase = MECH_PHASE_SENT;
		ret = SASL_CONTINUE;
		break;
	case MECH_PHASE_SENT:
		/* The application has sent our last output by now. */
		mech_wipe_resp(m);
		if (serverinlen > 0)
			ret = mech_error_challenge(m, params, serverin, serverinlen, clientout,
						   clientoutlen);
		else
			ret = mech_finish(m, oparams);
		break;
	case MECH_PHASE_ERROR_ANSWERED:
		if (serverinlen == 0) {
			ret = mech_finish(m, oparams);
			break;
		}
		utils->seterror(utils->conn, 0, "%s: unexpected second challenge from the server "
				"after an error", mech_names[m->kind]);
		ret = SASL_BADPROT;
		break;
	case MECH_PHASE_DONE:
	default:
		utils->seterror(utils->conn, 0, "%s: step after the exchange finished",
				mech_names[m->kind]);
		ret = SASL_BADPROT;
		break;
	}
	plug_log_set_conn(NULL);
	return ret;
}
