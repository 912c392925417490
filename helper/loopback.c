/*
 * loopback.c - the RFC 8252 loopback redirect listener of `authorize`.
 *
 * It binds the loopback address of the redirect's host (127.0.0.1 by
 * default; 127.0.0.1 and ::1 for "localhost", which reaches either), serves
 * many connections at once (browsers open speculative connections and ask
 * for /favicon.ico; other local processes may connect too), caps each
 * request at 8 KiB and a few seconds, answers anything that is not the
 * redirect with 400/404 and keeps waiting, and checks `state` before it
 * accepts a code: a redirect with another state gets 400 and the wait goes
 * on.
 * With --no-browser the redirected URL may instead be pasted on stdin;
 * whichever arrives first wins. What the bytes mean (request line, query,
 * state and code) is decided in redirect_parse.c; this file does the I/O.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "redirect_parse.h"

#define REQ_MAX 8192
#define MAX_CONN 64
#define CONN_TIMEOUT_MS 5000
#define WRITE_TIMEOUT_MS 2000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* Opening                                                                  */

/* Which loopback addresses a redirect host name reaches: 127.0.0.1 and
 * [::1] themselves, and for "localhost" both (it may resolve to either;
 * RFC 8252 section 7.3 recommends trying both families). */
enum { LB_NONE = 0, LB_V4 = 1, LB_V6 = 2 };

static int loopback_families(const char *h, size_t n)
{
	if (n == 9 && strncmp(h, "127.0.0.1", 9) == 0)
		return LB_V4;
	if (n == 5 && strncmp(h, "[::1]", 5) == 0)
		return LB_V6;
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return LB_V4 | LB_V6;
	return LB_NONE;
}

/* A listening socket on the loopback address of `family` at `port` (0:
 * ephemeral); *out_port gets the port. -1 with errno on failure. */
static int listen_loopback(int family, int port, int *out_port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd, one = 1, e;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons((uint16_t)port);
		sl = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons((uint16_t)port);
		sl = sizeof *a;
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	*out_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Listen on every family in `fams` at one port: with an ephemeral port the
 * first family picks it and the second must get the same one (retried a
 * few times). The IPv6 listener of "localhost" is best effort: a machine
 * without ::1 keeps the IPv4 one. */
static int listen_families(cli_loopback *lb, int fams, int port)
{
	int tries, p = 0;

	for (tries = 0; tries < 8; tries++) {
		lb->fd = (fams & LB_V4) ? listen_loopback(AF_INET, port, &p) : -1;
		if ((fams & LB_V4) && lb->fd < 0)
			return -1;
		if (!(fams & LB_V6)) {
			lb->port = p;
			return 0;
		}
		lb->fd6 = listen_loopback(AF_INET6, (fams & LB_V4) ? p : port, &p);
		if (lb->fd6 >= 0) {
			lb->port = p;
			return 0;
		}
		if (!(fams & LB_V4))
			return -1;
		if (errno != EADDRINUSE || port != 0) {
			/* No IPv6 loopback here: IPv4 alone. */
			lb->port = p;
			return 0;
		}
		close(lb->fd);
		lb->fd = -1;
	}
	errno = EADDRINUSE;
	return -1;
}

int cli_loopback_open(cli_loopback *lb, int port, const char *configured_uri, ts_error *err)
{
	bool listen_here = true, explicit_port = false;
	const char *host = "127.0.0.1", *hend = host + 9, *path = "/";
	int fams = LB_V4;
	char buf[512];

	memset(lb, 0, sizeof *lb);
	lb->fd = lb->fd6 = -1;
	if (configured_uri && *configured_uri) {
		const char *p = configured_uri;

		if (strncmp(p, "http://", 7) != 0) {
			listen_here = false;
			p = strstr(p, "://");
			p = p ? p + 3 : configured_uri;
		} else {
			p += 7;
		}
		host = p;
		hend = *host == '[' ? host + strcspn(host, "]") + (host[strcspn(host, "]")] ? 1 : 0)
				    : host + strcspn(host, ":/?#");
		path = hend;
		if (*hend == ':') {
			char *end;
			long v = strtol(hend + 1, &end, 10);

			if (end == hend + 1 || v <= 0 || v > 65535)
				return ts_error_set(err, TS_EINVAL, "redirect_uri '%s' has an invalid port; "
						    "fix it with: sasl-oauth2 edit NAME --set redirect_uri=http://127.0.0.1:PORT/",
						    configured_uri);
			if (listen_here)
				port = (int)v;
			explicit_port = true;
			path = end;
		}
		if ((fams = loopback_families(host, (size_t)(hend - host))) == LB_NONE)
			listen_here = false;
		if (explicit_port || !listen_here)
			lb->redirect_uri = strdup(configured_uri);
	}
	lb->path = strndup(*path == '/' ? path : "/", *path == '/' ? strcspn(path, "?#") : 1);
	if (!lb->path || (!listen_here && !lb->redirect_uri)) {
		cli_loopback_close(lb);
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	}
	if (!listen_here)
		return TS_OK;

	if (listen_families(lb, fams, port) != 0) {
		int e = errno;

		cli_loopback_close(lb);
		return ts_error_set(err, TS_EIO, "cannot listen on %.*s:%d for the redirect: %s; "
				    "choose another port with --port N or leave it out",
				    (int)(hend - host), host, port, strerror(e));
	}
	if (!lb->redirect_uri) {
		/* A loopback redirect without a port: the listener's, which
		 * the provider accepts on any port (RFC 8252 section 7.3); the
		 * path stays as registered (Microsoft: http://localhost). */
		snprintf(buf, sizeof buf, "http://%.*s:%d%.*s", (int)(hend - host), host, lb->port,
			 (int)strcspn(path, "?#"), path);
		lb->redirect_uri = strdup(buf);
		if (!lb->redirect_uri) {
			cli_loopback_close(lb);
			return ts_error_set(err, TS_ENOMEM, "out of memory");
		}
	}
	return TS_OK;
}

void cli_loopback_close(cli_loopback *lb)
{
	if (lb->fd >= 0)
		close(lb->fd);
	if (lb->fd6 >= 0)
		close(lb->fd6);
	lb->fd = lb->fd6 = -1;
	free(lb->redirect_uri);
	free(lb->path);
	lb->redirect_uri = NULL;
	lb->path = NULL;
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                     */

/*
 * A connection reads its request head, then writes its answer without ever
 * blocking the loop: the answer waits in `out` for POLLOUT until its own
 * deadline. A peer that never sends (or never reads) costs one slot for a
 * few seconds, and when every slot is taken the connection idle for the
 * longest is dropped for the newcomer, so local processes holding
 * connections open cannot keep the browser's redirect out.
 */
typedef struct conn {
	int fd;
	bool writing;               /* the answer is queued in out */
	size_t len;                 /* bytes of the request head in buf */
	size_t out_len, out_off;
	int64_t deadline;           /* for the request head, then for the answer */
	int64_t last_active;
	char buf[REQ_MAX + 1];
	char out[1024];
} conn;

static void conn_close(conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	ts_wipe(c->buf, c->len);
	c->fd = -1;
	c->len = 0;
	c->writing = false;
	c->out_len = c->out_off = 0;
}

/* Send what the socket takes now; close when all is sent or on error. */
static void conn_flush(conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			c->out_off += (size_t)w;
			c->last_active = now_ms();
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			conn_close(c);
			return;
		}
	}
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

/* Queue the answer and start sending it; the request head is wiped now. */
static void respond(conn *c, int status, const char *reason, const char *body)
{
	int n = snprintf(c->out, sizeof c->out,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s",
			 status, reason, strlen(body), body);

	ts_wipe(c->buf, c->len);
	c->len = 0;
	c->writing = true;
	c->out_off = 0;
	c->out_len = n > 0 && (size_t)n < sizeof c->out ? (size_t)n : 0;
	c->deadline = now_ms() + WRITE_TIMEOUT_MS;
	conn_flush(c);
}

/* A free slot for a new connection: an empty one, else the one idle for
 * the longest, dropped. */
static conn *conn_slot(conn *conns)
{
	conn *oldest = &conns[0];

	for (int i = 0; i < MAX_CONN; i++) {
		if (conns[i].fd < 0)
			return &conns[i];
		if (conns[i].last_active < oldest->last_active)
			oldest = &conns[i];
	}
	conn_close(oldest);
	return oldest;
}

/* Handle a complete request head. Returns 1 when the wait is over
 * (*rc set), 0 to keep waiting. */
static int handle_request(conn *c, const cli_loopback *lb, const char *state, char **out,
			  int *rc, int *forged, ts_error *err)
{
	cli_redirect_params rp;
	char page[512];

	switch (cli_redirect_parse_request(&rp, c->buf, c->len, lb->path)) {
	case CLI_REQ_NO_METHOD:
		respond(c, 400, "Bad Request", "sasl-oauth2: only GET of the redirect is served here.\n");
		return 0;
	case CLI_REQ_METHOD:
		respond(c, 405, "Method Not Allowed",
			"sasl-oauth2: only GET of the redirect is served here.\n");
		return 0;
	case CLI_REQ_BAD:
		respond(c, 400, "Bad Request", "sasl-oauth2: bad request.\n");
		return 0;
	case CLI_REQ_NOT_FOUND:
		respond(c, 404, "Not Found", "sasl-oauth2: not found.\n");
		return 0;
	case CLI_REQ_NO_PARAMS:
		respond(c, 400, "Bad Request",
			"sasl-oauth2: this address receives the authorization redirect; "
			"no authorization response in this request.\n");
		return 0;
	case CLI_REQ_NOMEM:
		*rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		respond(c, 500, "Internal Server Error", "sasl-oauth2: out of memory.\n");
		return 1;
	case CLI_REQ_REDIRECT:
		break;
	}
	if (!cli_redirect_state_ok(&rp, state)) {
		/* A stale tab or another local process: not the answer to this
		 * request, so it cannot end the wait either. */
		cli_redirect_params_clear(&rp);
		(*forged)++;
		respond(c, 400, "Bad Request",
			"sasl-oauth2: the state parameter does not match the authorization in progress "
			"(an old or forged redirect); ignored.\n");
		return 0;
	}
	*rc = cli_redirect_judge(out, &rp, state, page, sizeof page, err);
	cli_redirect_params_clear(&rp);
	if (*rc == TS_OK)
		respond(c, 200, "OK", page);
	else
		respond(c, 400, "Bad Request", page);
	return 1;
}

/* A pasted line: the whole redirected URL, or just its query. Returns 1
 * when the wait is over, 0 when the line was not a redirect. */
static int handle_paste(const char *line, size_t len, const char *state, char **out, int *rc,
			ts_error *err)
{
	cli_redirect_params rp;
	char page[512];
	size_t blank = strspn(line, " \t");
	int found;

	if (blank >= len || line[blank] == '\0')
		return 0;
	found = cli_redirect_parse_paste(&rp, line, len);
	if (found <= 0) {
		if (found < 0) {
			*rc = ts_error_set(err, TS_ENOMEM, "out of memory");
			return 1;
		}
		fprintf(stderr, "%s: that is not the redirected URL; paste the whole address "
			"(it contains code= and state=)\n", CLI_PROG);
		return 0;
	}
	if (!cli_redirect_state_ok(&rp, state)) {
		cli_redirect_params_clear(&rp);
		fprintf(stderr, "%s: that URL answers another authorization request (its state does not "
			"match); paste the address the browser shows after this one\n", CLI_PROG);
		return 0;
	}
	*rc = cli_redirect_judge(out, &rp, state, page, sizeof page, err);
	cli_redirect_params_clear(&rp);
	return 1;
}

int cli_loopback_wait(char **out, cli_loopback *lb, const char *state, bool read_stdin,
		      int timeout_s, ts_error *err)
{
	conn *conns = NULL;
	char line[REQ_MAX + 1];
	size_t llen = 0;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	int rc = TS_ERR, i, forged = 0;
	bool done = false, stdin_open = read_stdin;

	*out = NULL;
	if (lb->fd < 0 && lb->fd6 < 0 && !read_stdin)
		return ts_error_set(err, TS_EINVAL, "no listener for the redirect and no standard input to read it "
				    "from; use --no-browser and paste the redirected URL");
	conns = calloc(MAX_CONN, sizeof *conns);
	if (!conns)
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	for (i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;

	while (!done) {
		struct pollfd pfd[MAX_CONN + 3];
		int idx[MAX_CONN + 3];
		int np = 0, wait_ms, n;
		int64_t t = now_ms(), next = deadline;

		if (t >= deadline) {
			if (forged)
				rc = ts_error_set(err, TS_EEXPIRED, "no authorization response within %d s "
						  "(%d redirect%s with a wrong state ignored: an old browser tab "
						  "or a forgery); run authorize again", timeout_s, forged,
						  forged == 1 ? "" : "s");
			else
				rc = ts_error_set(err, TS_EEXPIRED, "no authorization response within %d s; "
						  "run authorize again (or raise --timeout)", timeout_s);
			break;
		}
		if (!stdin_open && lb->fd < 0 && lb->fd6 < 0) {
			rc = ts_error_set(err, TS_EINVAL, "standard input ended before a redirected URL was pasted; "
					  "run authorize again");
			break;
		}
		if (lb->fd >= 0) {
			pfd[np] = (struct pollfd){ .fd = lb->fd, .events = POLLIN };
			idx[np++] = -1;
		}
		if (lb->fd6 >= 0) {
			pfd[np] = (struct pollfd){ .fd = lb->fd6, .events = POLLIN };
			idx[np++] = -1;
		}
		if (stdin_open) {
			pfd[np] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
			idx[np++] = -2;
		}
		for (i = 0; i < MAX_CONN; i++) {
			if (conns[i].fd < 0)
				continue;
			if (conns[i].deadline <= t) {
				if (conns[i].writing)
					conn_close(&conns[i]);
				else
					respond(&conns[i], 408, "Request Timeout", "sasl-oauth2: request timeout.\n");
				if (conns[i].fd < 0)
					continue;
			}
			if (conns[i].deadline < next)
				next = conns[i].deadline;
			pfd[np] = (struct pollfd){ .fd = conns[i].fd,
						   .events = conns[i].writing ? POLLOUT : POLLIN };
			idx[np++] = i;
		}
		wait_ms = (int)(next - t);
		if (wait_ms < 0)
			wait_ms = 0;
		n = poll(pfd, (nfds_t)np, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ts_error_set(err, TS_EIO, "waiting for the redirect failed: %s", strerror(errno));
			break;
		}
		for (int k = 0; k < np && !done; k++) {
			if (!pfd[k].revents)
				continue;
			if (idx[k] == -1) {
				int cfd = accept4(pfd[k].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				conn *c;

				if (cfd < 0)
					continue;
				/* The slots of this round's poll stay valid: an evicted
				 * slot is refilled, and its new fd simply has no revents. */
				c = conn_slot(conns);
				c->fd = cfd;
				c->len = 0;
				c->writing = false;
				c->last_active = now_ms();
				c->deadline = c->last_active + CONN_TIMEOUT_MS;
			} else if (idx[k] == -2) {
				ssize_t r = read(STDIN_FILENO, line + llen, sizeof line - 1 - llen);

				if (r <= 0) {
					if (r < 0 && errno == EINTR)
						continue;
					stdin_open = false;
					if (llen == 0)
						continue;
					r = 0;
					line[llen++] = '\n';
				}
				llen += (size_t)r;
				for (;;) {
					char *nl = memchr(line, '\n', llen);
					size_t used;

					if (!nl) {
						if (llen >= sizeof line - 1) {
							fprintf(stderr, "%s: pasted line too long; ignored\n", CLI_PROG);
							ts_wipe(line, llen);
							llen = 0;
						}
						break;
					}
					*nl = '\0';
					used = (size_t)(nl - line) + 1;
					if (handle_paste(line, (size_t)(nl - line), state, out, &rc, err)) {
						done = true;
						break;
					}
					ts_wipe(line, used);
					memmove(line, line + used, llen - used);
					llen -= used;
				}
			} else {
				conn *c = &conns[idx[k]];
				ssize_t r;

				if (c->fd != pfd[k].fd)
					continue;       /* evicted and reused this round */
				if (c->writing) {
					conn_flush(c);
					continue;
				}
				r = recv(c->fd, c->buf + c->len, REQ_MAX - c->len, 0);
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					conn_close(c);
					continue;
				}
				if (r < 0)
					continue;
				c->last_active = now_ms();
				c->len += (size_t)r;
				c->buf[c->len] = '\0';
				if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
					if (handle_request(c, lb, state, out, &rc, &forged, err))
						done = true;
				} else if (c->len >= REQ_MAX) {
					respond(c, 431, "Request Header Fields Too Large",
						"sasl-oauth2: request too large.\n");
				}
			}
		}
	}
	for (i = 0; i < MAX_CONN; i++) {
		/* The browser's final answer gets one more moment to leave. */
		if (conns[i].fd >= 0 && conns[i].writing) {
			struct pollfd pf = { .fd = conns[i].fd, .events = POLLOUT };

			if (poll(&pf, 1, 200) > 0)
				conn_flush(&conns[i]);
		}
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	}
	free(conns);
	ts_wipe(line, sizeof line);
	if (rc != TS_OK) {
		ts_free_secret(*out);
		*out = NULL;
	}
	return rc;
}
