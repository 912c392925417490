/*
 * main.c - entry point of the sasl-oauth2 helper: global options, the
 * command table with each command's --help text, and dispatch.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
	"Usage: sasl-oauth2 [--store DIR] [--config FILE] [-v] COMMAND [ARGS]\n"
	"\n"
	"Manage OAuth2 tokens for the XOAUTH2/OAUTHBEARER SASL plugin.\n"
	"\n"
	"Commands:\n"
	"  templates [NAME]            list templates, or show one\n"
	"  add NAME --template T [--user U] [--client-id ID] [--client-secret-file F|-]\n"
	"           [--tenant T] [--flow F] [--scope S]... [--set KEY=VALUE]... [--for SERVICES]\n"
	"  edit NAME --set KEY=VALUE...         (changing the template is refused)\n"
	"  list [--json|--names]       name, template, user, validity, token and refresh expiry, status\n"
	"  show NAME [--json]          configuration and state; secrets shown as ********\n"
	"  remove NAME [--revoke]\n"
	"  authorize NAME [--device] [--no-browser] [--port N] [--timeout S]\n"
	"  refresh (NAME...|--all) [--if-expiring-in SECONDS]\n"
	"  token NAME [--user MAILBOX] a valid access token on stdout and nothing else (refreshes if due)\n"
	"  status [NAME...] [--json] [--refresh]\n"
	"                              exit 0 all fine, 1 something expires soon, 2 expired/invalid/failed\n"
	"  export [NAME...] [--with-secrets] [-o FILE]\n"
	"  import FILE|- [--overwrite] [--dry-run]\n"
	"  doctor [--report]           checks plugin loading, store permissions, config, reachability\n"
	"  doctor NAME --login [imap|pop3|smtp]...  real logins to the token's servers\n"
	"  tunnel NAME HOST PORT [--protocol imap|pop3] [--tls implicit|starttls|none]\n"
	"         [--mech XOAUTH2|OAUTHBEARER] [--user MAILBOX] [--idle-timeout S]\n"
	"                              log in with TLS and hand a pre-authenticated IMAP/POP3\n"
	"                              session to stdin/stdout (fetchmail, isync Tunnel, mutt)\n"
	"  init                        create the store (directory, or PostgreSQL schema)\n"
	"\n"
	"Global options:\n"
	"  --store DIR     token store directory or postgresql:// URI (env SASL_OAUTH2_STORE)\n"
	"  --config FILE   global configuration (env SASL_OAUTH2_CONFIG)\n"
	"  -v              also report the library's info and debug events (refreshes,\n"
	"                  grants); without it only its warnings and errors. Events go\n"
	"                  to stderr, or to syslog (facility mail) with 'log: syslog'\n"
	"                  in the global configuration\n"
	"  --version       print the version and exit\n"
	"  --help          this text; COMMAND --help for a command's own\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error (status: see its --help).\n"
	"See sasl-oauth2(1).\n";

static const char help_templates[] =
	"Usage: sasl-oauth2 templates [NAME]\n"
	"\n"
	"Without NAME, list the provider templates (name and description).\n"
	"With NAME, show what the template fills in: endpoints, scopes, servers,\n"
	"client authentication, default flow and authorization parameters.\n";

static const char help_add[] =
	"Usage: sasl-oauth2 add NAME --template T [--user U] [--client-id ID]\n"
	"           [--client-secret-file F|-] [--tenant T] [--flow F] [--scope S]...\n"
	"           [--set KEY=VALUE]... [--for SERVICES]\n"
	"\n"
	"Create token NAME from template T. Everything is checked before anything\n"
	"is written; an existing NAME is refused (use edit or remove first).\n"
	"\n"
	"  --template T             provider template (permanent; see: sasl-oauth2 templates)\n"
	"  --user U                 mailbox address sent in the SASL exchange\n"
	"  --client-id ID           OAuth2 client id\n"
	"  --client-secret-file F   read the client secret from the first line of F\n"
	"                           ('-' reads it from standard input) and store it in the\n"
	"                           token's configuration (mode 0600). To keep only a path\n"
	"                           to the secret instead, use\n"
	"                           --set client_secret_file=/absolute/path\n"
	"  --tenant T               Azure tenant id / Google project id\n"
	"  --flow F                 authorization_code, device_code, client_credentials\n"
	"                           or jwt_bearer\n"
	"  --scope S                a scope (repeat for several; replaces the template's)\n"
	"  --for SERVICES           only the template's scopes for these services, a comma\n"
	"                           list of imap, pop, smtp (e.g. --for imap,smtp)\n"
	"  --set KEY=VALUE          any configuration key; lists take comma-separated\n"
	"                           values, numbers are integers, maps use KEY.SUBKEY\n"
	"                           (servers.imap=host:993, auth_params.prompt=consent)\n"
	"\n"
	"Secrets are never accepted on the command line: --set client_secret=... is\n"
	"refused. Next step: sasl-oauth2 authorize NAME.\n";

static const char help_edit[] =
	"Usage: sasl-oauth2 edit NAME --set KEY=VALUE... [--client-secret-file F|-]\n"
	"\n"
	"Change keys of token NAME (see add --help for the KEY=VALUE forms; an empty\n"
	"VALUE unsets a key). All changes are checked together and written at once,\n"
	"or none is. The template of a token is permanent: remove the token and add\n"
	"it again to change it. --client-secret-file replaces the stored client secret.\n";

static const char help_list[] =
	"Usage: sasl-oauth2 list [--json|--names]\n"
	"\n"
	"One line per token: name, template, user, validity, access token expiry,\n"
	"refresh token expiry and status (ok, token expired, refresh token expired,\n"
	"refresh token revoked, refresh failed: REASON, invalid, not authorized).\n"
	"--json prints the same as a JSON array; --names only the token names, one\n"
	"per line, without reading their state (for scripts and shell completion).\n"
	"No network access.\n";

static const char help_show[] =
	"Usage: sasl-oauth2 show NAME [--json]\n"
	"\n"
	"The effective configuration of token NAME (template and global values\n"
	"filled in) and its state. Secrets are shown as ********. No network access.\n";

static const char help_remove[] =
	"Usage: sasl-oauth2 remove NAME [--revoke]\n"
	"\n"
	"Remove the configuration and state of token NAME. With --revoke, first\n"
	"revoke the refresh token (or, without one, the access token) at the\n"
	"provider's revoke_url (RFC 7009); if the token has no revoke_url this is\n"
	"reported and the token is removed anyway. A failed revocation removes\n"
	"nothing.\n";

static const char help_authorize[] =
	"Usage: sasl-oauth2 authorize NAME [--device] [--no-browser] [--port N] [--timeout S]\n"
	"\n"
	"Obtain the first tokens of NAME, according to its flow:\n"
	"  authorization_code  PKCE (S256) and a random state; a listener on\n"
	"                      127.0.0.1 (ephemeral port unless --port, or the port of\n"
	"                      the token's redirect_uri) receives the redirect. The\n"
	"                      authorization URL is always printed on standard output;\n"
	"                      it is opened with $BROWSER URL when BROWSER is set, else\n"
	"                      with xdg-open when DISPLAY or WAYLAND_DISPLAY is set,\n"
	"                      unless --no-browser. With --no-browser the URL your\n"
	"                      browser was finally redirected to may also be pasted\n"
	"                      on standard input (useful over ssh).\n"
	"  device_code         (or --device) prints the verification URL and a line\n"
	"                      'Enter code: XXXX-XXXX' on standard output, then polls\n"
	"                      the token endpoint as RFC 8628 says.\n"
	"  client_credentials  fetches a token with no user interaction.\n"
	"\n"
	"  --timeout S   give up waiting for the redirect after S seconds (default 300)\n"
	"\n"
	"Then it stores the tokens and prints what it stored (never the tokens).\n"
	"Exit status 0 on success, 1 on failure (a denied request says \"denied\").\n";

static const char help_refresh[] =
	"Usage: sasl-oauth2 refresh (NAME...|--all) [--if-expiring-in SECONDS]\n"
	"\n"
	"Refresh the named tokens, or every token with --all (--all skips tokens\n"
	"whose validity is not 'valid' and tokens never authorized). With\n"
	"--if-expiring-in, only the ones whose access token expires within\n"
	"SECONDS (run it from cron so refresh tokens stay alive). One line per\n"
	"token; exit 1 if any refresh failed.\n";

static const char help_token[] =
	"Usage: sasl-oauth2 token NAME [--user MAILBOX]\n"
	"\n"
	"Print a valid access token of NAME and a newline on standard output, and\n"
	"nothing else; refresh it first when it is due. Errors go to standard error\n"
	"(exit 1). For mutt's imap_oauth_refresh_command, msmtp's passwordeval,\n"
	"mbsync's PassCmd, curl.\n"
	"  -u, --user MAILBOX  the mailbox the token will log in as; refused (exit 1)\n"
	"                      unless it is the token's user or matches its users\n";

static const char help_status[] =
	"Usage: sasl-oauth2 status [NAME...] [--json] [--refresh]\n"
	"\n"
	"Report every (or each named) token: ok, token expired, refresh token\n"
	"expired, refresh token revoked, refresh failed: REASON, invalid, not\n"
	"authorized. No network access unless --refresh, which first refreshes the\n"
	"tokens that are due.\n"
	"\n"
	"Exit status:\n"
	"  0  all fine (an expired access token that can be refreshed is fine)\n"
	"  1  something expires soon: a refresh token within 7 days, or an access\n"
	"     token that cannot be refreshed within its refresh_margin\n"
	"  2  something is expired, invalid, not authorized or failed\n"
	"\n"
	"For each new transition to token_expired, refresh_token_expired or\n"
	"refresh_failed (if listed in the token's notify), notify_command of the\n"
	"global configuration runs once with /bin/sh -c and SASL_OAUTH2_TOKEN,\n"
	"SASL_OAUTH2_EVENT and SASL_OAUTH2_DETAIL in its environment; it runs\n"
	"again only after the condition ended and came back.\n";

static const char help_export[] =
	"Usage: sasl-oauth2 export [NAME...] [--with-secrets] [-o FILE]\n"
	"\n"
	"Write one YAML document with the configurations of the named (or all)\n"
	"tokens to standard output, or to FILE (written atomically, mode 0600).\n"
	"Without --with-secrets it holds no secret. With it, the client secret\n"
	"(read from client_secret_file when that is set; the key stays a path) and\n"
	"the token state (access and refresh token, expiries) are included, so the\n"
	"importing store works without a new consent.\n";

static const char help_import[] =
	"Usage: sasl-oauth2 import FILE|- [--overwrite] [--dry-run]\n"
	"\n"
	"Read a document written by export. The whole document is checked first;\n"
	"if any entry is bad nothing is changed and the error names the file, line\n"
	"and column. Existing tokens are skipped (and reported) unless --overwrite,\n"
	"which replaces only the tokens of the same name (their state is kept when\n"
	"the document has none). --dry-run prints what would be added, replaced or\n"
	"skipped and changes nothing.\n";

static const char help_doctor[] =
	"Usage: sasl-oauth2 doctor [--report]\n"
	"       sasl-oauth2 doctor NAME --login [imap|pop3|smtp]...\n"
	"\n"
	"Check the global configuration, the store directory and file permissions\n"
	"(and that Postfix's mail_owner can write the store, when Postfix is\n"
	"installed), that every token resolves, the templates directory, that\n"
	"libsasl2 loads the plugin (from $SASL_PATH, else the configured plugin\n"
	"directory) and offers XOAUTH2 and OAUTHBEARER, which module libsasl2 will\n"
	"use for each when several offer them, and that each token endpoint is\n"
	"reachable. One line per check; exit 0 if all are fine, 1 otherwise.\n"
	"  --report   first print a redacted report for a bug report: versions,\n"
	"             configuration and tokens without any token, secret, client id\n"
	"             or full mailbox\n"
	"  --login    log in for real to token NAME's servers (all, or the protocols\n"
	"             named) over TLS through libsasl2 and the plugin; one line per\n"
	"             protocol with OK or the server's refusal\n";

static const char help_tunnel[] =
	"Usage: sasl-oauth2 tunnel NAME HOST PORT [--protocol imap|pop3]\n"
	"           [--tls implicit|starttls|none] [--mech XOAUTH2|OAUTHBEARER]\n"
	"           [--user MAILBOX] [--idle-timeout SECONDS]\n"
	"\n"
	"For mail clients that cannot load a SASL plugin but can run a command as\n"
	"their connection. Connects to HOST:PORT, verifies the server's TLS\n"
	"certificate and host name (ca_bundle of the global configuration, else the\n"
	"system's CAs), logs in with token NAME through libsasl2 and this project's\n"
	"plugin, then hands a pre-authenticated session to standard input and\n"
	"output (IMAP '* PREAUTH', POP3 '+OK') and copies bytes both ways until\n"
	"either side closes.\n"
	"\n"
	"  --protocol P     imap or pop3 (default from PORT: 110 and 995 pop3, else imap)\n"
	"  --tls M          implicit (TLS from the start; default, except for ports\n"
	"                   143 and 110), starttls (STARTTLS/STLS; default for 143\n"
	"                   and 110; refused when the server does not offer it) or\n"
	"                   none (only to a loopback address)\n"
	"  --mech M         XOAUTH2 (default) or OAUTHBEARER\n"
	"  --user MAILBOX   the mailbox to log in as (default: the token's user)\n"
	"  --idle-timeout S end the session after S seconds without traffic\n"
	"                   (default: none, IMAP IDLE sessions last for hours)\n"
	"\n"
	"The plugin is loaded from $SASL_PATH, else from " PLUGINDIR ".\n"
	"Connect, TLS handshake and each server reply during login wait at most\n"
	"http_timeout seconds. On failure a refusal goes to standard output\n"
	"('* BYE ...' or '-ERR ...'), one line to standard error (syslog with\n"
	"'log: syslog'). The token is never printed.\n"
	"\n"
	"fetchmail:  plugin \"sasl-oauth2 tunnel NAME %h %p\" auth ssh sslproto ''\n"
	"isync:      Tunnel \"sasl-oauth2 tunnel NAME imap.example.com 993\"\n"
	"mutt:       set tunnel=\"sasl-oauth2 tunnel NAME imap.example.com 993\"\n"
	"\n"
	"Exit status: 0 the session ended (either side closed), 1 no session\n"
	"(connection, TLS or login failed), 2 usage error, 3 the session was lost\n"
	"(connection error or idle timeout).\n";
static const char help_init[] =
	"Usage: sasl-oauth2 init\n"
	"\n"
	"Create the store: for a directory, the directory itself (mode 0700); for a\n"
	"postgresql:// URI, the tables in the database, or an upgrade of an older\n"
	"schema. Running it again changes nothing. Other commands on a database\n"
	"without the schema fail and say to run init. Exit 0 on success, 1 otherwise.\n";

static const cli_cmd commands[] = {
	{ "templates", cmd_templates, help_templates },
	{ "add", cmd_add, help_add },
	{ "edit", cmd_edit, help_edit },
	{ "list", cmd_list, help_list },
	{ "show", cmd_show, help_show },
	{ "remove", cmd_remove, help_remove },
	{ "authorize", cmd_authorize, help_authorize },
	{ "refresh", cmd_refresh, help_refresh },
	{ "token", cmd_token, help_token },
	{ "status", cmd_status, help_status },
	{ "export", cmd_export, help_export },
	{ "import", cmd_import, help_import },
	{ "doctor", cmd_doctor, help_doctor },
	{ "tunnel", cmd_tunnel, help_tunnel },
	{ "init", cmd_init, help_init },
	{ NULL, NULL, NULL },
};

const cli_cmd *cli_cmd_find(const char *name)
{
	const cli_cmd *c;

	for (c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int main(int argc, char **argv)
{
	cli_global g = { 0 };
	const cli_cmd *c;
	int i = 1, rc;

	/* A closed pipe must become a write error, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	/* Nearly every command holds a secret at some point: no core dump
	 * and no debugger of the same user from here on, and libcurl frees
	 * its buffers (requests, token answers) through a wiping allocator. */
	cli_protect_process();
	oa2_global_init_wiping();

	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];

		if (strcmp(a, "--store") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error(NULL, "option '%s' needs a value", a);
			if (a[2] == 's')
				g.store_dir = argv[i + 1];
			else
				g.config_path = argv[i + 1];
			i += 2;
		} else if (strncmp(a, "--store=", 8) == 0) {
			g.store_dir = a + 8;
			i++;
		} else if (strncmp(a, "--config=", 9) == 0) {
			g.config_path = a + 9;
			i++;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			g.verbose++;
			i++;
		} else if (strcmp(a, "-vv") == 0) {
			g.verbose += 2;
			i++;
		} else if (strcmp(a, "--version") == 0) {
			printf("%s %s\n", CLI_PROG, PACKAGE_VERSION);
			return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		} else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else {
			return cli_usage_error(NULL, "unknown option '%s'", a);
		}
	}
	if (i >= argc)
		return cli_usage_error(NULL, "no command given");
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc && (c = cli_cmd_find(argv[i + 1])) != NULL)
			fputs(c->help, stdout);
		else
			fputs(usage_text, stdout);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	c = cli_cmd_find(argv[i]);
	if (!c)
		return cli_usage_error(NULL, "unknown command '%s'", argv[i]);
	cli_term_safe(strcmp(c->name, "token") == 0 || strcmp(c->name, "export") == 0 ||
		      strcmp(c->name, "tunnel") == 0);
	rc = c->run(&g, argc - i, argv + i);
	cli_log_flush();
	return rc;
}
