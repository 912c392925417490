/*
 * bench_login.c - the cost of one SASL client login through libsasl2, for
 * `make bench` (tests/bench/run.sh compares mechanisms side by side).
 *
 * One login is what a mail program does per connection: sasl_client_new,
 * sasl_client_start, the steps until SASL_OK (the server's answers are
 * empty, as after a successful login), sasl_dispose. libsasl2 loads the
 * plugins of --plugdir only (SASL_CB_GETPATH), so one process measures one
 * plugin: PLAIN from libsasl2-modules, this project's module, or a peer's.
 *
 *   bench_login --plugdir DIR --mech MECH --user U [--pass P] [--host H]
 *               [--store S --config C] [--option K=V]... [--logins N] [--rounds R]
 *
 * Prints one line: mech, logins per round, the minimum CPU time (user +
 * system, getrusage) per login over the rounds in nanoseconds, and the
 * process's peak resident set in KiB. Under callgrind, count only the
 * logins with --toggle-collect=bench_round (one warm-up login runs first,
 * outside it). Exits 1 when a login fails.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <sasl/sasl.h>

static const char *opt_plugdir, *opt_mech, *opt_user, *opt_pass, *opt_store, *opt_config;
static const char *opt_host = "imap.example.test";
static sasl_secret_t *g_secret;
/* --option K=V: further plugin options (oauth2_preload=yes). */
static const char *g_options[8];
static size_t g_n_options;

static int cb_getpath(void *context, const char **path)
{
	(void)context;
	*path = opt_plugdir;
	return SASL_OK;
}

static int cb_getopt(void *context, const char *plugin_name, const char *option,
		     const char **result, unsigned *len)
{
	const char *v = NULL;

	(void)context;
	(void)plugin_name;
	if (strcmp(option, "oauth2_store") == 0)
		v = opt_store;
	else if (strcmp(option, "oauth2_config") == 0)
		v = opt_config;
	for (size_t i = 0; v == NULL && i < g_n_options; i++) {
		size_t n = strlen(option);

		if (strncmp(g_options[i], option, n) == 0 && g_options[i][n] == '=')
			v = g_options[i] + n + 1;
	}
	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

static int cb_log(void *context, int level, const char *message)
{
	(void)context;
	if (level <= SASL_LOG_WARN)
		fprintf(stderr, "bench_login: sasl: %s\n", message);
	return SASL_OK;
}

static int cb_simple(void *context, int id, const char **result, unsigned *len)
{
	(void)context;
	if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER)
		return SASL_FAIL;
	*result = id == SASL_CB_AUTHNAME ? opt_user : "";
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
	(void)conn;
	(void)context;
	(void)id;
	*psecret = g_secret;
	return g_secret ? SASL_OK : SASL_FAIL;
}

static const sasl_callback_t global_cbs[] = {
	{ SASL_CB_GETPATH, (int (*)(void))(void (*)(void))cb_getpath, NULL },
	{ SASL_CB_GETOPT, (int (*)(void))(void (*)(void))cb_getopt, NULL },
	{ SASL_CB_LOG, (int (*)(void))(void (*)(void))cb_log, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

static sasl_callback_t conn_cbs[] = {
	{ SASL_CB_AUTHNAME, (int (*)(void))(void (*)(void))cb_simple, NULL },
	{ SASL_CB_USER, (int (*)(void))(void (*)(void))cb_simple, NULL },
	{ SASL_CB_PASS, (int (*)(void))(void (*)(void))cb_pass, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* One complete login; false on failure (message on stderr). */
static int login(void)
{
	sasl_conn_t *conn = NULL;
	sasl_interact_t *need = NULL;
	const char *out = NULL, *mech = NULL;
	unsigned outlen = 0;
	int rc, steps = 0;

	rc = sasl_client_new("imap", opt_host, NULL, "127.0.0.1;143", conn_cbs, 0,
			     &conn);
	if (rc != SASL_OK) {
		fprintf(stderr, "bench_login: sasl_client_new: %s\n", sasl_errstring(rc, NULL, NULL));
		return 0;
	}
	rc = sasl_client_start(conn, opt_mech, &need, &out, &outlen, &mech);
	while (rc == SASL_CONTINUE && steps++ < 4)
		rc = sasl_client_step(conn, "", 0, &need, &out, &outlen);
	if (rc != SASL_OK)
		fprintf(stderr, "bench_login: %s login: %s\n", opt_mech, sasl_errdetail(conn));
	sasl_dispose(&conn);
	return rc == SASL_OK;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The measured loop; a function of its own so callgrind can count just it. */
__attribute__((noinline)) int bench_round(long n);
__attribute__((noinline)) int bench_round(long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (!login())
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	long logins = 20000, rounds = 3, r;
	double best = -1;
	struct rusage ru;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--plugdir") == 0)
			opt_plugdir = v;
		else if (strcmp(k, "--mech") == 0)
			opt_mech = v;
		else if (strcmp(k, "--user") == 0)
			opt_user = v;
		else if (strcmp(k, "--pass") == 0)
			opt_pass = v;
		else if (strcmp(k, "--store") == 0)
			opt_store = v;
		else if (strcmp(k, "--config") == 0)
			opt_config = v;
		else if (strcmp(k, "--host") == 0)
			opt_host = v;
		else if (strcmp(k, "--logins") == 0)
			logins = atol(v);
		else if (strcmp(k, "--rounds") == 0)
			rounds = atol(v);
		else if (strcmp(k, "--option") == 0 && strchr(v, '=') != NULL &&
			 g_n_options < sizeof(g_options) / sizeof(g_options[0]))
			g_options[g_n_options++] = v;
		else
			break;
	}
	if (i != argc || !opt_plugdir || !opt_mech || !opt_user || logins < 1 || rounds < 1) {
		fprintf(stderr, "usage: bench_login --plugdir DIR --mech MECH --user U [--pass P] [--host H] "
			"[--store S --config C] [--option K=V]... [--logins N] [--rounds R]\n");
		return 2;
	}
	if (opt_pass != NULL) {
		size_t n = strlen(opt_pass);

		if ((g_secret = malloc(sizeof(*g_secret) + n)) == NULL)
			return 1;
		g_secret->len = n;
		memcpy(g_secret->data, opt_pass, n + 1);
	}
	if (sasl_client_init(global_cbs) != SASL_OK) {
		fprintf(stderr, "bench_login: sasl_client_init failed\n");
		return 1;
	}
	/* Warm-up: the plugin opens its store and fills its caches. */
	if (!login())
		return 1;
	for (r = 0; r < rounds; r++) {
		double t0 = cpu_seconds(), t;

		if (!bench_round(logins))
			return 1;
		t = cpu_seconds() - t0;
		if (best < 0 || t < best)
			best = t;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%s logins=%ld rounds=%ld cpu_ns=%.0f maxrss_kb=%ld\n", opt_mech, logins, rounds,
	       best / (double)logins * 1e9, ru.ru_maxrss);
	sasl_client_done();
	free(g_secret);
	return 0;
}
