/*
 * test_plugin.c - in-process tests of the SASL plugin: libsasl2 loads
 * libsasloauth2.so from the build tree (SASL_CB_GETPATH) with plugin options
 * (SASL_CB_GETOPT) pointing at a store this program writes, and every
 * exchange is checked byte for byte through sasl_client_new/start/step.
 *
 * Usage:
 *   test_plugin                 the TAP suite
 *   test_plugin loop N          N complete logins (for valgrind), TAP
 *   test_plugin login STORE CONFIG AUTHNAME [PASSWORD]
 *                               one XOAUTH2 login with an existing store;
 *                               prints the initial response (escaped) and
 *                               exits 0 on success (refresh test); with
 *                               TEST_PLUGIN_CHROOT=DIR it chroots into DIR
 *                               after loading the plugin (root only);
 *                               with TEST_PLUGIN_SETUID=UID it then takes
 *                               that uid and gid, as Postfix's smtp does;
 *                               TEST_PLUGIN_LOGINS=N logs in N times in
 *                               the one process; TEST_PLUGIN_ENV_STORE=DIR
 *                               puts DIR in SASL_OAUTH2_STORE
 *   test_plugin threads STORE CONFIG AUTHNAME N
 *                               N threads log in at once (XOAUTH2); prints
 *                               each initial response, exits 0 when all
 *                               succeed (concurrent refresh test)
 *
 * The tokens have far-future expiries, so no network is needed except
 * where a test wants a refresh to be attempted (and fail fast against a
 * closed loopback port).
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "tap.h"

static char g_plugdir[4096];
static const char *g_store;
static const char *g_config;
static char g_log[16384];
static char g_tmp[2048], g_storebuf[4096], g_configbuf[4096];

/* ------------------------------------------------------------------ */
/* Callbacks                                                            */

static int cb_getpath(void *context, const char **path)
{
	(void)context;
	*path = g_plugdir;
	return SASL_OK;
}

static int cb_getopt(void *context, const char *plugin_name, const char *option,
		     const char **result, unsigned *len)
{
	const char *v = NULL;

	(void)context;
	(void)plugin_name;
	if (strcmp(option, "oauth2_store") == 0)
		v = g_store;
	else if (strcmp(option, "oauth2_config") == 0)
		v = g_config;
	else if (strcmp(option, "oauth2_preload") == 0)
		v = getenv("TEST_PLUGIN_PRELOAD");
	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

/* Every secret the suite puts in a store: none may ever reach a log. */
static const char *const g_secrets[] = {
	"at-work-1", "at-comma", "at-bob", "at-s1", "at-s2", "at-dis", "at-tmp", "at-pick",
	"at-rej1", "at-rej2", "at-rej3", "at-jail", "at-late", "at-jsec", "rt-", "test-secret",
	"Bearer",
};
static int g_secret_logged;
/* Logins run in several threads in test_threads(). */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static int cb_log(void *context, int level, const char *message)
{
	size_t n;

	(void)context;
	(void)level;
	pthread_mutex_lock(&g_log_lock);
	n = strlen(g_log);
	for (size_t i = 0; i < sizeof(g_secrets) / sizeof(g_secrets[0]); i++)
		if (strstr(message, g_secrets[i]) != NULL) {
			g_secret_logged++;
			printf("# SECRET LOGGED: %s\n", message);
		}
	if (getenv("TEST_PLUGIN_VERBOSE"))
		printf("# log %d: %s\n", level, message);
	snprintf(g_log + n, sizeof(g_log) - n, "%s\n", message);
	pthread_mutex_unlock(&g_log_lock);
	return SASL_OK;
}

typedef struct creds {
	const char *authname;
	const char *user;       /* authzid, NULL: no callback */
	const char *password;   /* NULL: no callback */
	sasl_secret_t *secret;
} creds;

static int cb_simple(void *context, int id, const char **result, unsigned *len)
{
	creds *c = context;
	const char *v = id == SASL_CB_AUTHNAME ? c->authname : c->user;

	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

static int cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
	creds *c = context;
	size_t n;

	(void)conn;
	(void)id;
	if (c->password == NULL)
		return SASL_FAIL;
	n = strlen(c->password);
	free(c->secret);
	c->secret = calloc(1, sizeof(sasl_secret_t) + n + 1);
	if (c->secret == NULL)
		return SASL_NOMEM;
	c->secret->len = n;
	memcpy(c->secret->data, c->password, n);
	*psecret = c->secret;
	return SASL_OK;
}

typedef int (*cbfn)(void);

static const sasl_callback_t global_cbs[] = {
	{ SASL_CB_GETPATH, (cbfn)(void (*)(void))cb_getpath, NULL },
	{ SASL_CB_GETOPT, (cbfn)(void (*)(void))cb_getopt, NULL },
	{ SASL_CB_LOG, (cbfn)(void (*)(void))cb_log, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};
/* An application that sets no log callback (TEST_PLUGIN_NO_LOG for
 * `login`): libsasl2 then sends the plugin's messages to syslog. */
static const sasl_callback_t global_cbs_nolog[] = {
	{ SASL_CB_GETPATH, (cbfn)(void (*)(void))cb_getpath, NULL },
	{ SASL_CB_GETOPT, (cbfn)(void (*)(void))cb_getopt, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* Per-connection callbacks for `c`. */
static void make_cbs(sasl_callback_t *cbs, creds *c)
{
	size_t i = 0;

	cbs[i++] = (sasl_callback_t){ SASL_CB_AUTHNAME, (cbfn)(void (*)(void))cb_simple, c };
	if (c->user)
		cbs[i++] = (sasl_callback_t){ SASL_CB_USER, (cbfn)(void (*)(void))cb_simple, c };
	if (c->password)
		cbs[i++] = (sasl_callback_t){ SASL_CB_PASS, (cbfn)(void (*)(void))cb_pass, c };
	cbs[i] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
}

/* ------------------------------------------------------------------ */
/* Store                                                                */

static int write_file(const char *dir, const char *name, const char *content)
{
	char path[4096];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	fputs(content, f);
	return fclose(f) == 0 ? 0 : -1;
}

#define FAR_FUTURE "4102444800"

/* A token of template `tpl` with extra YAML lines `extra` (may be ""). */
static int add_token_ext(const char *dir, const char *name, const char *tpl, const char *user,
			 const char *extra, const char *access)
{
	char buf[8192], fname[512];
	bool generic = strcmp(tpl, "generic") == 0;

	snprintf(buf, sizeof(buf),
		 "name: %s\n"
		 "template: %s\n"
		 "%s%s%s"
		 "client_id: test-client\n"
		 "client_secret: test-secret\n"
		 "flow: authorization_code\n"
		 "%s"
		 "%s",
		 name, tpl, user ? "user: \"" : "", user ? user : "", user ? "\"\n" : "",
		 generic ? "auth_url: http://127.0.0.1:9/authorize\n"
			   "token_url: http://127.0.0.1:9/token\n" : "",
		 extra);
	snprintf(fname, sizeof(fname), "%s.yaml", name);
	if (write_file(dir, fname, buf) != 0)
		return -1;
	snprintf(buf, sizeof(buf),
		 "{\"access_token\": \"%s\", \"token_type\": \"Bearer\", "
		 "\"expires_at\": " FAR_FUTURE ", \"refresh_token\": \"rt-%s\", "
		 "\"generation\": 1}\n", access, name);
	snprintf(fname, sizeof(fname), "%s.state", name);
	return write_file(dir, fname, buf);
}

static int add_token(const char *dir, const char *name, const char *user,
		     const char *validity, const char *access)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "validity: %s\n", validity);
	return add_token_ext(dir, name, "generic", user, extra, access);
}

/* A confidential client whose secret is in a 0600 file outside the store
 * and whose access token has expired: a login must refresh, at
 * 127.0.0.1:9 where nothing listens. */
static int add_token_secret_file(const char *dir, const char *name, const char *user,
				 const char *secret_path)
{
	char buf[6144], fname[512];

	snprintf(buf, sizeof(buf),
		 "name: %s\n"
		 "template: generic\n"
		 "user: \"%s\"\n"
		 "client_id: test-client\n"
		 "client_secret_file: %s\n"
		 "flow: authorization_code\n"
		 "auth_url: http://127.0.0.1:9/authorize\n"
		 "token_url: http://127.0.0.1:9/token\n",
		 name, user, secret_path);
	snprintf(fname, sizeof(fname), "%s.yaml", name);
	if (write_file(dir, fname, buf) != 0)
		return -1;
	snprintf(buf, sizeof(buf),
		 "{\"access_token\": \"at-%s\", \"token_type\": \"Bearer\", "
		 "\"expires_at\": 1000, \"refresh_token\": \"rt-%s\", \"generation\": 1}\n",
		 name, name);
	snprintf(fname, sizeof(fname), "%s.state", name);
	return write_file(dir, fname, buf);
}

/* Read <dir>/<name>.state and return the boolean `key` (-1: unreadable). */
static int state_bool(const char *dir, const char *name, const char *key)
{
	char path[4096];
	json_object *obj, *v;
	int ret = -1;

	snprintf(path, sizeof(path), "%s/%s.state", dir, name);
	obj = json_object_from_file(path);
	if (obj == NULL)
		return -1;
	if (json_object_object_get_ex(obj, key, &v))
		ret = json_object_get_boolean(v) ? 1 : 0;
	else
		ret = 0;
	json_object_put(obj);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Exchange helpers                                                     */

/* Printable form of bytes for diagnostics (^A for 0x01). */
static const char *show(const char *p, unsigned len)
{
	static _Thread_local char buf[4][1024];
	static _Thread_local int k;
	char *b = buf[k++ & 3];
	size_t o = 0;

	if (p == NULL)
		return "(null)";
	for (unsigned i = 0; i < len && o + 4 < sizeof(buf[0]); i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == 1) {
			b[o++] = '^';
			b[o++] = 'A';
		} else if (ch < 0x20 || ch >= 0x7f) {
			b[o++] = '?';
		} else {
			b[o++] = (char)ch;
		}
	}
	b[o] = '\0';
	return b;
}

static bool bytes_eq(const char *got, unsigned gotlen, const char *want, size_t wantlen)
{
	return got != NULL && gotlen == wantlen && memcmp(got, want, wantlen) == 0;
}

#define CHECK_BYTES(got, gotlen, want, ...)                                              \
	do {                                                                             \
		const char *w__ = (want);                                                \
		size_t wl__ = strlen(w__);                                               \
		if (!tap_ok(bytes_eq((got), (gotlen), w__, wl__), __VA_ARGS__))         \
			tap_diag("  got '%s' (%u), want '%s' (%zu)", show((got), (gotlen)), \
				 (unsigned)(gotlen), show(w__, (unsigned)wl__), wl__);       \
	} while (0)

typedef struct login {
	const char *mech;       /* mechanism list offered by the "server" */
	const char *service;
	const char *host;       /* serverFQDN */
	const char *ipremote;   /* "ip;port" or NULL */
	creds c;
	bool no_ir;             /* pass clientout NULL to sasl_client_start */
} login;

static sasl_conn_t *conn_new(const login *l, sasl_callback_t *cbs, creds *c)
{
	sasl_conn_t *conn = NULL;
	int rc;

	make_cbs(cbs, c);
	rc = sasl_client_new(l->service ? l->service : "imap", l->host, NULL, l->ipremote, cbs,
			     0, &conn);
	if (rc != SASL_OK) {
		tap_diag("sasl_client_new: %s", sasl_errstring(rc, NULL, NULL));
		return NULL;
	}
	return conn;
}

/*
 * A successful login: the first output must be `want_ir` (NULL: the
 * exchange is split, no initial response), the step after the server's
 * empty challenge must be `want_second` when given, and an empty final step
 * SASL_OK with empty output.
 */
static void expect_login(const char *what, const login *l, const char *want_ir,
			 const char *want_second)
{
	sasl_callback_t cbs[5];
	creds c = l->c;
	sasl_conn_t *conn = conn_new(l, cbs, &c);
	const char *out = NULL, *mech = NULL;
	unsigned outlen = 0;
	int rc;

	if (!tap_ok(conn != NULL, "%s: connection", what))
		return;
	rc = sasl_client_start(conn, l->mech, NULL, l->no_ir ? NULL : &out,
			       l->no_ir ? NULL : &outlen, &mech);
	if (!tap_ok(rc == SASL_CONTINUE, "%s: start returns SASL_CONTINUE", what))
		tap_diag("  rc %d: %s", rc, sasl_errdetail(conn));
	if (rc != SASL_CONTINUE)
		goto done;
	if (l->no_ir) {
		/* imtest -i: the server's empty challenge arrives as NULL, 0 */
		rc = sasl_client_step(conn, NULL, 0, NULL, &out, &outlen);
		tap_ok(rc == SASL_CONTINUE, "%s: first step returns SASL_CONTINUE", what);
	}
	if (want_ir == NULL) {
		tap_ok(out == NULL && outlen == 0, "%s: no initial response (got %s)", what,
		       show(out, outlen));
	} else {
		CHECK_BYTES(out, outlen, want_ir, "%s: response bytes", what);
	}
	if (want_second != NULL) {
		rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
		tap_ok(rc == SASL_CONTINUE, "%s: step after '+' returns SASL_CONTINUE", what);
		CHECK_BYTES(out, outlen, want_second, "%s: token after '+'", what);
	}
	rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
	if (!tap_ok(rc == SASL_OK, "%s: final step returns SASL_OK", what))
		tap_diag("  rc %d: %s", rc, sasl_errdetail(conn));
	tap_ok(outlen == 0, "%s: final step sends nothing", what);
done:
	sasl_dispose(&conn);
	free(c.secret);
}

/* A login that must fail at start; returns the result code and copies the
 * error detail. */
static int failed_login(const login *l, char *detail, size_t detailsize)
{
	sasl_callback_t cbs[5];
	creds c = l->c;
	sasl_conn_t *conn = conn_new(l, cbs, &c);
	const char *out = NULL, *mech = NULL;
	unsigned outlen = 0;
	int rc;

	if (conn == NULL)
		return SASL_FAIL;
	rc = sasl_client_start(conn, l->mech, NULL, &out, &outlen, &mech);
	snprintf(detail, detailsize, "%s", sasl_errdetail(conn));
	sasl_dispose(&conn);
	free(c.secret);
	return rc;
}

static bool contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

/* ------------------------------------------------------------------ */
/* Suites                                                               */

#define XO(user, tok) "user=" user "\001auth=Bearer " tok "\001\001"

static void test_wire(void)
{
	login l = { .mech = "XOAUTH2", .host = "imap.example.test", .ipremote = "127.0.0.1;143",
		    .c = { .authname = "alice@example.test" } };

	expect_login("XOAUTH2 by user", &l, XO("alice@example.test", "at-work-1"), NULL);

	l.c.authname = "work";
	expect_login("XOAUTH2 by name sends the token's user", &l,
		     XO("alice@example.test", "at-work-1"), NULL);

	l.c.authname = "comma";
	expect_login("XOAUTH2 leaves , and = alone", &l, XO("a,b=c@example.test", "at-comma"),
		     NULL);

	l.mech = "OAUTHBEARER";
	expect_login("OAUTHBEARER host+port, escaping", &l,
		     "n,a=a=2Cb=3Dc@example.test,\001host=imap.example.test\001port=143"
		     "\001auth=Bearer at-comma\001\001", NULL);

	l.c.authname = "alice@example.test";
	l.ipremote = NULL;
	expect_login("OAUTHBEARER without ipremoteport: no port", &l,
		     "n,a=alice@example.test,\001host=imap.example.test"
		     "\001auth=Bearer at-work-1\001\001", NULL);

	l.host = NULL;
	expect_login("OAUTHBEARER without host and port", &l,
		     "n,a=alice@example.test,\001auth=Bearer at-work-1\001\001", NULL);

	l.host = "imap.example.test";
	l.ipremote = "::1;993";
	expect_login("OAUTHBEARER with IPv6 ipremoteport", &l,
		     "n,a=alice@example.test,\001host=imap.example.test\001port=993"
		     "\001auth=Bearer at-work-1\001\001", NULL);

	l.c.authname = "bob@example.test";
	l.mech = "XOAUTH2";
	expect_login("token without user: the authentication name is sent", &l,
		     XO("bob@example.test", "at-bob"), NULL);

	/* Offered both, libsasl2 picks one of ours. */
	l.mech = "PLAIN XOAUTH2 OAUTHBEARER";
	{
		sasl_callback_t cbs[5];
		creds c = l.c;
		sasl_conn_t *conn = conn_new(&l, cbs, &c);
		const char *out, *mech = NULL;
		unsigned outlen;
		int rc = conn ? sasl_client_start(conn, l.mech, NULL, &out, &outlen, &mech)
			      : SASL_FAIL;

		tap_ok(rc == SASL_CONTINUE && mech &&
			       (!strcmp(mech, "XOAUTH2") || !strcmp(mech, "OAUTHBEARER")),
		       "a mechanism of ours is chosen from a list (%s)", mech ? mech : "none");
		sasl_dispose(&conn);
	}
}

static void test_no_ir(void)
{
	login l = { .mech = "XOAUTH2", .host = "imap.example.test",
		    .c = { .authname = "alice@example.test" }, .no_ir = true };

	expect_login("no initial response mode (XOAUTH2)", &l,
		     XO("alice@example.test", "at-work-1"), NULL);
	l.mech = "OAUTHBEARER";
	expect_login("no initial response mode (OAUTHBEARER)", &l,
		     "n,a=alice@example.test,\001host=imap.example.test"
		     "\001auth=Bearer at-work-1\001\001", NULL);
}

/* Tokens of `n` characters for the line-length rules. */
static char g_tok143[144], g_tok144[145], g_tok335[336], g_tok336[337], g_tok2k[2049];

static void fill_token(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

/* The XOAUTH2 response for `user` and `tok`, in a static buffer. */
static const char *xo_resp(char *buf, size_t size, const char *user, const char *tok)
{
	snprintf(buf, size, "user=%s\001auth=Bearer %s\001\001", user, tok);
	return buf;
}

/* RFC 5034 (POP3, 255 octets) and RFC 4954 (SMTP, 512 octets): the
 * initial response is withheld when "AUTH XOAUTH2 <b64>\r\n" would be
 * longer, for every server; IMAP keeps one line. With the user
 * edge@example.test the XOAUTH2 line is 255 octets for a 143-character token
 * and 259 for 144; 511 for 335 and 515 for 336. */
static void test_long_tokens(void)
{
	login l = { .mech = "XOAUTH2", .service = "pop", .host = "pop.example.test" };
	static char want[4096];

	l.c = (creds){ .authname = "edge@example.test", .password = "e143" };
	expect_login("POP3, AUTH line of 255 octets: initial response", &l,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok143), NULL);
	l.c.password = "e144";
	expect_login("POP3, AUTH line of 259 octets: no initial response", &l, NULL,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok144));
	l.service = "smtp";
	l.host = "smtp.example.test";
	l.c.password = "e335";
	expect_login("SMTP, AUTH line of 511 octets: initial response", &l,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok335), NULL);
	l.c.password = "e336";
	expect_login("SMTP, AUTH line of 515 octets: no initial response", &l, NULL,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok336));
	l.c.password = "e2k";
	expect_login("SMTP, 2 KB token: no initial response", &l, NULL,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok2k));
	l.service = "relay";
	expect_login("Postfix's relay service, 2 KB token: no initial response", &l, NULL,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok2k));
	l.service = "smtp";
	l.host = "SMTP-INLINE.example.test";
	expect_login("SMTP, 2 KB token to a host in smtp_inline_hosts: initial response", &l,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok2k), NULL);
	l.service = "pop";
	l.host = "pop.example.test";
	expect_login("POP3, 2 KB token, host not in pop3_split_hosts: no initial response", &l,
		     NULL, xo_resp(want, sizeof(want), "edge@example.test", g_tok2k));
	l.service = "imap";
	l.host = "imap.example.test";
	expect_login("IMAP, 2 KB token: one line (initial response)", &l,
		     xo_resp(want, sizeof(want), "edge@example.test", g_tok2k), NULL);
	l.mech = "OAUTHBEARER";
	l.service = "smtp";
	l.host = "smtp.example.test";
	snprintf(want, sizeof(want), "n,a=edge@example.test,\001host=smtp.example.test"
		 "\001auth=Bearer %s\001\001", g_tok2k);
	expect_login("SMTP OAUTHBEARER, 2 KB token: no initial response", &l, NULL, want);
}

static void test_pop3_split(void)
{
	login l = { .mech = "XOAUTH2", .service = "pop", .host = "outlook.office365.com",
		    .c = { .authname = "alice@example.test" } };

	expect_login("POP3 split for outlook.office365.com", &l, NULL,
		     XO("alice@example.test", "at-work-1"));
	l.host = "OUTLOOK.Office365.com";
	expect_login("POP3 split matches case-insensitively", &l, NULL,
		     XO("alice@example.test", "at-work-1"));
	l.host = "127.0.0.1";
	expect_login("POP3 split for 127.0.0.1 listed in the config", &l, NULL,
		     XO("alice@example.test", "at-work-1"));
	l.mech = "OAUTHBEARER";
	expect_login("POP3 split with OAUTHBEARER", &l, NULL,
		     "n,a=alice@example.test,\001host=127.0.0.1"
		     "\001auth=Bearer at-work-1\001\001");
	l.mech = "XOAUTH2";
	l.host = "pop.example.test";
	expect_login("POP3 host not in the list: initial response", &l,
		     XO("alice@example.test", "at-work-1"), NULL);
	l.service = "imap";
	l.host = "outlook.office365.com";
	expect_login("IMAP to a split host: initial response", &l,
		     XO("alice@example.test", "at-work-1"), NULL);
}

/* An error challenge: answer bytes, SASL_CONTINUE, final SASL_OK, and the
 * token is marked rejected in its state file. */
static void test_error_challenge(const char *mech, const char *authname, const char *token,
				 const char *want_answer)
{
	static const char challenge[] =
		"{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}";
	login l = { .mech = mech, .host = "imap.example.test", .c = { .authname = authname } };
	sasl_callback_t cbs[5];
	creds c = l.c;
	sasl_conn_t *conn = conn_new(&l, cbs, &c);
	const char *out = NULL, *m = NULL;
	unsigned outlen = 0;
	char detail[1024];
	int rc;

	if (!tap_ok(conn != NULL, "%s error: connection", mech))
		return;
	g_log[0] = '\0';
	tap_ok(state_bool(g_store, token, "access_rejected") == 0,
	       "%s error: token '%s' not rejected before", mech, token);
	rc = sasl_client_start(conn, mech, NULL, &out, &outlen, &m);
	tap_ok(rc == SASL_CONTINUE && outlen > 0, "%s error: initial response sent", mech);
	rc = sasl_client_step(conn, challenge, (unsigned)strlen(challenge), NULL, &out, &outlen);
	tap_ok(rc == SASL_CONTINUE, "%s error: error challenge returns SASL_CONTINUE", mech);
	CHECK_BYTES(out, outlen, want_answer, "%s error: answer bytes", mech);
	tap_ok(contains(g_log, "status '401'") && contains(g_log, "mail.google.com") &&
		       contains(g_log, token),
	       "%s error: status, scope and token name logged", mech);
	tap_ok(!contains(g_log, "at-rej"), "%s error: the access token is not logged", mech);
	rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
	tap_ok(rc == SASL_OK && outlen == 0, "%s error: final empty step SASL_OK", mech);
	sasl_dispose(&conn);
	tap_ok(state_bool(g_store, token, "access_rejected") == 1,
	       "%s error: token '%s' marked rejected in its state file", mech, token);

	/* The next login must not reuse the rejected token: it refreshes,
	 * which fails fast here (closed port), so the login fails. */
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_TRYAGAIN && contains(detail, token) && contains(detail, "127.0.0.1:9"),
	       "%s error: next login refreshes instead of reusing the rejected token, and the "
	       "unreachable provider is a temporary failure (rc %d, want SASL_TRYAGAIN)", mech, rc);
	tap_diag("  %s", detail);
}

static void test_not_json_challenge(void)
{
	login l = { .mech = "XOAUTH2", .host = "imap.example.test",
		    .c = { .authname = "rej3@example.test" } };
	sasl_callback_t cbs[5];
	creds c = l.c;
	sasl_conn_t *conn = conn_new(&l, cbs, &c);
	const char *out = NULL, *m = NULL;
	unsigned outlen = 0;
	int rc;

	rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &m);
	tap_ok(rc == SASL_CONTINUE && outlen > 0, "non-JSON challenge: initial response sent");
	rc = sasl_client_step(conn, "garbage", 7, NULL, &out, &outlen);
	tap_ok(rc == SASL_CONTINUE && out != NULL && outlen == 0,
	       "non-JSON error challenge answered with an empty response");
	rc = sasl_client_step(conn, "x", 1, NULL, &out, &outlen);
	tap_ok(rc == SASL_BADPROT, "a second challenge after the error is a protocol error");
	sasl_dispose(&conn);
}

static void test_interactions(void)
{
	/* mbsync: every value through interactions */
	static const sasl_callback_t icbs[] = {
		{ SASL_CB_USER, NULL, NULL },
		{ SASL_CB_AUTHNAME, NULL, NULL },
		{ SASL_CB_PASS, NULL, NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	static const sasl_callback_t icbs2[] = {
		{ SASL_CB_AUTHNAME, NULL, NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	sasl_conn_t *conn = NULL;
	sasl_interact_t *prompts = NULL, *p;
	const char *out = NULL, *mech = NULL;
	unsigned outlen = 0;
	bool seen_user = false, seen_auth = false, seen_pass = false;
	int rc;

	rc = sasl_client_new("imap", "imap.example.test", NULL, NULL, icbs, 0, &conn);
	tap_ok(rc == SASL_OK, "interactions: connection");
	rc = sasl_client_start(conn, "XOAUTH2", &prompts, &out, &outlen, &mech);
	tap_ok(rc == SASL_INTERACT && prompts != NULL, "interactions: SASL_INTERACT with prompts");
	for (p = prompts; p && p->id != SASL_CB_LIST_END; p++) {
		if (p->id == SASL_CB_USER) {
			seen_user = true;
			p->result = "alice@example.test";
		} else if (p->id == SASL_CB_AUTHNAME) {
			seen_auth = true;
			p->result = "alice@example.test";
		} else if (p->id == SASL_CB_PASS) {
			seen_pass = true;
			p->result = "";
		}
		if (p->result)
			p->len = (unsigned)strlen(p->result);
		tap_ok(p->prompt != NULL && p->prompt[0] != '\0', "interactions: prompt %lu has text",
		       p->id);
	}
	tap_ok(seen_user && seen_auth && seen_pass,
	       "interactions: prompts for authzid, authname and password");
	rc = sasl_client_start(conn, "XOAUTH2", &prompts, &out, &outlen, &mech);
	tap_ok(rc == SASL_CONTINUE, "interactions: answered, start continues (rc %d)", rc);
	tap_ok(prompts == NULL, "interactions: prompt list taken back");
	CHECK_BYTES(out, outlen, XO("alice@example.test", "at-work-1"),
		    "interactions: response bytes");
	rc = sasl_client_step(conn, "", 0, &prompts, &out, &outlen);
	tap_ok(rc == SASL_OK, "interactions: final SASL_OK");
	sasl_dispose(&conn);

	/* Password named through the interaction selects that token. */
	rc = sasl_client_new("imap", "imap.example.test", NULL, NULL, icbs, 0, &conn);
	prompts = NULL;
	rc = sasl_client_start(conn, "OAUTHBEARER", &prompts, &out, &outlen, &mech);
	for (p = prompts; rc == SASL_INTERACT && p->id != SASL_CB_LIST_END; p++) {
		p->result = p->id == SASL_CB_PASS ? "pick" : "pick@example.test";
		p->len = (unsigned)strlen(p->result);
	}
	rc = sasl_client_start(conn, "OAUTHBEARER", &prompts, &out, &outlen, &mech);
	CHECK_BYTES(out, outlen,
		    "n,a=pick@example.test,\001host=imap.example.test\001auth=Bearer at-pick\001\001",
		    "interactions: password names the token");
	sasl_dispose(&conn);

	/* Only an AUTHNAME interaction (no password at all). */
	rc = sasl_client_new("imap", NULL, NULL, NULL, icbs2, 0, &conn);
	prompts = NULL;
	rc = sasl_client_start(conn, "XOAUTH2", &prompts, &out, &outlen, &mech);
	tap_ok(rc == SASL_INTERACT && prompts && prompts[0].id == SASL_CB_AUTHNAME &&
		       prompts[1].id == SASL_CB_LIST_END,
	       "interactions: only the authentication name is asked for");
	if (rc == SASL_INTERACT) {
		prompts[0].result = "work";
		prompts[0].len = 4;
	}
	rc = sasl_client_start(conn, "XOAUTH2", &prompts, &out, &outlen, &mech);
	CHECK_BYTES(out, outlen, XO("alice@example.test", "at-work-1"),
		    "interactions: authname only");
	sasl_dispose(&conn);

	/* Interactions needed but the application passes no prompt list
	 * (Postfix passes NULL): a clean failure, not a crash. */
	rc = sasl_client_new("imap", NULL, NULL, NULL, icbs2, 0, &conn);
	rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech);
	tap_ok(rc != SASL_OK && rc != SASL_CONTINUE && rc != SASL_INTERACT,
	       "interactions without a prompt list fail cleanly (rc %d)", rc);
	sasl_dispose(&conn);
}

static void test_selection(void)
{
	login l = { .mech = "XOAUTH2", .host = "imap.example.test" };
	char detail[1024];
	int rc;

	l.c = (creds){ .authname = "pick", .password = "pick" };
	expect_login("select by password naming a token", &l, XO("pick@example.test", "at-pick"),
		     NULL);
	/* A mailbox that is not the token's is refused, not replaced. */
	g_log[0] = '\0';
	l.c = (creds){ .authname = "someone@example.test", .password = "pick" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOAUTHZ, "password names a token of another mailbox: refused (rc %d)", rc);
	tap_ok(contains(detail, "'pick' may not log in as 'someone@example.test'") &&
	       contains(g_log, "may not log in as 'someone@example.test'"),
	       "the refusal names token and mailbox, in the error and the log: %s", detail);
	l.c = (creds){ .authname = "alice@example.test", .password = "" };
	expect_login("empty password: select by authname", &l,
		     XO("alice@example.test", "at-work-1"), NULL);
	l.c = (creds){ .authname = "alice@example.test", .password = "not-a-token" };
	expect_login("password naming no token: select by authname", &l,
		     XO("alice@example.test", "at-work-1"), NULL);

	l.c = (creds){ .authname = "shared@example.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc != SASL_OK && rc != SASL_CONTINUE, "ambiguous authname fails (rc %d)", rc);
	/* The authname itself contains "shared": the candidates are the token
	 * names shared1 and shared2. */
	tap_ok(contains(detail, "shared1") && contains(detail, "shared2"),
	       "ambiguous: message names the candidates: %s", detail);

	l.c = (creds){ .authname = "nobody@example.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc != SASL_OK && rc != SASL_CONTINUE, "no matching token fails (rc %d)", rc);
	tap_ok(detail[0] != '\0' && contains(detail, "nobody@example.test"),
	       "no match: message names the authentication name: %s", detail);

	g_log[0] = '\0';
	l.c = (creds){ .authname = "dis@example.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_BADAUTH, "invalid token refused with SASL_BADAUTH (rc %d)", rc);
	tap_ok(contains(detail, "disabled") && contains(detail, "validity"),
	       "invalid token: message names token and cause: %s", detail);
	tap_ok(contains(g_log, "sasl-oauth2 edit disabled --set validity=valid"),
	       "invalid token: a log line gives the fix");
	l.c = (creds){ .authname = "temp@example.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_BADAUTH && contains(detail, "invalid-temporarily"),
	       "invalid-temporarily token refused: %s", detail);
}

/* users: one token for many mailboxes; the SPEC's selection order. */
static void test_users(void)
{
	login l = { .mech = "XOAUTH2", .host = "imap.example.test" };
	char detail[1024];
	int rc;

	l.c = (creds){ .authname = "bob@corp.test" };
	expect_login("users *@domain selects the app-only token", &l,
		     XO("bob@corp.test", "at-app"), NULL);
	l.c = (creds){ .authname = "BOB@Corp.TEST" };
	expect_login("users match case-insensitively, the mailbox is sent as given", &l,
		     XO("BOB@Corp.TEST", "at-app"), NULL);
	l.c = (creds){ .authname = "info@corp.test" };
	expect_login("an exact address in users beats a *@domain pattern", &l,
		     XO("info@corp.test", "at-shared"), NULL);
	l.c = (creds){ .authname = "ceo@corp.test" };
	expect_login("a token's user beats every users match", &l,
		     XO("ceo@corp.test", "at-ceo"), NULL);
	l.c = (creds){ .authname = "bob@corp.test", .password = "app" };
	expect_login("password names a users token: the mailbox is the authentication name", &l,
		     XO("bob@corp.test", "at-app"), NULL);

	g_log[0] = '\0';
	l.c = (creds){ .authname = "x@multi.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc != SASL_OK && rc != SASL_CONTINUE, "two *@domain matches: refused (rc %d)", rc);
	tap_ok(contains(detail, "multi1, multi2") && contains(g_log, "multi1, multi2"),
	       "ambiguous users: the error and the log name the candidates: %s", detail);
	l.c = (creds){ .authname = "twin@ex.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc != SASL_OK && contains(detail, "twin1, twin2"),
	       "two exact users matches: refused naming both: %s", detail);
	l.c = (creds){ .authname = "@corp.test" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOUSER, "'@corp.test' (no local part) matches no *@corp.test (rc %d)", rc);
	g_log[0] = '\0';
	l.c = (creds){ .authname = "bob@other.test", .password = "app" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOAUTHZ && contains(detail, "'app' may not log in as 'bob@other.test'") &&
	       contains(g_log, "bob@other.test"),
	       "password names a users token, mailbox outside users: refused: %s", detail);
	l.c = (creds){ .authname = "app", .password = "" };
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc != SASL_OK && rc != SASL_CONTINUE && contains(detail, "give the mailbox"),
	       "a users token without user asked by its name: refused, asks for the mailbox: %s",
	       detail);
}

/* hosts: a token is only sent to its provider's servers. */
static void test_hosts(void)
{
	login l = { .mech = "XOAUTH2", .c = { .authname = "gm@example.test" } };
	char detail[1024];
	int rc;

	l.host = "imap.gmail.test";
	expect_login("hosts: an exact host name", &l, XO("gm@example.test", "at-gm"), NULL);
	l.host = "IMAP.Gmail.Test";
	expect_login("hosts: matched case-insensitively", &l, XO("gm@example.test", "at-gm"), NULL);
	l.host = "smtp.relay.google.test";
	expect_login("hosts: a *. wildcard", &l, XO("gm@example.test", "at-gm"), NULL);
	g_log[0] = '\0';
	l.host = "imap.evil.test";
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOAUTHZ, "hosts: another host is refused (rc %d)", rc);
	tap_ok(contains(g_log, "token 'gm' was not sent to host 'imap.evil.test'"),
	       "hosts: the log line names the token and the host: %s", g_log);
	l.host = "google.test";
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOAUTHZ, "hosts: *.google.test does not match google.test itself (rc %d)",
	       rc);
	l.host = NULL;
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOAUTHZ && contains(detail, "did not say which server"),
	       "hosts: no server name at all is refused: %s", detail);

	/* The google template lists Google's servers. */
	l.c = (creds){ .authname = "tpl@example.test" };
	l.host = "imap.gmail.com";
	expect_login("google template: imap.gmail.com allowed", &l,
		     XO("tpl@example.test", "at-tpl"), NULL);
	l.host = "127.0.0.1";
	g_log[0] = '\0';
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc == SASL_NOAUTHZ && contains(g_log, "token 'gtpl' was not sent to host '127.0.0.1'"),
	       "google template: 127.0.0.1 refused: %s", detail);
	/* A token's own list replaces the template's. */
	l.c = (creds){ .authname = "own@example.test" };
	expect_login("google template, token hosts [127.0.0.1]: allowed", &l,
		     XO("own@example.test", "at-own"), NULL);
}

/*
 * Proxy authorization is not offered (security review finding 13): an
 * authzid other than the mailbox is refused, not dropped; libsasl2 reports
 * the mailbox that went on the wire as both identities; a client that
 * needs proxying (SASL_NEED_PROXY) is not offered these mechanisms.
 */
static void test_authzid(void)
{
	login l = { .mech = "XOAUTH2", .host = "imap.example.test",
		    .c = { .authname = "alice@example.test", .user = "admin@example.test" } };
	sasl_callback_t cbs[5];
	creds c = l.c;
	sasl_conn_t *conn;
	const char *out, *mech, *u = NULL, *a = NULL;
	char detail[512];
	unsigned outlen;
	int rc;

	for (int i = 0; i < 2; i++) {
		l.mech = i ? "OAUTHBEARER" : "XOAUTH2";
		rc = failed_login(&l, detail, sizeof(detail));
		tap_ok(rc == SASL_BADPARAM && contains(detail, "admin@example.test") &&
		       contains(detail, "proxy authorization is not supported"),
		       "%s: an authzid other than the mailbox is refused (rc %d): %s", l.mech, rc,
		       detail);
	}

	/* Postfix passes its user name as authzid too: the token name. */
	l.mech = "XOAUTH2";
	l.c = (creds){ .authname = "work", .user = "work" };
	c = l.c;
	conn = conn_new(&l, cbs, &c);
	rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech);
	tap_ok(rc == SASL_CONTINUE && outlen > 5 && !strncmp(out, "user=alice@example.test\001", 24),
	       "authzid equal to the authname: the token's mailbox goes on the wire");
	rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
	tap_ok(rc == SASL_OK, "authzid equal to the authname: login succeeds");
	sasl_getprop(conn, SASL_USERNAME, (const void **)&u);
	sasl_getprop(conn, SASL_AUTHUSER, (const void **)&a);
	TAP_STREQ(u, "alice@example.test", "canon_user reports the mailbox sent as authorization id");
	TAP_STREQ(a, "alice@example.test", "canon_user reports the mailbox sent as authentication id");
	sasl_dispose(&conn);
	free(c.secret);

	l.c = (creds){ .authname = "alice@example.test" };
	c = l.c;
	conn = conn_new(&l, cbs, &c);
	rc = sasl_client_start(conn, "OAUTHBEARER", NULL, &out, &outlen, &mech);
	rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
	u = a = NULL;
	sasl_getprop(conn, SASL_USERNAME, (const void **)&u);
	sasl_getprop(conn, SASL_AUTHUSER, (const void **)&a);
	tap_ok(rc == SASL_OK && u && a && !strcmp(u, a) && !strcmp(u, "alice@example.test"),
	       "no authzid: both identities are the mailbox");
	sasl_dispose(&conn);
	free(c.secret);

	c = l.c;
	make_cbs(cbs, &c);
	conn = NULL;
	rc = sasl_client_new("imap", "imap.example.test", NULL, NULL, cbs, SASL_NEED_PROXY, &conn);
	if (rc == SASL_OK)
		rc = sasl_client_start(conn, "XOAUTH2 OAUTHBEARER", NULL, &out, &outlen, &mech);
	tap_ok(rc == SASL_NOMECH, "SASL_NEED_PROXY: neither mechanism is offered (rc %d)", rc);
	sasl_dispose(&conn);
	free(c.secret);
}

static void test_mechlist_and_flags(void)
{
	sasl_callback_t cbs[5];
	creds c = { .authname = "alice@example.test" };
	sasl_conn_t *conn = NULL;
	sasl_security_properties_t props;
	const char *list = NULL, *out, *mech;
	unsigned outlen;
	int rc;

	make_cbs(cbs, &c);
	rc = sasl_client_new("imap", "imap.example.test", NULL, NULL, cbs, 0, &conn);
	rc = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, NULL);
	tap_ok(rc == SASL_OK && contains(list, "XOAUTH2") && contains(list, "OAUTHBEARER"),
	       "only an AUTHNAME callback: both mechanisms listed (%s)", list ? list : "");

	memset(&props, 0, sizeof(props));
	props.max_ssf = 256;
	props.maxbufsize = 65536;
	props.security_flags = SASL_SEC_NOPLAINTEXT;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
	rc = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, NULL);
	tap_ok(!contains(list, "XOAUTH2") && !contains(list, "OAUTHBEARER"),
	       "noplaintext policy: mechanisms not listed (%s)", list ? list : "");
	rc = sasl_client_start(conn, "XOAUTH2 OAUTHBEARER", NULL, &out, &outlen, &mech);
	tap_ok(rc == SASL_NOMECH, "noplaintext policy: mechanisms not chosen (rc %d)", rc);

	props.security_flags = SASL_SEC_NOANONYMOUS;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
	rc = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, NULL);
	tap_ok(contains(list, "XOAUTH2") && contains(list, "OAUTHBEARER"),
	       "noanonymous policy: mechanisms offered (%s)", list ? list : "");
	props.security_flags = SASL_SEC_NOACTIVE;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
	rc = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, NULL);
	tap_ok(!contains(list, "XOAUTH2"), "noactive policy: not offered (replayable)");
	props.security_flags = 0;
	props.min_ssf = 1;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
	rc = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, NULL);
	tap_ok(!contains(list, "XOAUTH2"), "min_ssf 1: not offered (max_ssf 0)");
	sasl_dispose(&conn);
}

/* The entry point refuses an older plugin API without touching anything. */
static void test_badvers(void)
{
	char path[4200];
	void *h;
	sasl_client_plug_init_t *init;
	sasl_utils_t utils;
	sasl_client_plug_t *list = NULL;
	int version = -1, count = -1, rc;

	snprintf(path, sizeof(path), "%s/libsasloauth2.so", g_plugdir);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!tap_ok(h != NULL, "dlopen the module: %s", h ? "ok" : dlerror()))
		return;
	init = (sasl_client_plug_init_t *)(void (*)(void))dlsym(h, "sasl_client_plug_init");
	tap_ok(init != NULL, "sasl_client_plug_init is exported");
	tap_ok(dlsym(h, "ts_ctx_open") == NULL && dlsym(h, "mech_conn_step") == NULL,
	       "internal symbols are not exported");
	if (init != NULL) {
		memset(&utils, 0, sizeof(utils));
		rc = init(&utils, SASL_CLIENT_PLUG_VERSION - 1, &version, &list, &count);
		tap_ok(rc == SASL_BADVERS && list == NULL && count == -1,
		       "max_version %d < %d: SASL_BADVERS (rc %d)", SASL_CLIENT_PLUG_VERSION - 1,
		       SASL_CLIENT_PLUG_VERSION, rc);
	}
	dlclose(h);
}

/*
 * Postfix's smtp client chroots after libsasl2 loaded the plugins: the
 * store, the templates and the configuration must keep working from the
 * descriptors opened at load time. A child process loads the plugin,
 * chroots into an empty directory and logs in (and marks a token rejected,
 * which writes the state file). A token whose client secret is in a file
 * outside the jail needs a refresh there: the secret read when the plugin
 * was loaded must be used, so the attempt gets as far as the (closed)
 * token endpoint instead of failing on the file. Needs root.
 */
static void test_chroot(void)
{
	char jail[4200];
	pid_t pid;
	int status = -1;

	if (geteuid() != 0) {
		printf("ok %d # SKIP chroot test needs root\n", ++tap_n);
		return;
	}
	snprintf(jail, sizeof(jail), "%s/jail", g_tmp);
	if (!tap_ok(mkdir(jail, 0755) == 0, "chroot: empty jail directory"))
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		static const char challenge[] = "{\"status\":\"invalid_token\"}";
		sasl_callback_t cbs[5];
		creds c = { .authname = "jailed@example.test" };
		sasl_conn_t *conn = NULL;
		const char *out = NULL, *mech;
		unsigned outlen = 0;
		int code = 0;

		if (sasl_client_init(global_cbs) != SASL_OK)
			_exit(64);
		if (chroot(jail) != 0 || chdir("/") != 0)
			_exit(65);
		make_cbs(cbs, &c);
		if (sasl_client_new("smtp", "smtp.example.test", NULL, NULL, cbs, 0, &conn) != SASL_OK)
			_exit(66);
		if (sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech) != SASL_CONTINUE)
			code |= 1;
		else if (!bytes_eq(out, outlen, XO("jailed@example.test", "at-jail"),
				   strlen(XO("jailed@example.test", "at-jail"))))
			code |= 2;
		if (sasl_client_step(conn, challenge, (unsigned)strlen(challenge), NULL, &out,
				     &outlen) != SASL_CONTINUE)
			code |= 4;
		if (sasl_client_step(conn, "", 0, NULL, &out, &outlen) != SASL_OK)
			code |= 8;
		sasl_dispose(&conn);

		/* The refresh needs the client secret from outside the jail. */
		c.authname = "jsec@example.test";
		make_cbs(cbs, &c);
		if (sasl_client_new("smtp", "smtp.example.test", NULL, NULL, cbs, 0, &conn) != SASL_OK)
			_exit(67);
		if (sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech) == SASL_CONTINUE)
			code |= 16;
		else if (contains(sasl_errdetail(conn), "client_secret_file") ||
			 !contains(sasl_errdetail(conn), "127.0.0.1:9"))
			code |= 32;
		if (code & 48) {
			printf("# jailed refresh: %s\n", sasl_errdetail(conn));
			fflush(stdout);
		}
		sasl_dispose(&conn);
		_exit(code);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	/* 64 and up: the child could not set up; else bits of failed checks. */
	tap_ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) < 64 &&
	       (WEXITSTATUS(status) & 15) == 0,
	       "chroot: login after chroot sends the stored token (status %d)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	tap_ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) < 64 &&
	       (WEXITSTATUS(status) & 48) == 0,
	       "chroot: a refresh inside the jail has the client secret read from its file at load "
	       "(status %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	tap_ok(state_bool(g_store, "jail", "access_rejected") == 1,
	       "chroot: the rejection was written to the state file from inside the jail");
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */

/*
 * One complete login without TAP output (threads must not print test
 * lines): start, then the final empty step. The initial response goes to
 * `resp` (escaped); false with the error detail there on failure.
 */
static bool quiet_login(const char *mech, const char *authname, char *resp, size_t respsize)
{
	sasl_callback_t cbs[5];
	creds c = { .authname = authname };
	sasl_conn_t *conn = NULL;
	const char *out = NULL, *chosen = NULL;
	unsigned outlen = 0;
	bool ok = false;
	int rc;

	make_cbs(cbs, &c);
	resp[0] = '\0';
	if (sasl_client_new("imap", "imap.example.test", NULL, "127.0.0.1;143", cbs, 0, &conn) !=
	    SASL_OK) {
		snprintf(resp, respsize, "sasl_client_new failed");
		return false;
	}
	rc = sasl_client_start(conn, mech, NULL, &out, &outlen, &chosen);
	if (rc == SASL_CONTINUE) {
		snprintf(resp, respsize, "%s", show(out, outlen));
		rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
		ok = rc == SASL_OK && outlen == 0;
	}
	if (!ok)
		snprintf(resp, respsize, "rc %d: %s", rc, sasl_errdetail(conn));
	sasl_dispose(&conn);
	free(c.secret);
	return ok;
}

#define THREADS 8
#define THREAD_ROUNDS 25

typedef struct worker {
	pthread_barrier_t *start;
	int id;
	int rounds;
	const char *authname;   /* NULL: the thread's own token t<id> */
	int ok;                 /* logins that succeeded with the right bytes */
	char resp[512];         /* the first initial response, or the first failure */
	char bad[512];
} worker;

static void *worker_run(void *arg)
{
	worker *w = arg;
	char user[64], name[16], want[160], resp[512];

	snprintf(name, sizeof(name), "t%d", w->id);
	snprintf(user, sizeof(user), "t%d@example.test", w->id);
	pthread_barrier_wait(w->start);
	for (int i = 0; i < w->rounds; i++) {
		bool xo = ((i + w->id) & 1) == 0;
		const char *who = w->authname ? w->authname : (i % 3 == 0) ? name : user;

		if (!quiet_login(xo ? "XOAUTH2" : "OAUTHBEARER", who, resp, sizeof(resp))) {
			if (w->bad[0] == '\0')
				snprintf(w->bad, sizeof(w->bad), "%s", resp);
			continue;
		}
		if (i == 0)
			snprintf(w->resp, sizeof(w->resp), "%s", resp);
		if (w->authname != NULL) {
			w->ok++;
			continue;
		}
		if (xo)
			snprintf(want, sizeof(want), "user=%s^Aauth=Bearer at-t%d^A^A", user, w->id);
		else
			snprintf(want, sizeof(want),
				 "n,a=%s,^Ahost=imap.example.test^Aport=143^Aauth=Bearer at-t%d^A^A",
				 user, w->id);
		if (strcmp(resp, want) == 0)
			w->ok++;
		else if (w->bad[0] == '\0')
			snprintf(w->bad, sizeof(w->bad), "got '%s', want '%s'", resp, want);
	}
	return NULL;
}

/* Start n workers at once (a barrier) and wait for them; returns how many
 * threads could be created. */
static int run_workers(worker *w, int n, int rounds, const char *authname)
{
	pthread_t th[THREADS];
	pthread_barrier_t start;
	int started = 0;

	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].start = &start;
		w[i].id = i;
		w[i].rounds = rounds;
		w[i].authname = authname;
	}
	for (int i = 0; i < n; i++) {
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0)
			break;
		started++;
	}
	if (started < n) {
		/* the barrier would never open: nothing can be tested */
		tap_diag("pthread_create failed after %d threads", started);
		exit(1);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	return started;
}

/* Open descriptors of this process (-1: /proc not available). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/*
 * Connections in 8 threads at once. The plugin is loaded while the store
 * does not exist yet, so the first logins of all threads race into the
 * lazy open of the shared context (one must open it, the others use it; a
 * second context would be leaked: its descriptors stay open after
 * sasl_client_done, and ASan reports its memory at exit). Then every
 * thread keeps logging in with its own token, by name and by user, with
 * both mechanisms, and every response must carry that thread's token.
 */
static void test_threads(void)
{
	char dir[4200];
	worker w[THREADS];
	int total = 0, rc, fds_before, fds_after;

	snprintf(dir, sizeof(dir), "%s/thread-store", g_tmp);
	g_store = dir;
	g_config = g_configbuf;
	fds_before = count_fds();
	rc = sasl_client_init(global_cbs);
	tap_ok(rc == SASL_OK, "threads: plugin loads before the store exists (rc %d)", rc);
	if (mkdir(dir, 0700) != 0) {
		tap_ok(0, "threads: create %s", dir);
		sasl_client_done();
		g_store = g_storebuf;
		return;
	}
	for (int i = 0; i < THREADS; i++) {
		char name[16], user[64], access[32];

		snprintf(name, sizeof(name), "t%d", i);
		snprintf(user, sizeof(user), "t%d@example.test", i);
		snprintf(access, sizeof(access), "at-t%d", i);
		if (add_token(dir, name, user, "valid", access) != 0)
			tap_diag("could not write token %s", name);
	}
	run_workers(w, THREADS, THREAD_ROUNDS, NULL);
	for (int i = 0; i < THREADS; i++) {
		total += w[i].ok;
		if (w[i].bad[0] != '\0')
			tap_diag("  thread %d: %s", i, w[i].bad);
	}
	tap_ok(total == THREADS * THREAD_ROUNDS,
	       "threads: %d logins in %d threads at once all succeed with their own token "
	       "(%d ok)", THREADS * THREAD_ROUNDS, THREADS, total);
	sasl_client_done();
	fds_after = count_fds();
	tap_ok(fds_before == fds_after,
	       "threads: the store was opened once (descriptors before %d, after unloading %d)",
	       fds_before, fds_after);
	g_store = g_storebuf;
}

/* ------------------------------------------------------------------ */
/* Setup                                                                */

static int setup_store(void)
{
	const char *tmpdir = getenv("TMPDIR");
	char cfg[512], secret[4200];

	snprintf(g_tmp, sizeof(g_tmp), "%s/so2plugin.XXXXXX", tmpdir ? tmpdir : "/tmp");
	if (mkdtemp(g_tmp) == NULL)
		return -1;
	snprintf(g_storebuf, sizeof(g_storebuf), "%s/store", g_tmp);
	if (mkdir(g_storebuf, 0700) != 0)
		return -1;
	snprintf(g_configbuf, sizeof(g_configbuf), "%s/sasl-oauth2.conf", g_tmp);
	snprintf(cfg, sizeof(cfg),
		 "pop3_split_hosts:\n  - outlook.office365.com\n  - 127.0.0.1\n"
		 "smtp_inline_hosts: [smtp-inline.example.test]\n"
		 "http_timeout: 5\n");
	if (write_file(g_tmp, "sasl-oauth2.conf", cfg) != 0)
		return -1;
	g_store = g_storebuf;
	g_config = g_configbuf;
	if (add_token(g_store, "work", "alice@example.test", "valid", "at-work-1") ||
	    add_token(g_store, "comma", "a,b=c@example.test", "valid", "at-comma") ||
	    add_token(g_store, "bob@example.test", NULL, "valid", "at-bob") ||
	    add_token(g_store, "shared1", "shared@example.test", "valid", "at-s1") ||
	    add_token(g_store, "shared2", "shared@example.test", "valid", "at-s2") ||
	    add_token(g_store, "disabled", "dis@example.test", "invalid", "at-dis") ||
	    add_token(g_store, "temp", "temp@example.test", "invalid-temporarily", "at-tmp") ||
	    add_token(g_store, "pick", "pick@example.test", "valid", "at-pick") ||
	    add_token(g_store, "rej1", "rej1@example.test", "valid", "at-rej1") ||
	    add_token(g_store, "rej2", "rej2@example.test", "valid", "at-rej2") ||
	    add_token(g_store, "rej3", "rej3@example.test", "valid", "at-rej3") ||
	    add_token(g_store, "jail", "jailed@example.test", "valid", "at-jail") ||
	    add_token_ext(g_store, "app", "generic", NULL, "users: ['*@corp.test']\n", "at-app") ||
	    add_token_ext(g_store, "shared", "generic", NULL,
			  "users: [info@corp.test, sales@corp.test]\n", "at-shared") ||
	    add_token_ext(g_store, "ceo", "generic", "ceo@corp.test", "", "at-ceo") ||
	    add_token_ext(g_store, "multi1", "generic", NULL, "users: ['*@multi.test']\n", "at-m1") ||
	    add_token_ext(g_store, "multi2", "generic", NULL, "users: ['*@MULTI.test']\n", "at-m2") ||
	    add_token_ext(g_store, "twin1", "generic", NULL, "users: [twin@ex.test]\n", "at-t1") ||
	    add_token_ext(g_store, "twin2", "generic", NULL, "users: [twin@ex.test]\n", "at-t2") ||
	    add_token_ext(g_store, "gm", "generic", "gm@example.test",
			  "hosts: [imap.gmail.test, '*.google.test']\n", "at-gm") ||
	    add_token_ext(g_store, "gtpl", "google", "tpl@example.test", "", "at-tpl") ||
	    add_token_ext(g_store, "gown", "google", "own@example.test", "hosts: [127.0.0.1]\n",
			  "at-own"))
		return -1;
	fill_token(g_tok143, 143, 'a');
	fill_token(g_tok144, 144, 'b');
	fill_token(g_tok335, 335, 'c');
	fill_token(g_tok336, 336, 'd');
	fill_token(g_tok2k, 2048, 'e');
	if (add_token_ext(g_store, "e143", "generic", "edge@example.test", "", g_tok143) ||
	    add_token_ext(g_store, "e144", "generic", "edge@example.test", "", g_tok144) ||
	    add_token_ext(g_store, "e335", "generic", "edge@example.test", "", g_tok335) ||
	    add_token_ext(g_store, "e336", "generic", "edge@example.test", "", g_tok336) ||
	    add_token_ext(g_store, "e2k", "generic", "edge@example.test", "", g_tok2k))
		return -1;
	snprintf(secret, sizeof(secret), "%s/client.secret", g_tmp);
	if (write_file(g_tmp, "client.secret", "test-secret-in-a-file\n") != 0 ||
	    add_token_secret_file(g_store, "jsec", "jsec@example.test", secret) != 0)
		return -1;
	return 0;
}

static void rm_rf(const char *dir)
{
	char cmd[4200];

	if (getenv("KEEP_TMP") || dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
}

static void set_plugdir(void)
{
	const char *b = getenv("top_builddir");

	/* tests/installcheck.sh loads the installed module instead. */
	if (getenv("TEST_PLUGIN_DIR") != NULL)
		snprintf(g_plugdir, sizeof(g_plugdir), "%s", getenv("TEST_PLUGIN_DIR"));
	else
		snprintf(g_plugdir, sizeof(g_plugdir), "%s/plugin/.libs", b ? b : ".");
	unsetenv("SASL_OAUTH2_STORE");
	unsetenv("SASL_OAUTH2_CONFIG");
}

/* Init failure (no store yet) must not stop loading; the store appearing
 * later is picked up at the next connection. */
static void test_late_store(void)
{
	char late[4200], detail[1024];
	login l = { .mech = "XOAUTH2", .host = "imap.example.test",
		    .c = { .authname = "alice@example.test" } };
	int rc;

	snprintf(late, sizeof(late), "%s/late-store", g_tmp);
	g_store = late;
	g_config = NULL;
	g_log[0] = '\0';
	rc = sasl_client_init(global_cbs);
	tap_ok(rc == SASL_OK, "missing store: plugin still loads (rc %d)", rc);
	rc = failed_login(&l, detail, sizeof(detail));
	tap_ok(rc != SASL_OK && rc != SASL_CONTINUE && contains(detail, "token store"),
	       "missing store: login fails with the store's message: %s", detail);
	if (mkdir(late, 0700) == 0 &&
	    add_token(late, "work", "alice@example.test", "valid", "at-late") == 0) {
		expect_login("store created later is found at the next login", &l,
			     XO("alice@example.test", "at-late"), NULL);
		/* defaults: Microsoft's hosts split, 127.0.0.1 does not */
		l.service = "pop";
		l.host = "outlook.office365.com";
		expect_login("default config: outlook.office365.com split", &l, NULL,
			     XO("alice@example.test", "at-late"));
		l.host = "127.0.0.1";
		expect_login("default config: 127.0.0.1 not split", &l,
			     XO("alice@example.test", "at-late"), NULL);
	} else {
		tap_ok(0, "could not create %s", late);
	}
	sasl_client_done();
	g_store = g_storebuf;
	g_config = g_configbuf;
}

static int run_suite(void)
{
	int rc;

	if (setup_store() != 0) {
		tap_ok(0, "set up a temporary store: %s", strerror(errno));
		return tap_done();
	}
	rc = sasl_client_init(global_cbs);
	if (!tap_ok(rc == SASL_OK, "sasl_client_init loads the plugin from %s", g_plugdir)) {
		tap_diag("  %s", sasl_errstring(rc, NULL, NULL));
		rm_rf(g_tmp);
		return tap_done();
	}
	test_badvers();
	test_mechlist_and_flags();
	test_wire();
	test_no_ir();
	test_pop3_split();
	test_long_tokens();
	test_selection();
	test_users();
	test_hosts();
	test_interactions();
	test_authzid();
	test_error_challenge("XOAUTH2", "rej1@example.test", "rej1", "");
	test_error_challenge("OAUTHBEARER", "rej2", "rej2", "\001");
	test_not_json_challenge();
	sasl_client_done();
	test_chroot();
	test_late_store();
	test_threads();
	tap_ok(g_secret_logged == 0, "no token or secret reached the log callback");
	rm_rf(g_tmp);
	return tap_done();
}

/* The result of sasl_client_start for one login as `authname`. */
static int start_rc(const char *mech, const char *authname)
{
	sasl_callback_t cbs[5];
	creds c = { .authname = authname };
	sasl_conn_t *conn = NULL;
	const char *out = NULL, *chosen = NULL;
	unsigned outlen = 0;
	int rc;

	make_cbs(cbs, &c);
	rc = sasl_client_new("imap", "imap.example.test", NULL, "127.0.0.1;143", cbs, 0, &conn);
	if (rc == SASL_OK)
		rc = sasl_client_start(conn, mech, NULL, &out, &outlen, &chosen);
	sasl_dispose(&conn);
	free(c.secret);
	return rc;
}

/* N complete logins, alternating mechanisms and the ways of getting
 * credentials, plus failures: for leak checking under valgrind / ASan. */
static int run_loop(long n)
{
	static const sasl_callback_t icbs[] = {
		{ SASL_CB_AUTHNAME, NULL, NULL },
		{ SASL_CB_PASS, NULL, NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	long ok = 0, want = 0, refreshes = 0, tryagain = 0, i;
	int rc;

	if (setup_store() != 0 || sasl_client_init(global_cbs) != SASL_OK) {
		tap_ok(0, "setup");
		return tap_done();
	}
	for (i = 0; i < n; i++) {
		sasl_callback_t cbs[5];
		creds c = { .authname = (i % 5 == 4) ? "nobody@example.test" : "alice@example.test",
			    .password = (i % 3 == 0) ? "work" : NULL };
		sasl_conn_t *conn = NULL;
		sasl_interact_t *prompts = NULL;
		const char *out, *mech, *mechs = (i & 1) ? "OAUTHBEARER" : "XOAUTH2";
		unsigned outlen;
		bool interact = (i % 7 == 3), rejected = false;

		/* fails when no token is found, and when the password names a
		 * token of another mailbox (nobody@ is not work's user) */
		if (!(i % 5 == 4 && !interact))
			want++;

		make_cbs(cbs, &c);
		rc = sasl_client_new(i % 11 == 0 ? "pop" : "imap", "outlook.office365.com", NULL,
				     "127.0.0.1;143", interact ? icbs : cbs, 0, &conn);
		if (rc != SASL_OK)
			break;
		rc = sasl_client_start(conn, mechs, &prompts, &out, &outlen, &mech);
		if (rc == SASL_INTERACT) {
			for (sasl_interact_t *p = prompts; p->id != SASL_CB_LIST_END; p++) {
				p->result = p->id == SASL_CB_PASS ? "" : "work";
				p->len = (unsigned)strlen(p->result);
			}
			rc = sasl_client_start(conn, mechs, &prompts, &out, &outlen, &mech);
		}
		if (rc == SASL_CONTINUE && i % 11 == 0)
			rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
		if (rc == SASL_CONTINUE && i % 13 == 0) {
			/* an error challenge on a token nobody else uses, then
			 * reset its state so later rounds need no network */
			rc = sasl_client_step(conn, "{}", 2, NULL, &out, &outlen);
			rejected = true;
		}
		if (rc == SASL_CONTINUE)
			rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
		if (rc == SASL_OK)
			ok++;
		sasl_dispose(&conn);
		free(c.secret);
		if (rejected) {
			/* The rejected token is refreshed at the next login, and
			 * its provider (127.0.0.1:9) refuses: a temporary failure.
			 * A process that did not load libcurl with the plugin
			 * loads it here. */
			refreshes++;
			if (start_rc("XOAUTH2", "alice@example.test") == SASL_TRYAGAIN)
				tryagain++;
		}
		if (i % 13 == 0)
			add_token(g_store, "work", "alice@example.test", "valid", "at-work-1");
	}
	sasl_client_done();
	tap_ok(i == n, "%ld login attempts ran", i);
	tap_ok(ok == want, "%ld of them succeeded (want %ld)", ok, want);
	tap_ok(refreshes > 0 && tryagain == refreshes,
	       "%ld of %ld refreshes of a rejected token failed with SASL_TRYAGAIN "
	       "(the provider refuses connections)", tryagain, refreshes);
	tap_ok(g_secret_logged == 0, "no token or secret reached the log callback");
	rm_rf(g_tmp);
	return tap_done();
}

/* Whether a library whose file name starts with `name` is mapped. */
static bool lib_mapped(const char *name)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		const char *base = strrchr(line, '/');

		found = base != NULL && strncmp(base + 1, name, strlen(name)) == 0;
	}
	fclose(f);
	return found;
}

/* One XOAUTH2 login against an existing store (refresh test). With
 * TEST_PLUGIN_MAPS set, stderr says whether libcurl was mapped after
 * sasl_client_init ("libcurl at load: yes|no") and after the logins
 * ("libcurl after login: yes|no"). */
static int run_login(int argc, char **argv)
{
	sasl_callback_t cbs[5];
	creds c = { .authname = argv[4], .password = argc > 5 ? argv[5] : NULL };
	sasl_conn_t *conn = NULL;
	const char *out = NULL, *mech;
	unsigned outlen = 0;
	long logins = 1;
	int rc;

	/* An empty store or config: the plugin's defaults. */
	g_store = argv[2][0] ? argv[2] : NULL;
	g_config = argv[3][0] ? argv[3] : NULL;
	if (getenv("TEST_PLUGIN_ENV_STORE") != NULL)
		setenv("SASL_OAUTH2_STORE", getenv("TEST_PLUGIN_ENV_STORE"), 1);
	if (sasl_client_init(getenv("TEST_PLUGIN_NO_LOG") ? global_cbs_nolog : global_cbs) != SASL_OK)
		return 2;
	if (getenv("TEST_PLUGIN_MAPS") != NULL)
		fprintf(stderr, "libcurl at load: %s\n", lib_mapped("libcurl") ? "yes" : "no");
	if (getenv("TEST_PLUGIN_CHROOT") != NULL &&
	    (chroot(getenv("TEST_PLUGIN_CHROOT")) != 0 || chdir("/") != 0)) {
		fprintf(stderr, "chroot %s: %s\n", getenv("TEST_PLUGIN_CHROOT"), strerror(errno));
		return 3;
	}
	if (getenv("TEST_PLUGIN_SETUID") != NULL) {
		long id = strtol(getenv("TEST_PLUGIN_SETUID"), NULL, 10);

		if (setgroups(0, NULL) != 0 || setgid((gid_t)id) != 0 || setuid((uid_t)id) != 0) {
			fprintf(stderr, "setuid %ld: %s\n", id, strerror(errno));
			return 3;
		}
	}
	if (getenv("TEST_PLUGIN_LOGINS") != NULL)
		logins = strtol(getenv("TEST_PLUGIN_LOGINS"), NULL, 10);
	make_cbs(cbs, &c);
	for (rc = SASL_OK; logins > 0 && rc == SASL_OK; logins--) {
		rc = sasl_client_new("imap", "imap.example.test", NULL, NULL, cbs, 0, &conn);
		if (rc == SASL_OK)
			rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech);
		if (rc == SASL_CONTINUE) {
			printf("%s\n", show(out, outlen));
			rc = sasl_client_step(conn, "", 0, NULL, &out, &outlen);
		} else {
			fprintf(stderr, "login failed (%d): %s\n", rc, conn ? sasl_errdetail(conn) : "");
		}
		sasl_dispose(&conn);
	}
	if (getenv("TEST_PLUGIN_MAPS") != NULL)
		fprintf(stderr, "libcurl after login: %s\n", lib_mapped("libcurl") ? "yes" : "no");
	sasl_client_done();
	free(c.secret);
	return rc == SASL_OK ? 0 : 1;
}

/* N threads log in at once with one token (concurrent refresh test). */
static int run_threads(char **argv)
{
	worker w[THREADS];
	int n = (int)strtol(argv[5], NULL, 10), ok = 0;

	if (n < 1 || n > THREADS)
		n = THREADS;
	/* An empty store or config: the plugin's defaults. */
	g_store = argv[2][0] ? argv[2] : NULL;
	g_config = argv[3][0] ? argv[3] : NULL;
	if (sasl_client_init(global_cbs) != SASL_OK)
		return 2;
	run_workers(w, n, 1, argv[4]);
	for (int i = 0; i < n; i++) {
		if (w[i].ok == 1)
			ok++;
		printf("%s\n", w[i].ok == 1 ? w[i].resp : w[i].bad);
	}
	sasl_client_done();
	return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	set_plugdir();
	if (argc >= 6 && strcmp(argv[1], "threads") == 0)
		return run_threads(argv);
	if (argc >= 3 && strcmp(argv[1], "loop") == 0)
		return run_loop(strtol(argv[2], NULL, 10));
	if (argc >= 5 && strcmp(argv[1], "login") == 0)
		return run_login(argc, argv);
	return run_suite();
}
