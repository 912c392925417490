/*
 * cmd_status.c - what state each token is in (shared by list, show and
 * status), the status command with its monitoring exit codes, and
 * notify_command, run once per new transition into token_expired,
 * refresh_token_expired or refresh_failed.
 *
 * The transitions already reported are remembered in the state's
 * `notified` bits, changed only under the token's lock, so two status runs
 * at once (cron and a user) report a transition once.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"


void cli_status_clear(cli_status *st)
{
	ts_token_config_free(st->config);
	ts_token_effective_free(st->eff);
	ts_state_free(st->state);
	st->config = NULL;
	st->eff = NULL;
	st->state = NULL;
}

static void set_text(cli_status *st, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_text(cli_status *st, int level, const char *fmt, ...)
{
	va_list ap;

	/* The first reason of the worst level wins the text; the events
	 * keep every condition. */
	if (level < st->level || (level == st->level && st->text[0]))
		return;
	st->level = level;
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof st->text, fmt, ap);
	va_end(ap);
}

void cli_status_eval(cli_status *st, ts_ctx *ctx, const char *name)
{
	ts_error err = { 0 };
	int64_t now = ts_now(), margin;
	const ts_state *s;
	char rel[64], why[TS_ERRMSG_MAX + 16];
	int rc;

	memset(st, 0, sizeof *st);
	if (ts_store_load_config(ts_ctx_store(ctx), name, &st->config, &err) != TS_OK) {
		st->broken = true;
		if (err.code == TS_ENOTFOUND)
			set_text(st, 2, "%s", cli_unname(why, sizeof why, name, err.msg));
		else
			set_text(st, 2, "invalid configuration: %s", cli_unname(why, sizeof why, name, err.msg));
		snprintf(st->detail, sizeof st->detail, "%s", err.msg);
		return;
	}
	if (ts_token_resolve(&st->eff, ctx, st->config, &err) != TS_OK) {
		st->broken = true;
		set_text(st, 2, "invalid configuration: %s", cli_unname(why, sizeof why, name, err.msg));
		snprintf(st->detail, sizeof st->detail, "%s", err.msg);
		return;
	}
	rc = ts_store_load_state(ts_ctx_store(ctx), name, &st->state, &err);
	if (rc == TS_ENOTFOUND) {
		st->refreshable = st->eff->flow == TS_FLOW_CLIENT_CREDENTIALS ||
				  st->eff->flow == TS_FLOW_JWT_BEARER;
		if (st->eff->validity != TS_VALIDITY_VALID)
			set_text(st, 2, "invalid (validity: %s)", ts_validity_str(st->eff->validity));
		else
			set_text(st, 2, "not authorized%s", "");
		snprintf(st->detail, sizeof st->detail, "run: %s authorize %s", CLI_PROG, name);
		return;
	}
	if (rc != TS_OK) {
		st->broken = true;
		st->state = NULL;
		set_text(st, 2, "invalid state: %s", cli_unname(why, sizeof why, name, err.msg));
		snprintf(st->detail, sizeof st->detail, "%s", err.msg);
		return;
	}
	s = st->state;
	margin = st->eff->refresh_margin;

	if (st->eff->validity != TS_VALIDITY_VALID) {
		set_text(st, 2, "invalid (validity: %s)", ts_validity_str(st->eff->validity));
		snprintf(st->detail, sizeof st->detail, "validity is %s", ts_validity_str(st->eff->validity));
	}

	if (st->eff->flow == TS_FLOW_CLIENT_CREDENTIALS || st->eff->flow == TS_FLOW_JWT_BEARER)
		st->refreshable = true;
	else if (s->refresh_token && !s->refresh_token_dead &&
		 !(s->refresh_expires_at > 0 && s->refresh_expires_at <= now))
		st->refreshable = true;

	if (s->refresh_token_dead) {
		bool expired = s->refresh_expires_at > 0 && s->refresh_expires_at <= now;

		st->events |= TS_NOTIFY_REFRESH_TOKEN_EXPIRED;
		set_text(st, 2, expired ? "refresh token expired%s" : "refresh token revoked%s", "");
		snprintf(st->detail, sizeof st->detail, "%s", s->last_error ? s->last_error :
			 expired ? "refresh token expired" : "refresh token revoked");
	} else if (s->refresh_token && s->refresh_expires_at > 0 && s->refresh_expires_at <= now) {
		st->events |= TS_NOTIFY_REFRESH_TOKEN_EXPIRED;
		set_text(st, 2, "refresh token expired%s", "");
		snprintf(st->detail, sizeof st->detail, "refresh token expired at %s",
			 cli_fmt_time(rel, sizeof rel, s->refresh_expires_at));
	} else if (s->last_error && s->last_attempt >= s->last_refresh) {
		st->events |= TS_NOTIFY_REFRESH_FAILED;
		set_text(st, 2, "refresh failed: %s", cli_unname(why, sizeof why, name, s->last_error));
		snprintf(st->detail, sizeof st->detail, "%s", s->last_error);
	}

	/* token_expired is the access token running out with no way to get
	 * another one; a dead refresh token is already reported above. */
	if (!st->refreshable && !(st->events & TS_NOTIFY_REFRESH_TOKEN_EXPIRED)) {
		if (s->access_token && s->expires_at > 0 && s->expires_at <= now) {
			st->events |= TS_NOTIFY_TOKEN_EXPIRED;
			set_text(st, 2, "token expired%s", "");
			if (!st->detail[0])
				snprintf(st->detail, sizeof st->detail,
					 "access token expired at %s and cannot be refreshed",
					 cli_fmt_time(rel, sizeof rel, s->expires_at));
		} else if (!s->access_token) {
			set_text(st, 2, "not authorized%s", "");
		} else if (s->access_rejected) {
			st->events |= TS_NOTIFY_TOKEN_EXPIRED;
			set_text(st, 2, "token expired%s", " (rejected by the server)");
			snprintf(st->detail, sizeof st->detail, "%s", "the server rejected the access token");
		} else if (s->expires_at > 0 && s->expires_at - now <= margin) {
			set_text(st, 1, "token expires %s",
				 cli_fmt_rel(rel, sizeof rel, s->expires_at, now));
		}
	}
	if (st->refreshable && s->refresh_token && s->refresh_expires_at > now &&
	    s->refresh_expires_at - now <= CLI_REFRESH_WARN_SECONDS)
		set_text(st, 1, "refresh token expires %s",
			 cli_fmt_rel(rel, sizeof rel, s->refresh_expires_at, now));
	if (st->level == 0) {
		if (s->access_token && s->expires_at > 0 && s->expires_at <= now)
			snprintf(st->text, sizeof st->text, "ok (access token expired; will be refreshed)");
		else
			snprintf(st->text, sizeof st->text, "ok");
	}
}

/* ---------------------------------------------------------------------- */
/* notify_command                                                           */

/* Run notify_command for one event, for at most `timeout` seconds: a hung
 * notifier (and whatever it started in its process group) is killed, so
 * status never hangs on it. Returns the exit status, 128+signal, -1 when
 * it could not be run, or -2 when it was killed for running too long. */
static int run_notify(const char *cmd, const char *name, unsigned ev, const char *detail,
		      long timeout)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	long waited_ms = 0;
	pid_t pid, r;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Its own process group, so a timeout stops all it started. */
		setpgid(0, 0);
		/* Its output must not mix with ours (status --json). */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		if (setenv("SASL_OAUTH2_TOKEN", name, 1) != 0 ||
		    setenv("SASL_OAUTH2_EVENT", ts_notify_event_str(ev), 1) != 0 ||
		    setenv("SASL_OAUTH2_DETAIL", detail ? detail : "", 1) != 0)
			_exit(127);
		cli_child_restore_limits();
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited_ms >= timeout * 1000) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -2;
		}
		nanosleep(&tick, NULL);
		waited_ms += 20;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Report new transitions of token `name` and forget ended ones. The
 * bits are claimed under the lock and the commands run after it is
 * released, so a slow notify_command never holds up a mail program that
 * needs to refresh this token; a second status run at the same time sees
 * the bits already claimed and stays quiet. */
static void notify_token(ts_ctx *ctx, const char *name, const cli_status *st)
{
	const char *cmd = ts_ctx_config(ctx)->notify_command;
	ts_store *store = ts_ctx_store(ctx);
	ts_lock *lk = NULL;
	ts_state *s = NULL;
	ts_error err = { 0 };
	char why[TS_ERRMSG_MAX + 16];
	unsigned mask, fresh = 0, keep, bit;

	if (!cmd || !*cmd || !st->eff || !st->state)
		return;
	mask = st->eff->notify;
	/* Nothing to report and nothing to forget: no lock needed. */
	if ((st->events & mask & ~st->state->notified) == 0 &&
	    (st->state->notified & ~st->events) == 0)
		return;
	if (ts_store_lock(store, name, ts_lock_wait_ms(ts_ctx_config(ctx)), &lk, &err) != TS_OK) {
		cli_warn(name, "notification skipped: %s", cli_unname(why, sizeof why, name, err.msg));
		return;
	}
	if (ts_store_load_state(store, name, &s, &err) != TS_OK) {
		ts_store_unlock(store, lk);
		cli_warn(name, "notification skipped: %s", cli_unname(why, sizeof why, name, err.msg));
		return;
	}
	fresh = st->events & mask & ~s->notified;
	keep = s->notified & st->events;
	if ((keep | fresh) != s->notified) {
		s->notified = keep | fresh;
		if (ts_store_save_state(store, name, s, &err) != TS_OK) {
			/* Not recorded: report nothing rather than repeat it on
			 * every run. */
			cli_warn(name, "notification skipped: cannot record it: %s",
				 cli_unname(why, sizeof why, name, err.msg));
			fresh = 0;
		}
	}
	ts_state_free(s);
	ts_store_unlock(store, lk);

	for (bit = 1; bit <= TS_NOTIFY_REFRESH_FAILED; bit <<= 1) {
		int rc;

		if (!(fresh & bit))
			continue;
		rc = run_notify(cmd, name, bit, st->detail, ts_ctx_config(ctx)->notify_timeout);
		if (rc == -2)
			cli_warn(name, "notify_command for %s still ran after %ld s (notify_timeout) "
				 "and was stopped; make it finish sooner or raise notify_timeout",
				 ts_notify_event_str(bit), ts_ctx_config(ctx)->notify_timeout);
		else if (rc != 0)
			cli_warn(name, "notify_command for %s exited with status %d",
				 ts_notify_event_str(bit), rc);
	}
}

/* ---------------------------------------------------------------------- */
/* status                                                                   */

enum { O_JSON = 1, O_REFRESH };

/* Refresh a token when its access token is due (status --refresh). */
static void refresh_if_due(ts_ctx *ctx, const char *name)
{
	cli_status st;
	ts_error err = { 0 };
	char *tok = NULL;
	int64_t now = ts_now();

	cli_status_eval(&st, ctx, name);
	if (st.eff && st.refreshable && st.eff->validity == TS_VALIDITY_VALID &&
	    (!st.state || !st.state->access_token || st.state->access_rejected ||
	     (st.state->expires_at > 0 && st.state->expires_at - now <= st.eff->refresh_margin))) {
		char why[TS_ERRMSG_MAX + 16];

		if (ts_token_get_access(&tok, NULL, ctx, name, 0, &err) != TS_OK)
			cli_warn(name, "refresh failed: %s", cli_unname(why, sizeof why, name, err.msg));
		ts_free_secret(tok);
	}
	cli_status_clear(&st);
}

int cmd_status(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "json", 0, false, O_JSON },
		{ "refresh", 0, false, O_REFRESH },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	bool json = false, refresh = false;
	int id, rc = CLI_EXIT_FAIL, worst = 0;
	ts_ctx *ctx = NULL;
	ts_strlist names = { 0 };
	json_object *arr = NULL;

	if (cli_parser_init(&p, "status", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_JSON)
			json = true;
		else
			refresh = true;
	}
	if ((rc = cli_names_check(&p, id)) != CLI_GO_ON) {
		/* An invalid name is a failure of the check: status 2. */
		if (rc == CLI_EXIT_FAIL)
			rc = 2;
		goto cleanup;
	}
	if (cli_ctx_open(&ctx, g, 0, NULL) != CLI_EXIT_OK ||
	    cli_names_collect(&names, ctx, p.pos, p.npos) != CLI_EXIT_OK) {
		rc = 2;
		goto cleanup;
	}
	if (refresh)
		for (size_t k = 0; k < names.n; k++)
			refresh_if_due(ctx, names.v[k]);

	arr = json_object_new_array();
	for (size_t k = 0; k < names.n; k++) {
		cli_status st;
		json_object *o, *ev;
		unsigned bit;

		cli_status_eval(&st, ctx, names.v[k]);
		if (st.broken && st.config == NULL && p.npos > 0) {
			/* A named token that does not exist is an error line. */
			cli_err(names.v[k], "%s", st.text);
		}
		if (st.level > worst)
			worst = st.level;
		if (json) {
			o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(names.v[k]));
			json_object_object_add(o, "status", json_object_new_string(st.text));
			json_object_object_add(o, "level", json_object_new_int(st.level));
			ev = json_object_new_array();
			for (bit = 1; bit <= TS_NOTIFY_REFRESH_FAILED; bit <<= 1)
				if (st.events & bit)
					json_object_array_add(ev, json_object_new_string(ts_notify_event_str(bit)));
			json_object_object_add(o, "events", ev);
			json_object_object_add(o, "expires_at",
					       json_object_new_int64(st.state ? st.state->expires_at : 0));
			json_object_object_add(o, "refresh_expires_at",
					       json_object_new_int64(st.state ? st.state->refresh_expires_at : 0));
			json_object_array_add(arr, o);
		} else {
			printf("%s: %s\n", names.v[k], st.text);
		}
		notify_token(ctx, names.v[k], &st);
		cli_status_clear(&st);
	}
	if (json)
		fputs(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE), stdout), fputc('\n', stdout);
	else if (names.n == 0)
		printf("no tokens\n");
	if (fflush(stdout) != 0) {
		cli_err(NULL, "cannot write to standard output");
		worst = 2;
	}
	rc = worst;
cleanup:
	json_object_put(arr);
	ts_strlist_clear(&names);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
