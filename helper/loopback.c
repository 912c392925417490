/*
 * loopback.c - the RFC 8252 loopback redirect listener of `authorize`.
 *
 * It binds 127.0.0.1 only, serves a few connections at once (browsers open
 * speculative connections and ask for /favicon.ico), caps each request at
 * 8 KiB and a few seconds, answers anything that is not the redirect with
 * 400/404 and keeps waiting, and checks `state` before it accepts a code.
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
#define MAX_CONN 8
#define CONN_TIMEOUT_MS 5000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* Opening                                                                  */

static bool is_loopback_host(const char *h, size_t n)
{
	return (n == 9 && strncmp(h, "127.0.0.1", 9) == 0) ||
	       (n == 9 && strncasecmp(h, "localhost", 9) == 0);
}

int cli_loopback_open(cli_loopback *lb, int port, const char *configured_uri, ts_error *err)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	bool listen_here = true;
	int fd = -1, one = 1;
	char buf[64];

	memset(lb, 0, sizeof *lb);
	lb->fd = -1;
	if (configured_uri && *configured_uri) {
		const char *p = configured_uri, *host, *hend, *path;

		if (strncmp(p, "http://", 7) != 0) {
			listen_here = false;
			p = strstr(p, "://");
			p = p ? p + 3 : configured_uri;
		} else {
			p += 7;
		}
		host = p;
		hend = host + strcspn(host, ":/?#");
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
			path = end;
		} else if (listen_here) {
			port = 80;
		}
		if (!is_loopback_host(host, (size_t)(hend - host)))
			listen_here = false;
		lb->redirect_uri = strdup(configured_uri);
		lb->path = strndup(*path == '/' ? path : "/", *path == '/' ? strcspn(path, "?#") : 1);
	} else {
		lb->path = strdup("/");
	}
	if (!lb->path || (configured_uri && *configured_uri && !lb->redirect_uri)) {
		cli_loopback_close(lb);
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	}
	if (!listen_here)
		return TS_OK;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		cli_loopback_close(lb);
		return ts_error_set(err, TS_EIO, "cannot create the redirect listener: %s", strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		int e = errno;

		close(fd);
		cli_loopback_close(lb);
		return ts_error_set(err, TS_EIO, "cannot listen on 127.0.0.1:%d for the redirect: %s; "
				    "choose another port with --port N or leave it out", port, strerror(e));
	}
	lb->fd = fd;
	lb->port = ntohs(sa.sin_port);
	if (!lb->redirect_uri) {
		snprintf(buf, sizeof buf, "http://127.0.0.1:%d/", lb->port);
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
	lb->fd = -1;
	free(lb->redirect_uri);
	free(lb->path);
	lb->redirect_uri = NULL;
	lb->path = NULL;
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                     */

typedef struct conn {
	int fd;
	size_t len;
	int64_t deadline;
	char buf[REQ_MAX + 1];
} conn;

static void send_all(int fd, const char *p, size_t n)
{
	int64_t deadline = now_ms() + 2000;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			int64_t left = deadline - now_ms();

			if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
				return;
		} else {
			return;
		}
	}
}

static void respond(conn *c, int status, const char *reason, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, reason, strlen(body));

	if (n > 0 && (size_t)n < sizeof head)
		send_all(c->fd, head, (size_t)n);
	send_all(c->fd, body, strlen(body));
	shutdown(c->fd, SHUT_WR);
	close(c->fd);
	ts_wipe(c->buf, c->len);
	c->fd = -1;
	c->len = 0;
}

/* Handle a complete request head. Returns 1 when the wait is over
 * (*rc set), 0 to keep waiting. */
static int handle_request(conn *c, const cli_loopback *lb, const char *state, char **out,
			  int *rc, ts_error *err)
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
	int rc = TS_ERR, i;
	bool done = false, stdin_open = read_stdin;

	*out = NULL;
	if (lb->fd < 0 && !read_stdin)
		return ts_error_set(err, TS_EINVAL, "no listener for the redirect and no standard input to read it "
				    "from; use --no-browser and paste the redirected URL");
	conns = calloc(MAX_CONN, sizeof *conns);
	if (!conns)
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	for (i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;

	while (!done) {
		struct pollfd pfd[MAX_CONN + 2];
		int idx[MAX_CONN + 2];
		int np = 0, wait_ms, n;
		int64_t t = now_ms(), next = deadline;

		if (t >= deadline) {
			rc = ts_error_set(err, TS_EEXPIRED, "no authorization response within %d s; "
					  "run authorize again (or raise --timeout)", timeout_s);
			break;
		}
		if (!stdin_open && lb->fd < 0) {
			rc = ts_error_set(err, TS_EINVAL, "standard input ended before a redirected URL was pasted; "
					  "run authorize again");
			break;
		}
		if (lb->fd >= 0) {
			pfd[np] = (struct pollfd){ .fd = lb->fd, .events = POLLIN };
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
				respond(&conns[i], 408, "Request Timeout", "sasl-oauth2: request timeout.\n");
				continue;
			}
			if (conns[i].deadline < next)
				next = conns[i].deadline;
			pfd[np] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
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
				int cfd = accept4(lb->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (cfd < 0)
					continue;
				for (i = 0; i < MAX_CONN && conns[i].fd >= 0; i++)
					;
				if (i == MAX_CONN) {
					conn tmp = { .fd = cfd };
					respond(&tmp, 503, "Service Unavailable", "sasl-oauth2: busy.\n");
					continue;
				}
				conns[i].fd = cfd;
				conns[i].len = 0;
				conns[i].deadline = now_ms() + CONN_TIMEOUT_MS;
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
				ssize_t r = recv(c->fd, c->buf + c->len, REQ_MAX - c->len, 0);

				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					close(c->fd);
					c->fd = -1;
					ts_wipe(c->buf, c->len);
					c->len = 0;
					continue;
				}
				if (r < 0)
					continue;
				c->len += (size_t)r;
				c->buf[c->len] = '\0';
				if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
					if (handle_request(c, lb, state, out, &rc, err))
						done = true;
				} else if (c->len >= REQ_MAX) {
					respond(c, 431, "Request Header Fields Too Large",
						"sasl-oauth2: request too large.\n");
				}
			}
		}
	}
	for (i = 0; i < MAX_CONN; i++)
		if (conns[i].fd >= 0) {
			close(conns[i].fd);
			ts_wipe(conns[i].buf, conns[i].len);
		}
	free(conns);
	ts_wipe(line, sizeof line);
	if (rc != TS_OK) {
		ts_free_secret(*out);
		*out = NULL;
	}
	return rc;
}
