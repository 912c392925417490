/*
 * cli_util.c - the helper's small shared pieces: option parsing, the one
 * error line per failure, reading secrets from files or stdin (wiped
 * afterwards), atomic output files, time formatting and opening the
 * tokenstore context.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---------------------------------------------------------------------- */
/* Error lines                                                              */

/* Replace control characters so that one message is one line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void log_flush_except(const char *name, const char *line);

static void vprint_line(const char *name, const char *fmt, va_list ap)
{
	char msg[TS_ERRMSG_MAX * 2];

	vsnprintf(msg, sizeof msg, fmt, ap);
	one_line(msg);
	log_flush_except(name, msg);
	if (name && *name)
		fprintf(stderr, "%s: %s: %s\n", CLI_PROG, name, msg);
	else
		fprintf(stderr, "%s: %s\n", CLI_PROG, msg);
	fflush(stderr);
}

int cli_err(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_line(name, fmt, ap);
	va_end(ap);
	return CLI_EXIT_FAIL;
}

void cli_warn(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_line(name, fmt, ap);
	va_end(ap);
}

const char *cli_unname(char *buf, size_t size, const char *name, const char *msg)
{
	size_t nl;
	const char *rest;

	if (!name || !*name || strncmp(msg, "token '", 7) != 0)
		return msg;
	nl = strlen(name);
	if (strncmp(msg + 7, name, nl) != 0 || msg[7 + nl] != '\'')
		return msg;
	rest = msg + 7 + nl + 1;
	if (rest[0] == ':' && rest[1] == ' ')
		return rest + 2;
	if (rest[0] != ' ')
		return msg;
	rest++;
	if (strncmp(rest, "not found", 9) == 0)
		snprintf(buf, size, "no such token%s", rest + 9);
	else
		snprintf(buf, size, "the token %s", rest);
	return buf;
}

int cli_err_ts(const char *name, const char *what, const ts_error *err)
{
	char buf[TS_ERRMSG_MAX + 16];
	const char *msg = err && err->msg[0] ? err->msg : ts_code_str(err ? err->code : TS_ERR);

	msg = cli_unname(buf, sizeof buf, name, msg);

	if (what && *what)
		return cli_err(name, "%s: %s", what, msg);
	return cli_err(name, "%s", msg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[TS_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	one_line(msg);
	if (cmd)
		fprintf(stderr, "%s: %s: %s; see: %s %s --help\n", CLI_PROG, cmd, msg, CLI_PROG, cmd);
	else
		fprintf(stderr, "%s: %s; see: %s --help\n", CLI_PROG, msg, CLI_PROG);
	return CLI_EXIT_USAGE;
}

/* ---------------------------------------------------------------------- */
/* Option parsing                                                           */

int cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv, const cli_opt *opts)
{
	memset(p, 0, sizeof *p);
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->i = 1;
	p->opts = opts;
	p->pos = calloc((size_t)argc + 1, sizeof *p->pos);
	return p->pos ? 0 : -1;
}

void cli_parser_free(cli_parser *p)
{
	free(p->pos);
	p->pos = NULL;
}

static int print_help(const cli_parser *p)
{
	const cli_cmd *c = cli_cmd_find(p->cmd);

	if (c && c->help)
		fputs(c->help, stdout);
	fflush(stdout);
	return CLI_OPT_HELP;
}

int cli_parser_next(cli_parser *p)
{
	while (p->i < p->argc) {
		char *a = p->argv[p->i++];
		const cli_opt *o;

		p->arg = NULL;
		if (p->only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
			p->pos[p->npos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			p->only_pos = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return print_help(p);
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t nl = eq ? (size_t)(eq - name) : strlen(name);

			for (o = p->opts; o && o->name; o++)
				if (strlen(o->name) == nl && strncmp(o->name, name, nl) == 0)
					break;
			if (!o || !o->name) {
				cli_usage_error(p->cmd, "unknown option '--%.*s'", (int)nl, name);
				return CLI_OPT_ERR;
			}
			if (!o->has_arg) {
				if (eq) {
					cli_usage_error(p->cmd, "option '--%s' takes no value", o->name);
					return CLI_OPT_ERR;
				}
				return o->id;
			}
			if (eq) {
				p->arg = eq + 1;
				return o->id;
			}
			if (p->i >= p->argc) {
				cli_usage_error(p->cmd, "option '--%s' needs a value", o->name);
				return CLI_OPT_ERR;
			}
			p->arg = p->argv[p->i++];
			return o->id;
		}
		/* a short option, alone ("-o FILE" or "-oFILE") */
		for (o = p->opts; o && o->name; o++)
			if (o->short_name && o->short_name == a[1])
				break;
		if (!o || !o->name || (!o->has_arg && a[2] != '\0')) {
			cli_usage_error(p->cmd, "unknown option '%s'", a);
			return CLI_OPT_ERR;
		}
		if (!o->has_arg)
			return o->id;
		if (a[2] != '\0') {
			p->arg = a + 2;
			return o->id;
		}
		if (p->i >= p->argc) {
			cli_usage_error(p->cmd, "option '-%c' needs a value", o->short_name);
			return CLI_OPT_ERR;
		}
		p->arg = p->argv[p->i++];
		return o->id;
	}
	return CLI_OPT_END;
}

int cli_parser_done(int id)
{
	if (id == CLI_OPT_END)
		return CLI_GO_ON;
	return id == CLI_OPT_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int cli_one_name(const char **out, const cli_parser *p, int id)
{
	ts_error err = { 0 };
	int rc;

	*out = NULL;
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		return rc;
	if (p->npos != 1)
		return cli_usage_error(p->cmd, p->npos == 0 ? "missing token NAME" : "too many arguments");
	if (ts_name_check(p->pos[0], &err) != TS_OK)
		return cli_err_ts(NULL, p->cmd, &err);
	*out = p->pos[0];
	return CLI_GO_ON;
}

int cli_names_check(const cli_parser *p, int id)
{
	ts_error err = { 0 };
	int rc, i;

	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		return rc;
	for (i = 0; i < p->npos; i++)
		if (ts_name_check(p->pos[i], &err) != TS_OK)
			return cli_err_ts(NULL, p->cmd, &err);
	return CLI_GO_ON;
}

/* ---------------------------------------------------------------------- */
/* Time                                                                     */

const char *cli_fmt_time(char *buf, size_t size, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || !gmtime_r(&tt, &tm)) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

const char *cli_fmt_rel(char *buf, size_t size, int64_t t, int64_t now)
{
	int64_t d = t - now;
	int64_t a = d < 0 ? -d : d;
	char amount[32];

	if (a < 60)
		snprintf(amount, sizeof amount, "%llds", (long long)a);
	else if (a < 3600)
		snprintf(amount, sizeof amount, "%lldm", (long long)(a / 60));
	else if (a < 2 * 86400)
		snprintf(amount, sizeof amount, "%lldh%02lldm", (long long)(a / 3600),
			 (long long)(a % 3600 / 60));
	else
		snprintf(amount, sizeof amount, "%lldd", (long long)(a / 86400));
	if (d == 0)
		snprintf(buf, size, "now");
	else if (d > 0)
		snprintf(buf, size, "in %s", amount);
	else
		snprintf(buf, size, "%s ago", amount);
	return buf;
}

const char *cli_fmt_when(char *buf, size_t size, int64_t t, int64_t now)
{
	char a[64], r[64];

	if (t <= 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	snprintf(buf, size, "%s (%s)", cli_fmt_time(a, sizeof a, t), cli_fmt_rel(r, sizeof r, t, now));
	return buf;
}

/* ---------------------------------------------------------------------- */
/* Files                                                                    */

/* Read everything from fd, at most max bytes; NUL-terminated. */
static int read_fd(char **out, size_t *outlen, int fd, const char *what, size_t max, ts_error *err)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	int rc = TS_OK;

	if (!buf)
		return ts_error_set(err, TS_ENOMEM, "%s: out of memory", what);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap * 2;
			char *nb;

			if (cap >= max + 1) {
				rc = ts_error_set(err, TS_EINVAL, "%s: larger than %zu bytes; use a smaller file", what, max);
				goto cleanup;
			}
			nb = malloc(ncap + 1);
			if (!nb) {
				rc = ts_error_set(err, TS_ENOMEM, "%s: out of memory", what);
				goto cleanup;
			}
			memcpy(nb, buf, len);
			ts_wipe(buf, len);
			free(buf);
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ts_error_set(err, TS_EIO, "%s: cannot read: %s", what, strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			rc = ts_error_set(err, TS_EINVAL, "%s: larger than %zu bytes; use a smaller file", what, max);
			goto cleanup;
		}
	}
	buf[len] = '\0';
	*out = buf;
	if (outlen)
		*outlen = len;
	buf = NULL;
cleanup:
	if (buf) {
		ts_wipe(buf, cap);
		free(buf);
	}
	return rc;
}

/* Open `path` for reading a possibly secret file: regular, and when
 * `secret`, not accessible to group/others. */
static int open_checked(int *out, const char *path, bool secret, ts_error *err)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return ts_error_set(err, errno == ENOENT ? TS_ENOTFOUND : errno == EACCES ? TS_EPERM : TS_EIO,
				    "cannot open '%s': %s; check the path", path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		close(fd);
		return ts_error_set(err, TS_EIO, "cannot stat '%s': %s", path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode)) {
		close(fd);
		return ts_error_set(err, TS_EINVAL, "'%s' is not a regular file; give a file or '-' for stdin", path);
	}
	if (secret && S_ISREG(sb.st_mode) && (sb.st_mode & 077)) {
		close(fd);
		return ts_error_set(err, TS_EPERM,
				    "secret file '%s' is accessible by group or others (mode %03o); run: chmod 600 '%s'",
				    path, (unsigned)(sb.st_mode & 0777), path);
	}
	*out = fd;
	return TS_OK;
}

/* Read one line from the terminal without echo (a person typing or
 * pasting the secret at the prompt). */
static int read_tty_line(char **out, ts_error *err)
{
	struct termios old, quiet;
	char *buf = calloc(1, 4096);
	size_t len = 0;
	bool restore = false;
	int rc = TS_OK;

	if (!buf)
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	/* Echo goes off before the prompt appears: what is typed or pasted
	 * as soon as the prompt shows is neither echoed nor flushed. */
	if (tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	fprintf(stderr, "Client secret (not shown): ");
	fflush(stderr);
	while (len < 4095) {
		ssize_t n = read(STDIN_FILENO, buf + len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	if (restore)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	*out = buf;
	return rc;
}

int cli_read_secret(char **out, const char *path, ts_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, rc;
	const char *what = strcmp(path, "-") == 0 ? "standard input" : path;

	if (strcmp(path, "-") == 0 && isatty(STDIN_FILENO)) {
		rc = read_tty_line(&buf, err);
		if (rc != TS_OK)
			return rc;
		goto got;
	}
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		rc = open_checked(&fd, path, true, err);
		if (rc != TS_OK)
			return rc;
	}
	rc = read_fd(&buf, &len, fd, what, 64 * 1024, err);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc != TS_OK)
		return rc;
got:
	/* The secret is the first line, without trailing white space. */
	{
		char *nl = strpbrk(buf, "\r\n");
		size_t n;

		if (nl) {
			n = strlen(nl);
			ts_wipe(nl, n);
		}
		n = strlen(buf);
		while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
			buf[--n] = '\0';
		if (n == 0) {
			ts_free_secret(buf);
			return ts_error_set(err, TS_EINVAL, "the client secret read from %s is empty; put the secret on the first line", what);
		}
	}
	*out = buf;
	return TS_OK;
}

int cli_read_file(char **out, size_t *outlen, const char *path, size_t max, ts_error *err)
{
	int fd = -1, rc;
	const char *what = strcmp(path, "-") == 0 ? "standard input" : path;

	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		rc = open_checked(&fd, path, false, err);
		if (rc != TS_OK)
			return rc;
	}
	rc = read_fd(out, outlen, fd, what, max, err);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int cli_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int cli_write_file_atomic(const char *path, const char *buf, size_t len, ts_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base;
	int dfd, rc;

	if (slash) {
		size_t dl = (size_t)(slash - path);

		if (dl == 0)
			dl = 1;     /* "/file" */
		if (dl >= sizeof dir)
			return ts_error_set(err, TS_EINVAL, "path '%s' is too long", path);
		memcpy(dir, path, dl);
		dir[dl] = '\0';
		base = slash + 1;
	} else {
		snprintf(dir, sizeof dir, ".");
		base = path;
	}
	if (!*base)
		return ts_error_set(err, TS_EINVAL, "'%s' names a directory; give a file name", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ts_error_set(err, TS_EIO, "cannot open directory '%s': %s", dir, strerror(errno));
	rc = ts_file_write_atomic(dfd, dir, base, buf, len, err);
	close(dfd);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Library events                                                           */

/*
 * The library reports events (never a secret) through the context's log
 * callback: errors and warnings always, info and debug with -v. They go to
 * stderr, or to syslog (facility mail) with `log: syslog` in the global
 * configuration.
 *
 * On stderr a warning or error event usually says what the command's own
 * error line is about to say ("refresh failed: ..."), so they wait here
 * until the next line the helper prints, which drops the ones it repeats,
 * or until the command ends (cli_log_flush).
 */
#define LOG_PENDING_MAX 8

static struct {
	int verbose;
	bool syslog;
	int npending;
	ts_log_level level[LOG_PENDING_MAX];
	char msg[LOG_PENDING_MAX][TS_ERRMSG_MAX];
} logst;

static const char *level_name(ts_log_level level)
{
	static const char *names[] = { "error", "warning", "info", "debug" };

	return (unsigned)level < 4 ? names[level] : "log";
}

static void log_print(ts_log_level level, const char *msg)
{
	char line[TS_ERRMSG_MAX];

	snprintf(line, sizeof line, "%s", msg);
	one_line(line);
	fprintf(stderr, "%s: %s: %s\n", CLI_PROG, level_name(level), line);
	fflush(stderr);
}

/* Print the pending events, except those that `line` (a line about token
 * `name`, may be NULL) already says. */
static void log_flush_except(const char *name, const char *line)
{
	char buf[TS_ERRMSG_MAX + 16];
	int i;

	for (i = 0; i < logst.npending; i++) {
		const char *m = cli_unname(buf, sizeof buf, name, logst.msg[i]);

		if (line && (strstr(line, m) || strstr(line, logst.msg[i])))
			continue;
		log_print(logst.level[i], logst.msg[i]);
	}
	logst.npending = 0;
}

void cli_log_flush(void)
{
	log_flush_except(NULL, NULL);
}

static void cli_log(void *arg, ts_log_level level, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	(void)arg;
	if (level > TS_LOG_WARN && !logst.verbose)
		return;
	if (logst.syslog) {
		syslog((unsigned)level < 4 ? prio[level] : LOG_NOTICE, "%s", msg);
		return;
	}
	if (level > TS_LOG_WARN) {
		log_print(level, msg);
		return;
	}
	if (logst.npending == LOG_PENDING_MAX)
		cli_log_flush();
	logst.level[logst.npending] = level;
	snprintf(logst.msg[logst.npending], sizeof logst.msg[0], "%s", msg);
	logst.npending++;
}

/* Send the events of `ctx` where its global configuration says. */
static void log_setup(ts_ctx *ctx, const cli_global *g)
{
	const ts_global_config *cfg = ts_ctx_config(ctx);

	logst.verbose = g->verbose;
	if (cfg && cfg->log == TS_LOG_SYSLOG) {
		cli_log_flush();
		openlog(CLI_PROG, LOG_PID, LOG_MAIL);
		logst.syslog = true;
	}
}

/* ---------------------------------------------------------------------- */
/* Context                                                                  */

int cli_ctx_open(ts_ctx **out, const cli_global *g, unsigned store_flags, const char *name)
{
	ts_open_opts o;
	ts_error err = { 0 };
	int rc;

	memset(&o, 0, sizeof o);
	o.config_path = g->config_path;
	o.store_dir = g->store_dir;
	o.store_flags = store_flags;
	o.log = cli_log;
	o.log_arg = NULL;
	/* Events while opening go to stderr: the configuration is not read yet. */
	logst.verbose = g->verbose;
	rc = ts_ctx_open(out, &o, &err);
	if (rc != TS_OK)
		return cli_err_ts(name, "cannot open the token store", &err);
	log_setup(*out, g);
	return CLI_EXIT_OK;
}

int cli_names_collect(ts_strlist *out, ts_ctx *ctx, char **pos, int npos)
{
	ts_error err = { 0 };
	int i;

	if (npos == 0) {
		if (ts_store_list(ts_ctx_store(ctx), out, &err) != TS_OK)
			return cli_err_ts(NULL, "cannot list tokens", &err);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < npos; i++)
		if (ts_strlist_add(out, pos[i]) != TS_OK)
			return cli_err(NULL, "out of memory");
	return CLI_EXIT_OK;
}
