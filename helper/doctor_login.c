/*
 * doctor_login.c - `doctor NAME --login [imap|pop3|smtp]...`: a real login
 * to each of the token's `servers`, over TLS, through libsasl2 and the
 * plugin, reporting per protocol OK or the server's refusal.
 *
 * IMAP and POP3 run `sasl-oauth2 tunnel` (the same TLS client, login
 * dialogue and plugin as fetchmail gets), stopping at the pre-authenticated
 * greeting. SMTP speaks EHLO/STARTTLS/AUTH itself with the helper's TLS
 * client and libsasl2. Implicit TLS on 993, 995 and 465; STARTTLS on every
 * other port. The token's `hosts` are checked before any connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "doctor_p.h"
#include "tls.h"

#define OUT_MAX 4096

/* Split "host:port" (or "[v6]:port") into host and port. */
static int split_server(char *host, size_t hsize, char *port, size_t psize, const char *server)
{
	const char *colon = strrchr(server, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - server);
	if (hl >= 2 && server[0] == '[' && server[hl - 1] == ']') {
		server++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hsize || strlen(colon + 1) >= psize)
		return -1;
	memcpy(host, server, hl);
	host[hl] = '\0';
	snprintf(port, psize, "%s", colon + 1);
	return 0;
}

static bool implicit_tls(const char *port)
{
	return strcmp(port, "993") == 0 || strcmp(port, "995") == 0 || strcmp(port, "465") == 0;
}

/* Read what is ready on fd into buf (bounded). false at EOF. */
static bool drain(int fd, char *buf, size_t *len)
{
	char tmp[1024];
	ssize_t n = read(fd, tmp, sizeof tmp);

	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN);
	if (*len + (size_t)n >= OUT_MAX)
		n = (ssize_t)(OUT_MAX - 1 - *len);
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	buf[*len] = '\0';
	return true;
}

/* Run the tunnel for one IMAP/POP3 login; its stdout and stderr in out/err.
 * Returns its exit status, or -1 when it could not run or ran too long. */
static int run_tunnel(const cli_global *g, const char *name, const char *proto, const char *host,
		      const char *port, int timeout_s, char *out, char *err)
{
	char self[4096];
	const char *argv[16];
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, argc = 0, status = -1, nul;
	size_t olen = 0, elen = 0;
	bool oopen = true, eopen = true;
	time_t deadline = time(NULL) + timeout_s;
	ssize_t sl;
	pid_t pid;

	out[0] = err[0] = '\0';
	sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0)
		return -1;
	self[sl] = '\0';
	argv[argc++] = self;
	if (g->store_dir) {
		argv[argc++] = "--store";
		argv[argc++] = g->store_dir;
	}
	if (g->config_path) {
		argv[argc++] = "--config";
		argv[argc++] = g->config_path;
	}
	argv[argc++] = "tunnel";
	argv[argc++] = name;
	argv[argc++] = host;
	argv[argc++] = port;
	argv[argc++] = "--protocol";
	argv[argc++] = proto;
	argv[argc++] = "--tls";
	argv[argc++] = implicit_tls(port) ? "implicit" : "starttls";
	argv[argc] = NULL;
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
		goto fail;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(po[1], STDOUT_FILENO) < 0 ||
		    dup2(pe[1], STDERR_FILENO) < 0)
			_exit(127);
		execv(self, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	while (oopen || eopen) {
		struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
		int left = (int)(deadline - time(NULL));

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		p[0].fd = oopen ? po[0] : -1;
		p[1].fd = eopen ? pe[0] : -1;
		if (poll(p, 2, left * 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents && !drain(po[0], out, &olen))
			oopen = false;
		if (p[1].revents && !drain(pe[0], err, &elen))
			eopen = false;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(po[0]);
	close(pe[0]);
	if (oopen || eopen)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
fail:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return -1;
}

/* The first line of `s`, without a "sasl-oauth2: NAME: " prefix. */
static const char *first_line(char *s, const char *name)
{
	char prefix[TS_NAME_MAX + 32];
	size_t n = strcspn(s, "\r\n");

	s[n] = '\0';
	snprintf(prefix, sizeof prefix, "%s: %s: ", CLI_PROG, name);
	if (strncmp(s, prefix, strlen(prefix)) == 0)
		return s + strlen(prefix);
	return s;
}

/* ---------------------------------------------------------------------- */
/* SMTP: EHLO, STARTTLS (or implicit TLS), AUTH through libsasl2            */

typedef struct smtp_login {
	const cli_global *g;
	const char *name;           /* token name: the SASL "password" */
	const char *user;           /* the mailbox */
	const char *plugdir;
	tls_conn c;
	sasl_conn_t *sasl;
	sasl_secret_t *pass;
	char caps[2048];            /* the EHLO keywords, space separated */
	char last[512];             /* the server's last reply line */
	ts_error err;
} smtp_login;

static int sl_getpath(void *ctx, const char **path)
{
	*path = ((smtp_login *)ctx)->plugdir;
	return SASL_OK;
}

static int sl_getopt(void *ctx, const char *plugin, const char *option, const char **result,
		     unsigned *len)
{
	const smtp_login *s = ctx;
	const char *v = strcmp(option, "oauth2_store") == 0 ? s->g->store_dir :
			strcmp(option, "oauth2_config") == 0 ? s->g->config_path : NULL;

	(void)plugin;
	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

static int sl_name(void *ctx, int id, const char **result, unsigned *len)
{
	const smtp_login *s = ctx;

	*result = id == SASL_CB_AUTHNAME ? s->user : "";
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* The token's name as the SASL password: the plugin selects by it. */
static int sl_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **out)
{
	smtp_login *s = ctx;
	size_t n = strlen(s->name);

	(void)conn;
	(void)id;
	if (s->pass == NULL && (s->pass = calloc(1, sizeof(*s->pass) + n + 1)) != NULL) {
		s->pass->len = n;
		memcpy(s->pass->data, s->name, n);
	}
	*out = s->pass;
	return s->pass ? SASL_OK : SASL_NOMEM;
}

/* One SMTP reply (all its lines); its code, or -1 with s->err set. The
 * EHLO keywords are collected in s->caps. */
static int smtp_reply(smtp_login *s)
{
	char *line;
	size_t len, clen = 0;
	int code = -1;

	s->caps[0] = '\0';
	for (;;) {
		if (tls_read_line(&s->c, &line, &len, &s->err) < 0)
			return -1;
		if (len < 3 || line[0] < '2' || line[0] > '5') {
			ts_error_set(&s->err, TS_ENET, "the server sent '%.80s', not an SMTP reply", line);
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		snprintf(s->last, sizeof s->last, "%.*s", (int)len, line);
		if (len > 4 && clen + len < sizeof s->caps) {
			clen += (size_t)snprintf(s->caps + clen, sizeof s->caps - clen, " %.*s",
						 (int)(len - 4), line + 4);
		}
		if (len == 3 || line[3] != '-')
			return code;
	}
}

static int smtp_send(smtp_login *s, const char *a, const char *b)
{
	if (tls_write_all(&s->c, a, strlen(a), &s->err) < 0 ||
	    (b && tls_write_all(&s->c, b, strlen(b), &s->err) < 0) ||
	    tls_write_all(&s->c, "\r\n", 2, &s->err) < 0)
		return -1;
	return 0;
}

/* Does the EHLO answer offer `word` (as a keyword, or an AUTH mechanism)? */
static bool smtp_offers(const smtp_login *s, const char *word)
{
	const char *p = s->caps;
	size_t n = strlen(word);

	while ((p = strcasestr(p, word)) != NULL) {
		if ((p == s->caps || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

/* Send `prefix` and base64 of (data, len) as one line; the encoded copy
 * carries the token and is wiped. */
static int smtp_send_b64(smtp_login *s, const char *prefix, const char *data, unsigned len)
{
	unsigned cap = (len + 2) / 3 * 4 + 1, n = 0;
	char *enc = NULL;
	int r;

	if (len > 0) {
		if ((enc = malloc(cap)) == NULL)
			return ts_error_set(&s->err, TS_ENOMEM, "out of memory"), -1;
		if (sasl_encode64(data, len, enc, cap, &n) != SASL_OK) {
			free(enc);
			return ts_error_set(&s->err, TS_ERR, "cannot encode the SASL response"), -1;
		}
	}
	r = smtp_send(s, prefix, enc ? enc : "");
	if (enc) {
		ts_wipe(enc, cap);
		free(enc);
	}
	return r;
}

/* The AUTH exchange; 0 when the server accepted the login, else -1 with
 * s->err: the plugin's refusal (no connection attempt needed) or the
 * server's reply. */
static int smtp_auth(smtp_login *s, const char *mech)
{
	const char *out = NULL, *chosen = NULL;
	unsigned outlen = 0;
	char cmd[64], in[8192];
	int r, code;

	r = sasl_client_start(s->sasl, mech, NULL, &out, &outlen, &chosen);
	if (r != SASL_OK && r != SASL_CONTINUE) {
		const char *d = sasl_errdetail(s->sasl);

		ts_error_set(&s->err, TS_EPERM, "login not attempted: %s",
			     d && strstr(d, mech) ? strstr(d, mech) : d ? d : sasl_errstring(r, NULL, NULL));
		return -1;
	}
	snprintf(cmd, sizeof cmd, "AUTH %s%s", mech, outlen ? " " : "");
	if (smtp_send_b64(s, cmd, out, outlen) < 0)
		return -1;
	while ((code = smtp_reply(s)) == 334) {
		const char *p = strlen(s->last) > 4 ? s->last + 4 : "";
		unsigned inlen = 0;

		if (*p && sasl_decode64(p, (unsigned)strlen(p), in, sizeof in, &inlen) != SASL_OK)
			inlen = 0;
		r = sasl_client_step(s->sasl, in, inlen, NULL, &out, &outlen);
		if (r != SASL_OK && r != SASL_CONTINUE) {
			ts_error_set(&s->err, TS_ERR, "the SASL exchange failed: %s",
				     sasl_errdetail(s->sasl));
			return -1;
		}
		if (smtp_send_b64(s, "", out, outlen) < 0)
			return -1;
	}
	if (code == 235)
		return 0;
	if (code > 0)
		ts_error_set(&s->err, TS_EPERM, "the server refused the login: %s", s->last);
	return -1;
}

/* One SMTP login; 0 when it succeeded, else -1 with s->err. */
static int smtp_login_run(smtp_login *s, const char *host, const char *port, int timeout_s,
			  const char *ca_bundle)
{
	sasl_callback_t gcb[] = {
		{ SASL_CB_GETPATH, (int (*)(void))(void (*)(void))sl_getpath, s },
		{ SASL_CB_GETOPT, (int (*)(void))(void (*)(void))sl_getopt, s },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	sasl_callback_t ccb[] = {
		{ SASL_CB_AUTHNAME, (int (*)(void))(void (*)(void))sl_name, s },
		{ SASL_CB_USER, (int (*)(void))(void (*)(void))sl_name, s },
		{ SASL_CB_PASS, (int (*)(void))(void (*)(void))sl_pass, s },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	sasl_security_properties_t sp;
	const char *mech;
	int code, r = -1;

	if (tls_connect(&s->c, host, port, timeout_s, false, &s->err) < 0)
		return -1;
	if (implicit_tls(port) && tls_start(&s->c, ca_bundle, &s->err) < 0)
		return -1;
	if ((code = smtp_reply(s)) != 220)
		goto refused;
	if (smtp_send(s, "EHLO sasl-oauth2-doctor.invalid", NULL) < 0 || (code = smtp_reply(s)) != 250)
		goto refused;
	if (!implicit_tls(port)) {
		if (!smtp_offers(s, "STARTTLS"))
			return ts_error_set(&s->err, TS_EPERM, "the server offers no STARTTLS, and a token "
					    "is never sent in clear"), -1;
		if (smtp_send(s, "STARTTLS", NULL) < 0 || (code = smtp_reply(s)) != 220)
			goto refused;
		if (tls_start(&s->c, ca_bundle, &s->err) < 0)
			return -1;
		if (smtp_send(s, "EHLO sasl-oauth2-doctor.invalid", NULL) < 0 ||
		    (code = smtp_reply(s)) != 250)
			goto refused;
	}
	mech = smtp_offers(s, "XOAUTH2") ? "XOAUTH2" : smtp_offers(s, "OAUTHBEARER") ? "OAUTHBEARER" : NULL;
	if (mech == NULL)
		return ts_error_set(&s->err, TS_EPERM, "the server offers neither XOAUTH2 nor "
				    "OAUTHBEARER (EHLO:%.200s)", s->caps), -1;
	if (sasl_client_init(gcb) != SASL_OK ||
	    sasl_client_new("smtp", host, NULL, NULL, ccb, 0, &s->sasl) != SASL_OK) {
		ts_error_set(&s->err, TS_ERR, "libsasl2 could not be set up (plugin directory %s)",
			     s->plugdir);
		goto done;
	}
	memset(&sp, 0, sizeof sp);
	sp.max_ssf = 256;
	sasl_setprop(s->sasl, SASL_SEC_PROPS, &sp);
	r = smtp_auth(s, mech);
	if (r == 0)
		smtp_send(s, "QUIT", NULL);
done:
	if (s->sasl)
		sasl_dispose(&s->sasl);
	sasl_client_done();
	return r;
refused:
	if (code > 0)
		ts_error_set(&s->err, TS_EPERM, "the server answered: %s", s->last);
	return -1;
}

/* ---------------------------------------------------------------------- */

int doctor_login(const cli_global *g, ts_ctx *ctx, const char *name, char **protos, int nprotos)
{
	static const char *const all[] = { "imap", "pop3", "smtp" };
	const ts_global_config *cfg = ts_ctx_config(ctx);
	int timeout_s = cfg && cfg->http_timeout > 0 ? (int)cfg->http_timeout : 20;
	ts_token_effective *eff = NULL;
	ts_error err = { 0 };
	char why[TS_ERRMSG_MAX + 16], what[32];
	int i, problems = 0, n = nprotos ? nprotos : 3;
	const char *env = getenv("SASL_PATH");

	if (ts_ctx_token_effective(&eff, ctx, name, &err) != TS_OK) {
		doctor_bad("login", cli_unname(why, sizeof why, name, err.msg));
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *proto = nprotos ? protos[i] : all[i];
		const char *server = strcmp(proto, "imap") == 0 ? eff->servers.imap :
				     strcmp(proto, "pop3") == 0 ? eff->servers.pop3 :
				     strcmp(proto, "smtp") == 0 ? eff->servers.smtp : NULL;
		char host[256], port[16], out[OUT_MAX], errbuf[OUT_MAX], msg[TS_ERRMSG_MAX + 600];

		snprintf(what, sizeof what, "login %s", proto);
		if (server == NULL) {
			if (!nprotos)
				continue;
			snprintf(msg, sizeof msg, "token '%s' has no servers.%s; set it with: %s edit %s "
				 "--set servers.%s=HOST:PORT", name, proto, CLI_PROG, name, proto);
			doctor_bad(what, cli_unname(why, sizeof why, name, msg));
			problems++;
			continue;
		}
		if (split_server(host, sizeof host, port, sizeof port, server) != 0) {
			snprintf(msg, sizeof msg, "servers.%s '%s' is not HOST:PORT", proto, server);
			doctor_bad(what, msg);
			problems++;
			continue;
		}
		if (ts_token_host_check(eff, host, &err) != TS_OK) {
			doctor_bad(what, cli_unname(why, sizeof why, name, err.msg));
			problems++;
			continue;
		}
		if (strcmp(proto, "smtp") == 0) {
			smtp_login s;

			memset(&s, 0, sizeof s);
			s.g = g;
			s.name = name;
			s.user = eff->user;
			s.plugdir = env && *env ? env : PLUGINDIR;
			s.c.fd = -1;
			if (s.user == NULL) {
				doctor_bad(what, "the token has no user to log in as; set user");
				problems++;
				continue;
			}
			if (smtp_login_run(&s, host, port, timeout_s, cfg ? cfg->ca_bundle : NULL) == 0)
				doctor_ok(what, "%s: logged in as %s", server, s.user);
			else {
				snprintf(msg, sizeof msg, "%s: %s", server, s.err.msg);
				doctor_bad(what, cli_unname(why, sizeof why, name, msg));
				problems++;
			}
			tls_close(&s.c);
			free(s.pass);
			continue;
		}
		if (run_tunnel(g, name, proto, host, port, timeout_s * 3 + 5, out, errbuf) == 0 &&
		    (strncmp(out, "* PREAUTH", 9) == 0 || strncmp(out, "+OK", 3) == 0)) {
			doctor_ok(what, "%s: logged in as %s", server, eff->user ? eff->user : "?");
		} else {
			snprintf(msg, sizeof msg, "%s: %s", server,
				 errbuf[0] ? first_line(errbuf, name) :
				 out[0] ? first_line(out, name) : "the login did not finish in time");
			doctor_bad(what, msg);
			problems++;
		}
	}
	ts_token_effective_free(eff);
	return problems ? 1 : 0;
}
