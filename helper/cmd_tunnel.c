/*
 * cmd_tunnel.c - `sasl-oauth2 tunnel NAME HOST PORT`: for mail clients that
 * cannot load a SASL plugin but can run a command as their connection
 * (fetchmail's plugin, isync's Tunnel, mutt's tunnel, OfflineIMAP's
 * preauthtunnel). It connects to the server with TLS (tls.c), logs in over
 * IMAP or POP3 through libsasl2 and this project's own plugin (so the wire
 * format, the token selection, the POP3 split and the marking of a refused
 * token live in one place: the plugin), then hands the client a
 * pre-authenticated session on stdin/stdout and relays bytes both ways.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "cli.h"
#include "tls.h"

enum tun_proto { TUN_IMAP, TUN_POP3 };
enum tun_tls { TUN_TLS_IMPLICIT, TUN_TLS_STARTTLS, TUN_TLS_NONE };

/* Exit status of a session that was handed to the client and then lost. */
#define TUN_EXIT_LOST 3
/* Relay buffer of each direction. */
#define TUN_BUF 65536

typedef struct tun {
	const cli_global *g;
	const char *name, *host, *port;
	char port_buf[24];
	enum tun_proto proto;
	enum tun_tls tls;
	const char *mech;
	const char *user_opt;       /* --user */
	char *user;                 /* mailbox sent as the SASL authentication name */
	long idle_s;                /* 0: no idle timeout */
	int timeout_s;              /* http_timeout: connect, handshake, each reply */
	const char *ca_bundle;      /* NULL: the system's CAs */
	bool syslog;
	int verbose;
	tls_conn c;
	sasl_conn_t *sasl;
	sasl_secret_t *pass;        /* what SASL_CB_PASS answers: the token name */
	char *caps;                 /* IMAP capabilities (space separated), NULL unknown */
	bool rejected;              /* the server refused the token */
	bool challenged;            /* it sent an error challenge: the plugin marked the token */
	ts_error err;               /* why the login failed */
} tun;

/* ---------------------------------------------------------------------- */
/* Messages                                                                 */

static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* The one line about a failure: stderr, or syslog with `log: syslog`. */
static void tun_report(const tun *t, const char *msg)
{
	char line[TS_ERRMSG_MAX + 256];

	snprintf(line, sizeof line, "%s: tunnel to %s port %s: %s", t->name, t->host, t->port,
		 msg);
	one_line(line);
	if (t->syslog)
		syslog(LOG_ERR, "%s", line);
	else
		cli_err(NULL, "%s", line);
}

/* A refusal the client understands, on stdout, before it got a session. */
static void tun_refuse(const tun *t, const char *msg)
{
	char line[TS_ERRMSG_MAX + 64];
	size_t room = sizeof line - 2;  /* CRLF always fits */
	size_t n;

	if (t->proto == TUN_IMAP)
		snprintf(line, room, "* BYE %ssasl-oauth2 tunnel: %s",
			 t->rejected ? "[AUTHENTICATIONFAILED] " : "", msg);
	else
		snprintf(line, room, "-ERR %ssasl-oauth2 tunnel: %s",
			 t->rejected ? "[AUTH] " : "", msg);
	one_line(line);
	n = strlen(line);  /* at most sizeof line - 3: room for CRLF and NUL */
	memcpy(line + n, "\r\n", 3);
	(void)cli_write_all(STDOUT_FILENO, line, n + 2);
}

static int tun_fail(tun *t)
{
	tun_refuse(t, t->err.msg);
	tun_report(t, t->err.msg);
	return CLI_EXIT_FAIL;
}

static int tun_seterr(tun *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tun_seterr(tun *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err.msg, sizeof t->err.msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* libsasl2 and the plugin                                                  */

static const char *plugin_path;

static int cb_getpath(void *context, const char **path)
{
	(void)context;
	*path = plugin_path;
	return SASL_OK;
}

/* Only this project's module is loaded: a plugin directory shared with
 * other modules (Debian's) would otherwise dlopen each of them, and another
 * XOAUTH2 module (sasl-xoauth2, KDE's) could win the mechanism. */
static int cb_verifyfile(void *context, const char *file, sasl_verify_type_t type)
{
	const char *base = strrchr(file, '/');

	(void)context;
	if (type != SASL_VRFY_PLUGIN)
		return SASL_OK;
	base = base ? base + 1 : file;
	return strncmp(base, "libsasloauth2.", 14) == 0 ? SASL_OK : SASL_CONTINUE;
}

static int cb_getopt(void *context, const char *plugin_name, const char *option,
		     const char **result, unsigned *len)
{
	const tun *t = context;
	const char *v = NULL;

	(void)plugin_name;
	if (strcmp(option, "oauth2_store") == 0)
		v = t->g->store_dir;
	else if (strcmp(option, "oauth2_config") == 0)
		v = t->g->config_path;
	else if (strcmp(option, "oauth2_preload") == 0)
		v = "no";       /* no chroot here: libcurl only for a refresh */
	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

/* The plugin's and libsasl2's own log lines: only with -v (the failure
 * itself is reported once, from sasl_errdetail). */
static int cb_log(void *context, int level, const char *message)
{
	const tun *t = context;
	char line[1024];

	if (!t->verbose || level > SASL_LOG_NOTE || message == NULL)
		return SASL_OK;
	snprintf(line, sizeof line, "%s: %s", t->name, message);
	one_line(line);
	if (t->syslog)
		syslog(level <= SASL_LOG_ERR ? LOG_ERR : LOG_INFO, "%s", line);
	else
		fprintf(stderr, "%s: %s\n", CLI_PROG, line);
	return SASL_OK;
}

static int cb_simple(void *context, int id, const char **result, unsigned *len)
{
	const tun *t = context;

	*result = id == SASL_CB_AUTHNAME ? t->user : "";
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* The "password" names the token, as the plugin's selection rule allows:
 * no token ever passes through libsasl2's callbacks. */
static int cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
	tun *t = context;
	size_t n = strlen(t->name);

	(void)conn;
	(void)id;
	if (t->pass == NULL) {
		t->pass = malloc(sizeof(sasl_secret_t) + n + 1);
		if (t->pass == NULL)
			return SASL_NOMEM;
		t->pass->len = n;
		memcpy(t->pass->data, t->name, n + 1);
	}
	*psecret = t->pass;
	return SASL_OK;
}

#define CB(f) ((int (*)(void))(void (*)(void))(f))

static int sasl_setup(tun *t)
{
	static sasl_callback_t global_cbs[5];
	static sasl_callback_t conn_cbs[4];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "", ipport[INET6_ADDRSTRLEN + 8];
	const char *remote = NULL;
	const char *env = getenv("SASL_PATH");
	sasl_security_properties_t sp;
	int r;

	plugin_path = env && *env ? env : PLUGINDIR;
	global_cbs[0] = (sasl_callback_t){ SASL_CB_GETPATH, CB(cb_getpath), NULL };
	global_cbs[1] = (sasl_callback_t){ SASL_CB_GETOPT, CB(cb_getopt), t };
	global_cbs[2] = (sasl_callback_t){ SASL_CB_LOG, CB(cb_log), t };
	global_cbs[3] = (sasl_callback_t){ SASL_CB_VERIFYFILE, CB(cb_verifyfile), NULL };
	global_cbs[4] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	conn_cbs[0] = (sasl_callback_t){ SASL_CB_AUTHNAME, CB(cb_simple), t };
	conn_cbs[1] = (sasl_callback_t){ SASL_CB_USER, CB(cb_simple), t };
	conn_cbs[2] = (sasl_callback_t){ SASL_CB_PASS, CB(cb_pass), t };
	conn_cbs[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	r = sasl_client_init(global_cbs);
	if (r != SASL_OK)
		return tun_seterr(t, "libsasl2 client initialisation failed: %s",
				  sasl_errstring(r, NULL, NULL));
	/* OAUTHBEARER's port= comes from the peer address (RFC 7628). */
	if (getpeername(t->c.fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
				  sizeof addr);
		if (addr[0]) {
			snprintf(ipport, sizeof ipport, "%s;%s", addr, t->port);
			remote = ipport;
		}
	}
	r = sasl_client_new(t->proto == TUN_IMAP ? "imap" : "pop", t->host, NULL, remote,
			    conn_cbs, 0, &t->sasl);
	if (r != SASL_OK)
		return tun_seterr(t, "libsasl2 connection setup failed: %s",
				  sasl_errstring(r, NULL, NULL));
	memset(&sp, 0, sizeof sp);
	sp.max_ssf = 256;
	sasl_setprop(t->sasl, SASL_SEC_PROPS, &sp);
	return 0;
}

/* The plugin's own message for a failed step, without libsasl2's prefix. */
static int sasl_failed(tun *t, int r)
{
	const char *d = t->sasl ? sasl_errdetail(t->sasl) : NULL;
	const char *m = NULL;

	if (d)
		m = strstr(d, t->mech);
	if (r == SASL_NOMECH)
		return tun_seterr(t, "libsasl2 has no %s mechanism in %s; install this "
				  "project's plugin (libsasloauth2.so) there or set SASL_PATH",
				  t->mech, plugin_path);
	return tun_seterr(t, "login not attempted: %s", m ? m : d ? d : sasl_errstring(r, NULL, NULL));
}

/* ---------------------------------------------------------------------- */
/* The login dialogue                                                       */

static int send_line(tun *t, const char *line, size_t len)
{
	if (tls_write_all(&t->c, line, len, &t->err) < 0 ||
	    tls_write_all(&t->c, "\r\n", 2, &t->err) < 0)
		return -1;
	return 0;
}

static int send_fmt(tun *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int send_fmt(tun *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return send_line(t, buf, (size_t)n);
}

static int read_line(tun *t, char **line, size_t *len)
{
	return tls_read_line(&t->c, line, len, &t->err);
}

/* Send `prefix` followed by base64 of data (prefix may be NULL), wiping the
 * encoded copy: it carries the token. */
static int send_b64(tun *t, const char *prefix, const char *data, unsigned len)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	unsigned cap = (len + 2) / 3 * 4 + 1, out = 0;
	char *buf = malloc(plen + cap + 1);
	int r;

	if (buf == NULL)
		return tun_seterr(t, "out of memory");
	if (plen)
		memcpy(buf, prefix, plen);
	if (len == 0) {
		/* RFC 4959/5034: "=" is an empty initial response; an empty
		 * answer to a challenge is an empty line. */
		if (prefix)
			buf[plen] = '=';
		out = prefix ? 1 : 0;
	} else if (sasl_encode64(data, len, buf + plen, cap, &out) != SASL_OK) {
		free(buf);
		return tun_seterr(t, "cannot encode the SASL response");
	}
	r = send_line(t, buf, plen + out);
	ts_wipe(buf, plen + cap + 1);
	free(buf);
	return r;
}

/* Answer a "+ BASE64" continuation through the plugin. */
static int sasl_answer(tun *t, const char *b64, size_t b64len)
{
	char *in = malloc(b64len + 1);
	unsigned inlen = 0, outlen = 0;
	const char *out = NULL;
	sasl_interact_t *need = NULL;
	int r;

	if (in == NULL)
		return tun_seterr(t, "out of memory");
	if (b64len > 0 && sasl_decode64(b64, (unsigned)b64len, in, (unsigned)b64len + 1,
					 &inlen) != SASL_OK) {
		free(in);
		return tun_seterr(t, "the server sent a challenge that is not base64");
	}
	/* A non-empty challenge after our token is the server's refusal; the
	 * plugin marks the token rejected and answers it. */
	if (inlen > 0)
		t->challenged = true;
	r = sasl_client_step(t->sasl, in, inlen, &need, &out, &outlen);
	free(in);
	if (r != SASL_OK && r != SASL_CONTINUE)
		return sasl_failed(t, r);
	return send_b64(t, NULL, out, outlen);
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p = strchr(p, ' ');
	}
	return false;
}

/* The server said no to the token. */
static int tun_refused(tun *t, const char *reply)
{
	t->rejected = true;
	if (!t->challenged)
		return tun_seterr(t, "the server refused the login of '%s' with %s: %.300s",
				  t->user, t->mech, reply);
	return tun_seterr(t, "the server refused the login of '%s' with %s: %.300s; the "
			  "access token is marked rejected and the next run refreshes it (if "
			  "this repeats: sasl-oauth2 authorize %s)", t->user, t->mech, reply,
			  t->name);
}

/* ---- IMAP ---- */

/* Keep the capabilities of "[CAPABILITY ...]" or "* CAPABILITY ...". */
static void imap_take_caps(tun *t, const char *line)
{
	const char *p = strstr(line, "[CAPABILITY ");
	const char *end;

	if (p) {
		p += 12;
		end = strchr(p, ']');
	} else if (strncasecmp(line, "* CAPABILITY ", 13) == 0) {
		p = line + 13;
		end = p + strlen(p);
	} else {
		return;
	}
	if (end == NULL)
		return;
	free(t->caps);
	t->caps = strndup(p, (size_t)(end - p));
}

/* Read until the tagged reply of `tag`: 0 on OK, -1 otherwise. */
static int imap_tagged(tun *t, const char *tag, const char *what)
{
	size_t tl = strlen(tag), len;
	char *line;

	for (;;) {
		if (read_line(t, &line, &len) < 0)
			return -1;
		imap_take_caps(t, line);
		if (strncmp(line, tag, tl) != 0 || line[tl] != ' ')
			continue;
		if (strncasecmp(line + tl + 1, "OK", 2) == 0)
			return 0;
		return tun_seterr(t, "the server refused %s: %s", what, line + tl + 1);
	}
}

static int imap_capability(tun *t, const char *tag)
{
	free(t->caps);
	t->caps = NULL;
	if (send_fmt(t, "%s CAPABILITY", tag) < 0 || imap_tagged(t, tag, "CAPABILITY") < 0)
		return -1;
	if (t->caps == NULL)
		return tun_seterr(t, "the server answered CAPABILITY without its capabilities");
	return 0;
}

static int imap_greeting(tun *t)
{
	char *line;
	size_t len;

	if (read_line(t, &line, &len) < 0)
		return -1;
	if (strncasecmp(line, "* OK", 4) != 0)
		return tun_seterr(t, "unexpected IMAP greeting: %.200s", line);
	imap_take_caps(t, line);
	return 0;
}

static int imap_login(tun *t)
{
	const char *out = NULL;
	unsigned outlen = 0;
	sasl_interact_t *need = NULL;
	char prefix[64], auth[32];
	char *line;
	size_t len;
	bool sent = false;
	int r;

	snprintf(auth, sizeof auth, "AUTH=%s", t->mech);
	if (!has_word(t->caps, auth))
		return tun_seterr(t, "the server does not offer %s (it offers: %.300s)", auth,
				  t->caps);
	if (sasl_setup(t) < 0)
		return -1;
	r = sasl_client_start(t->sasl, t->mech, &need, &out, &outlen, NULL);
	if (r != SASL_OK && r != SASL_CONTINUE)
		return sasl_failed(t, r);
	if (out != NULL && has_word(t->caps, "SASL-IR")) {
		snprintf(prefix, sizeof prefix, "L1 AUTHENTICATE %s ", t->mech);
		r = send_b64(t, prefix, out, outlen);
		sent = true;
	} else {
		r = send_fmt(t, "L1 AUTHENTICATE %s", t->mech);
	}
	if (r < 0)
		return -1;
	for (;;) {
		if (read_line(t, &line, &len) < 0)
			return -1;
		if (line[0] == '+') {
			const char *b = line[1] == ' ' ? line + 2 : line + 1;

			if (out != NULL && !sent) {
				sent = true;
				r = send_b64(t, NULL, out, outlen);
			} else {
				r = sasl_answer(t, b, strlen(b));
			}
			if (r < 0)
				return -1;
			continue;
		}
		imap_take_caps(t, line);
		if (strncmp(line, "L1 ", 3) != 0)
			continue;
		if (strncasecmp(line + 3, "OK", 2) == 0)
			break;
		t->rejected = true;
		return tun_refused(t, line + 3);
	}
	/* Capabilities change after login; take them from the OK or ask. */
	if (strstr(line, "[CAPABILITY ") == NULL)
		return imap_capability(t, "L2");
	return 0;
}

static int imap_session(tun *t)
{
	char msg[512];
	int n;

	if (imap_greeting(t) < 0)
		return -1;
	if (t->tls == TUN_TLS_STARTTLS) {
		/* Capabilities in clear decide only whether to go on: a
		 * missing STARTTLS fails closed. */
		if (t->caps == NULL && imap_capability(t, "S1") < 0)
			return -1;
		if (!has_word(t->caps, "STARTTLS"))
			return tun_seterr(t, "the server does not offer STARTTLS; use --tls implicit "
					  "with its TLS port (usually 993)");
		if (send_fmt(t, "S2 STARTTLS") < 0 || imap_tagged(t, "S2", "STARTTLS") < 0)
			return -1;
		if (tls_buffered(&t->c) > 0)
			return tun_seterr(t, "the server sent data after its STARTTLS reply "
					  "(a possible injection); refusing");
		if (tls_start(&t->c, t->ca_bundle, &t->err) < 0)
			return -1;
		free(t->caps);
		t->caps = NULL;
	}
	if (t->caps == NULL && imap_capability(t, "S3") < 0)
		return -1;
	if (imap_login(t) < 0)
		return -1;
	n = snprintf(msg, sizeof msg, "* PREAUTH [CAPABILITY %.400s] logged in as %.60s "
		     "by sasl-oauth2 tunnel\r\n", t->caps, t->user);
	return cli_write_all(STDOUT_FILENO, msg, (size_t)n) < 0 ?
	       tun_seterr(t, "cannot write to standard output: %s", strerror(errno)) : 0;
}

/* ---- POP3 ---- */

static int pop3_status(tun *t, const char *what, char **line)
{
	size_t len;

	if (read_line(t, line, &len) < 0)
		return -1;
	if (strncmp(*line, "+OK", 3) == 0)
		return 0;
	return tun_seterr(t, "the server refused %s: %.300s", what, *line);
}

/* CAPA: does the list have `word` as a line, or `SASL` listing the mech? */
static int pop3_capa(tun *t, bool *has_stls, bool *has_mech)
{
	char *line;
	size_t len;

	*has_stls = *has_mech = false;
	if (send_fmt(t, "CAPA") < 0 || pop3_status(t, "CAPA", &line) < 0)
		return -1;
	for (;;) {
		if (read_line(t, &line, &len) < 0)
			return -1;
		if (strcmp(line, ".") == 0)
			return 0;
		if (strcasecmp(line, "STLS") == 0)
			*has_stls = true;
		else if (strncasecmp(line, "SASL ", 5) == 0 && has_word(line + 5, t->mech))
			*has_mech = true;
	}
}

static int pop3_login(tun *t)
{
	const char *out = NULL;
	unsigned outlen = 0;
	sasl_interact_t *need = NULL;
	char prefix[64];
	char *line;
	size_t len;
	int r;

	if (sasl_setup(t) < 0)
		return -1;
	r = sasl_client_start(t->sasl, t->mech, &need, &out, &outlen, NULL);
	if (r != SASL_OK && r != SASL_CONTINUE)
		return sasl_failed(t, r);
	/* No initial response (the plugin's choice: the 255-octet rule and
	 * pop3_split_hosts): AUTH alone, the token after the "+". */
	if (out != NULL) {
		snprintf(prefix, sizeof prefix, "AUTH %s ", t->mech);
		r = send_b64(t, prefix, out, outlen);
	} else {
		r = send_fmt(t, "AUTH %s", t->mech);
	}
	if (r < 0)
		return -1;
	for (;;) {
		if (read_line(t, &line, &len) < 0)
			return -1;
		if (line[0] == '+' && (line[1] == ' ' || line[1] == '\0')) {
			const char *b = line[1] == ' ' ? line + 2 : line + 1;

			if (sasl_answer(t, b, strlen(b)) < 0)
				return -1;
			continue;
		}
		if (strncmp(line, "+OK", 3) == 0)
			return 0;
		return tun_refused(t, line);
	}
}

static int pop3_session(tun *t)
{
	static const char ok[] = "+OK logged in by sasl-oauth2 tunnel\r\n";
	bool stls, mech;
	char *line;

	if (pop3_status(t, "the connection", &line) < 0)
		return -1;
	if (t->tls == TUN_TLS_STARTTLS) {
		if (pop3_capa(t, &stls, &mech) < 0)
			return -1;
		if (!stls)
			return tun_seterr(t, "the server does not offer STLS; use --tls implicit "
					  "with its TLS port (usually 995)");
		if (send_fmt(t, "STLS") < 0 || pop3_status(t, "STLS", &line) < 0)
			return -1;
		if (tls_buffered(&t->c) > 0)
			return tun_seterr(t, "the server sent data after its STLS reply "
					  "(a possible injection); refusing");
		if (tls_start(&t->c, t->ca_bundle, &t->err) < 0)
			return -1;
	}
	if (pop3_capa(t, &stls, &mech) < 0)
		return -1;
	if (!mech)
		return tun_seterr(t, "the server does not offer SASL %s in its CAPA", t->mech);
	if (pop3_login(t) < 0)
		return -1;
	return cli_write_all(STDOUT_FILENO, ok, sizeof ok - 1) < 0 ?
	       tun_seterr(t, "cannot write to standard output: %s", strerror(errno)) : 0;
}

/* ---------------------------------------------------------------------- */
/* The relay                                                                */

typedef struct relay_buf {
	char data[TUN_BUF];
	size_t off, len;
} relay_buf;

static size_t rb_free(const relay_buf *b)
{
	return sizeof b->data - b->off - b->len;
}

static void rb_consumed(relay_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

/* Make room at the end when the free space is all in front. */
static void rb_compact(relay_buf *b)
{
	if (b->off > 0 && rb_free(b) < sizeof b->data / 4) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
}

typedef struct relay {
	relay_buf up, down;         /* client to server, server to client */
	bool in_eof, srv_eof, shut, client_gone;
	bool rd_ww, wr_wr;          /* TLS read wants write, TLS write wants read */
} relay;

/* Server to relay buffer; -1 on a connection error. */
static int relay_from_server(tun *t, relay *r)
{
	ssize_t n;

	while (!r->srv_eof && rb_free(&r->down) > 0) {
		n = tls_read_some(&t->c, r->down.data + r->down.off + r->down.len,
				  rb_free(&r->down), &r->rd_ww, &t->err);
		if (n == TLS_AGAIN)
			return 0;
		if (n < 0)
			return -1;
		if (n == 0)
			r->srv_eof = true;
		r->down.len += (size_t)n;
	}
	return 0;
}

static int relay_to_server(tun *t, relay *r)
{
	bool ww;
	ssize_t n;

	while (r->up.len > 0) {
		n = tls_write_some(&t->c, r->up.data + r->up.off, r->up.len, &ww, &t->err);
		if (n == TLS_AGAIN) {
			r->wr_wr = !ww;
			return 0;
		}
		if (n < 0)
			return -1;
		rb_consumed(&r->up, (size_t)n);
	}
	return 0;
}

static void relay_client_io(relay *r, const struct pollfd *p)
{
	ssize_t n;

	if (p[1].revents && r->down.len > 0) {
		n = write(STDOUT_FILENO, r->down.data + r->down.off, r->down.len);
		if (n > 0)
			rb_consumed(&r->down, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			r->client_gone = true;
	}
	if (p[0].revents && !r->in_eof && rb_free(&r->up) > 0) {
		n = read(STDIN_FILENO, r->up.data + r->up.off + r->up.len, rb_free(&r->up));
		if (n > 0)
			r->up.len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			r->in_eof = true;
	}
	rb_compact(&r->up);
	rb_compact(&r->down);
}

/* Relay until the server ends the session (0), the client goes away (0), or
 * the connection fails or stays idle too long (TUN_EXIT_LOST). */
static int relay_run(tun *t)
{
	relay *r = calloc(1, sizeof *r);
	struct pollfd p[3];
	int rc = CLI_EXIT_OK, ms, n;

	if (r == NULL) {
		tun_report(t, "out of memory");
		return TUN_EXIT_LOST;
	}
	r->down.len = tls_take_buffered(&t->c, r->down.data, sizeof r->down.data);
	for (;;) {
		if (r->in_eof && r->up.len == 0 && !r->shut) {
			tls_shutdown_write(&t->c);
			r->shut = true;
		}
		if ((r->srv_eof && r->down.len == 0) || r->client_gone)
			break;
		/* A descriptor with nothing to wait for is left out (fd -1):
		 * its POLLHUP would otherwise wake every poll. */
		p[0] = (struct pollfd){ !r->in_eof && rb_free(&r->up) ? STDIN_FILENO : -1, POLLIN, 0 };
		p[1] = (struct pollfd){ r->down.len ? STDOUT_FILENO : -1, POLLOUT, 0 };
		p[2] = (struct pollfd){ t->c.fd, 0, 0 };
		if (!r->srv_eof && rb_free(&r->down))
			p[2].events |= r->rd_ww ? POLLOUT : POLLIN;
		if (r->up.len)
			p[2].events |= r->wr_wr ? POLLIN : POLLOUT;
		if (p[2].events == 0)
			p[2].fd = -1;
		ms = -1;
		if (t->idle_s > 0)
			ms = (int)(t->idle_s * 1000);
		if (r->shut && (ms < 0 || ms > t->timeout_s * 1000))
			ms = t->timeout_s * 1000;   /* the server must end soon after we did */
		if (tls_pending(&t->c) && rb_free(&r->down))
			ms = 0;
		n = poll(p, 3, ms);
		if (n < 0 && errno != EINTR) {
			tun_seterr(t, "poll failed: %s", strerror(errno));
			goto lost;
		}
		if (n == 0 && ms != 0) {
			tun_seterr(t, "no traffic for %d s; closing the session", ms / 1000);
			goto lost;
		}
		if (n <= 0 && ms != 0)
			continue;
		relay_client_io(r, p);
		if (relay_to_server(t, r) < 0 || relay_from_server(t, r) < 0)
			goto lost;
	}
	goto out;
lost:
	tun_report(t, t->err.msg);
	rc = TUN_EXIT_LOST;
	/* Hand the client what the server said before the loss. */
	if (r->down.len)
		(void)cli_write_all(STDOUT_FILENO, r->down.data + r->down.off, r->down.len);
out:
	free(r);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* The command                                                              */

/* A port number, or the service name fetchmail's %p gives when its poll
 * entry has no port; -1 when neither. */
static long port_number(const char *s)
{
	static const struct { const char *name; long port; } services[] = {
		{ "imap", 143 }, { "imaps", 993 }, { "pop3", 110 }, { "pop3s", 995 },
	};
	char *end;
	long port;
	size_t i;

	for (i = 0; i < sizeof services / sizeof services[0]; i++)
		if (strcasecmp(s, services[i].name) == 0)
			return services[i].port;
	port = strtol(s, &end, 10);
	if (*s == '\0' || *end || port < 1 || port > 65535)
		return -1;
	return port;
}

static int parse_opts(tun *t, int argc, char **argv)
{
	enum { O_PROTO = 1, O_TLS, O_MECH, O_USER, O_IDLE };
	static const cli_opt opts[] = {
		{ "protocol", 0, true, O_PROTO },
		{ "tls", 0, true, O_TLS },
		{ "mech", 0, true, O_MECH },
		{ "user", 0, true, O_USER },
		{ "idle-timeout", 0, true, O_IDLE },
		{ NULL, 0, false, 0 },
	};
	const char *proto = NULL, *tls = NULL;
	cli_parser p;
	char *end;
	long port;
	int id, rc = CLI_GO_ON;

	if (cli_parser_init(&p, "tunnel", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	t->mech = "XOAUTH2";
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_PROTO)
			proto = p.arg;
		else if (id == O_TLS)
			tls = p.arg;
		else if (id == O_MECH)
			t->mech = strcasecmp(p.arg, "OAUTHBEARER") == 0 ? "OAUTHBEARER" :
				  strcasecmp(p.arg, "XOAUTH2") == 0 ? "XOAUTH2" : NULL;
		else if (id == O_USER)
			t->user_opt = p.arg;
		else if (id == O_IDLE) {
			t->idle_s = strtol(p.arg, &end, 10);
			if (*p.arg == '\0' || *end || t->idle_s < 0 || t->idle_s > 86400 * 7) {
				rc = cli_usage_error("tunnel", "--idle-timeout takes seconds (0 to "
						     "604800), not '%s'", p.arg);
				goto out;
			}
		}
	}
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto out;
	if (p.npos != 3) {
		rc = cli_usage_error("tunnel", "give NAME HOST PORT");
		goto out;
	}
	t->name = p.pos[0];
	t->host = p.pos[1];
	t->port = p.pos[2];
	port = port_number(t->port);
	if (port < 1) {
		rc = cli_usage_error("tunnel", "PORT must be a number from 1 to 65535 or one of "
				     "imap, imaps, pop3, pop3s, not '%s'", t->port);
		goto out;
	}
	snprintf(t->port_buf, sizeof t->port_buf, "%ld", port);
	t->port = t->port_buf;
	if (t->mech == NULL) {
		rc = cli_usage_error("tunnel", "--mech is XOAUTH2 or OAUTHBEARER");
		goto out;
	}
	if (proto == NULL)
		t->proto = (port == 110 || port == 995) ? TUN_POP3 : TUN_IMAP;
	else if (strcasecmp(proto, "imap") == 0 || strcasecmp(proto, "pop3") == 0)
		t->proto = strcasecmp(proto, "imap") == 0 ? TUN_IMAP : TUN_POP3;
	else {
		rc = cli_usage_error("tunnel", "--protocol is imap or pop3, not '%s'", proto);
		goto out;
	}
	if (tls == NULL)
		t->tls = (port == 143 || port == 110) ? TUN_TLS_STARTTLS : TUN_TLS_IMPLICIT;
	else if (strcmp(tls, "implicit") == 0)
		t->tls = TUN_TLS_IMPLICIT;
	else if (strcmp(tls, "starttls") == 0)
		t->tls = TUN_TLS_STARTTLS;
	else if (strcmp(tls, "none") == 0)
		t->tls = TUN_TLS_NONE;
	else {
		rc = cli_usage_error("tunnel", "--tls is implicit, starttls or none, not '%s'", tls);
		goto out;
	}
	if (ts_name_check(t->name, &t->err) != TS_OK) {
		rc = cli_usage_error("tunnel", "%s", t->err.msg);
		goto out;
	}
	/* The positional strings live in argv; the parser's list goes. */
out:
	cli_parser_free(&p);
	return rc;
}

/* Everything up to the pre-authenticated session; -1 with t->err set. */
static int tun_login(tun *t, ts_ctx *ctx)
{
	const ts_global_config *cfg = ts_ctx_config(ctx);
	ts_token_effective *eff = NULL;
	int r = -1;

	if (ts_ctx_token_effective(&eff, ctx, t->name, &t->err) != TS_OK) {
		char buf[TS_ERRMSG_MAX];

		return tun_seterr(t, "%s", cli_unname(buf, sizeof buf, t->name, t->err.msg));
	}
	if (t->user_opt)
		t->user = strdup(t->user_opt);
	else if (eff->user)
		t->user = strdup(eff->user);
	ts_token_effective_free(eff);
	if (t->user == NULL || t->user[0] == '\0')
		return tun_seterr(t, "the token has no user; set it (sasl-oauth2 edit %s --set "
				  "user=MAILBOX) or give --user MAILBOX", t->name);
	t->timeout_s = cfg && cfg->http_timeout > 0 ? (int)cfg->http_timeout : 20;
	t->ca_bundle = cfg ? cfg->ca_bundle : NULL;

	if (tls_connect(&t->c, t->host, t->port, t->timeout_s, t->tls == TUN_TLS_NONE,
			&t->err) < 0)
		return -1;
	if (t->tls == TUN_TLS_IMPLICIT && tls_start(&t->c, t->ca_bundle, &t->err) < 0)
		return -1;
	r = t->proto == TUN_IMAP ? imap_session(t) : pop3_session(t);
	if (r == 0 && t->verbose) {
		char d[128];

		fprintf(stderr, "%s: %s: logged in to %s port %s as %s with %s over %s\n",
			CLI_PROG, t->name, t->host, t->port, t->user, t->mech,
			tls_describe(&t->c, d, sizeof d));
	}
	return r;
}

int cmd_tunnel(const cli_global *g, int argc, char **argv)
{
	tun t;
	ts_ctx *ctx = NULL;
	int rc, fl0 = -1, fl1 = -1;

	memset(&t, 0, sizeof t);
	t.g = g;
	t.verbose = g->verbose;
	t.c.fd = -1;
	if ((rc = parse_opts(&t, argc, argv)) != CLI_GO_ON)
		return rc;
	if ((rc = cli_ctx_open(&ctx, g, 0, t.name)) != CLI_EXIT_OK) {
		tun_refuse(&t, "the token store cannot be opened (see the helper's error)");
		return rc;
	}
	t.syslog = ts_ctx_config(ctx) && ts_ctx_config(ctx)->log == TS_LOG_SYSLOG;
	if (tun_login(&t, ctx) < 0) {
		rc = tun_fail(&t);
		goto cleanup;
	}
	/* The relay never blocks on one side while the other waits. */
	fl0 = fcntl(STDIN_FILENO, F_GETFL);
	fl1 = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl0 >= 0)
		fcntl(STDIN_FILENO, F_SETFL, fl0 | O_NONBLOCK);
	if (fl1 >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, fl1 | O_NONBLOCK);
	rc = relay_run(&t);
	if (fl0 >= 0)
		fcntl(STDIN_FILENO, F_SETFL, fl0);
	if (fl1 >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, fl1);
cleanup:
	if (t.sasl)
		sasl_dispose(&t.sasl);
	sasl_client_done();
	tls_close(&t.c);
	free(t.caps);
	free(t.pass);
	free(t.user);
	ts_ctx_close(ctx);
	return rc;
}
