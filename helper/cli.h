/*
 * cli.h - shared declarations of the sasl-oauth2 helper: global options,
 * the command table, option parsing, error printing, secret reading, time
 * formatting and the status evaluation used by list, show and status.
 *
 * The helper is the only place where tokenstore errors become output: one
 * line on stderr ("sasl-oauth2: NAME: what failed: why; what to do") and an
 * exit status (0 fine, 1 runtime failure, 2 usage error; status has its own).
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenstore.h"
#include "oauth.h"

#define CLI_PROG "sasl-oauth2"

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
};

/* Options given before the command. */
typedef struct cli_global {
	const char *store_dir;
	const char *config_path;
	int verbose;
} cli_global;

typedef int cli_cmd_fn(const cli_global *g, int argc, char **argv);

typedef struct cli_cmd {
	const char *name;
	cli_cmd_fn *run;
	const char *help;           /* full usage text, printed by --help */
} cli_cmd;

/* Escape control characters in what goes to stderr, and to stdout when
 * it is a terminal, unless `data_stdout` (token, export, tunnel: stdout is
 * data). Called once in main before the command runs (protect.c). */
void cli_term_safe(bool data_stdout);

/* Keep secrets out of core dumps: RLIMIT_CORE 0 (soft) and, except in
 * sanitizer builds, PR_SET_DUMPABLE 0, which also stops other processes
 * of the same user from attaching (protect.c). cli_child_restore_limits
 * gives a child about to exec another program the original core limit. */
void cli_protect_process(void);
void cli_child_restore_limits(void);

/* The command table lives in main.c. */
const cli_cmd *cli_cmd_find(const char *name);

/* ---------------------------------------------------------------------- */
/* Option parsing (cli_util.c)                                              */

typedef struct cli_opt {
	const char *name;           /* long name without the dashes */
	char short_name;            /* 0 when none */
	bool has_arg;
	int id;                     /* > 0 */
} cli_opt;

enum {
	CLI_OPT_END = 0,            /* no more options */
	CLI_OPT_ERR = -1,           /* error already printed; exit 2 */
	CLI_OPT_HELP = -2,          /* help printed on stdout; exit 0 */
};

typedef struct cli_parser {
	const char *cmd;            /* command name, for messages and --help */
	int argc;
	char **argv;
	int i;
	const cli_opt *opts;
	bool only_pos;              /* "--" seen */
	char **pos;                 /* positional arguments collected */
	int npos;
	const char *arg;            /* argument of the last option */
} cli_parser;

/* Start parsing argv[1..argc-1] of command `cmd` (argv[0] is the command). */
int cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv, const cli_opt *opts);
/* Next option id, CLI_OPT_END, CLI_OPT_ERR or CLI_OPT_HELP. Positional
 * arguments are collected into p->pos. */
int cli_parser_next(cli_parser *p);
void cli_parser_free(cli_parser *p);
/* What the command functions below return when the command goes on. */
#define CLI_GO_ON (-1)

/* After the last option (`id` from cli_parser_next): the exit status when
 * parsing stopped early (0 after --help, 2 after an error), else CLI_GO_ON. */
int cli_parser_done(int id);
/* cli_parser_done, then exactly one positional argument that is a valid
 * token name (*out). Prints the usage or name error and returns its exit
 * status; CLI_GO_ON when fine. */
int cli_one_name(const char **out, const cli_parser *p, int id);
/* cli_parser_done, then every positional argument a valid token name. */
int cli_names_check(const cli_parser *p, int id);
/* Print "sasl-oauth2: CMD: MSG; see: sasl-oauth2 CMD --help" and return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------- */
/* Output (cli_util.c)                                                      */

/* "sasl-oauth2: NAME: MSG" (NAME may be NULL) as one line on stderr;
 * returns CLI_EXIT_FAIL. Control characters are replaced so the message
 * stays on one line. */
int cli_err(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "sasl-oauth2: NAME: WHAT: <err->msg>" and CLI_EXIT_FAIL; the message
 * does not name the token a second time (cli_unname). */
int cli_err_ts(const char *name, const char *what, const ts_error *err);
/* A library message for a line that names token `name` already: without
 * its leading "token 'NAME': "; "token 'NAME' has ..." becomes "the token
 * has ..." and "token 'NAME' not found in ..." "no such token in ...".
 * Returns `msg` itself or `buf`. */
const char *cli_unname(char *buf, size_t size, const char *name, const char *msg);
/* A warning line, same format, does not change the exit status. */
void cli_warn(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "2026-01-31 12:00:00 UTC", or "-" for 0. */
const char *cli_fmt_time(char *buf, size_t size, int64_t t);
/* "in 59m", "3h ago", "now". */
const char *cli_fmt_rel(char *buf, size_t size, int64_t t, int64_t now);
/* "2026-01-31 12:00:00 UTC (in 59m)" or "-". */
const char *cli_fmt_when(char *buf, size_t size, int64_t t, int64_t now);

/* ---------------------------------------------------------------------- */
/* Files and secrets (cli_util.c)                                           */

/* Read a secret from `path` ("-" = stdin, first line). The file must be a
 * regular file not readable by group/others. Trailing newline and spaces
 * are removed; empty is refused. Free with ts_free_secret. */
int cli_read_secret(char **out, const char *path, ts_error *err);
/* Read a whole file ("-" = stdin), at most `max` bytes. Free with
 * ts_free_secret (it may hold secrets). */
int cli_read_file(char **out, size_t *outlen, const char *path, size_t max, ts_error *err);
/* Write all of `buf` to `fd` with write(2), bypassing stdio so that no
 * copy of a secret stays in a stdio buffer. 0 or -1 (errno set). */
int cli_write_all(int fd, const char *buf, size_t len);
/* Write `buf` to `path` atomically with mode 0600. */
int cli_write_file_atomic(const char *path, const char *buf, size_t len, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Context                                                                  */

/* Open the tokenstore context for the global options; prints the error
 * (naming `name` when given) and returns CLI_EXIT_FAIL on failure. The
 * library's events go to stderr, or to syslog (facility mail) when the
 * global configuration says `log: syslog`; info and debug only with -v. */
int cli_ctx_open(ts_ctx **out, const cli_global *g, unsigned store_flags, const char *name);
/* Print the warning and error events still held back (see cli_util.c);
 * main calls it when the command is done. */
void cli_log_flush(void);
/* The tokens a command works on: the names in `pos`, or every token of the
 * store when there are none. Prints the error and returns CLI_EXIT_FAIL on
 * failure, else CLI_EXIT_OK. */
int cli_names_collect(ts_strlist *out, ts_ctx *ctx, char **pos, int npos);

/* ---------------------------------------------------------------------- */
/* Token status (cmd_status.c), shared with list and show                   */

/* How long before the refresh token's expiry status starts warning. */
#define CLI_REFRESH_WARN_SECONDS (7 * 24 * 3600)

typedef struct cli_status {
	int level;                  /* 0 fine, 1 expires soon, 2 expired/invalid/failed */
	unsigned events;            /* TS_NOTIFY_* conditions that hold now */
	char text[TS_ERRMSG_MAX + 64]; /* "ok", "token expired", ... */
	char detail[TS_ERRMSG_MAX + 64]; /* for SASL_OAUTH2_DETAIL */
	ts_token_config *config;    /* NULL when it could not be read */
	ts_token_effective *eff;    /* NULL when it could not be resolved */
	ts_state *state;            /* NULL when none or unreadable */
	bool refreshable;           /* a new access token can be had without the user */
	bool broken;                /* configuration or state unreadable/unresolvable */
} cli_status;

/* Evaluate a token without network access. Never fails: problems become
 * level 2 and their text. */
void cli_status_eval(cli_status *st, ts_ctx *ctx, const char *name);
void cli_status_clear(cli_status *st);

/* ---------------------------------------------------------------------- */
/* Commands                                                                 */

int cmd_templates(const cli_global *g, int argc, char **argv);
int cmd_add(const cli_global *g, int argc, char **argv);
int cmd_edit(const cli_global *g, int argc, char **argv);
int cmd_list(const cli_global *g, int argc, char **argv);
int cmd_show(const cli_global *g, int argc, char **argv);
int cmd_remove(const cli_global *g, int argc, char **argv);
int cmd_export(const cli_global *g, int argc, char **argv);
int cmd_import(const cli_global *g, int argc, char **argv);
int cmd_authorize(const cli_global *g, int argc, char **argv);
int cmd_refresh(const cli_global *g, int argc, char **argv);
int cmd_token(const cli_global *g, int argc, char **argv);
int cmd_status(const cli_global *g, int argc, char **argv);
int cmd_doctor(const cli_global *g, int argc, char **argv);
int cmd_tunnel(const cli_global *g, int argc, char **argv);
int cmd_init(const cli_global *g, int argc, char **argv);

/* ---------------------------------------------------------------------- */
/* Loopback redirect listener (loopback.c)                                  */

typedef struct cli_loopback {
	int fd;                     /* listening socket (IPv4), -1 when none */
	int fd6;                    /* listening socket on ::1, -1 when none */
	int port;
	char *redirect_uri;         /* what is sent as redirect_uri */
	char *path;                 /* the path the redirect arrives at, e.g. "/" */
} cli_loopback;

/* Listen on 127.0.0.1:`port` (0: ephemeral). With `configured_uri` (the
 * token's or template's redirect_uri) the host, port and path come from
 * it: 127.0.0.1, [::1], or localhost (both); a loopback URI without a port
 * gets `port` (or an ephemeral one) inserted; a non-loopback redirect_uri
 * gives no listener (paste mode only). */
int cli_loopback_open(cli_loopback *lb, int port, const char *configured_uri, ts_error *err);
void cli_loopback_close(cli_loopback *lb);

/* Wait for the redirect on the listener and, when `read_stdin`, for the
 * redirected URL pasted on stdin, whichever comes first, at most
 * `timeout_s` seconds. A redirect with the wrong `state` is refused (400)
 * and the wait goes on. On success *out is the code (free with
 * ts_free_secret). TS_EDENIED for access_denied, TS_EINVAL for another
 * provider error or a missing code, TS_EEXPIRED on timeout. */
int cli_loopback_wait(char **out, cli_loopback *lb, const char *state, bool read_stdin,
		      int timeout_s, ts_error *err);

#endif /* CLI_H */
