/*
 * loopback.c - the RFC 8252 loopback redirect listener of `authorize`.
 *
 * It binds 127.0.0.1 only, serves a few connections at once (browsers open
 * speculative connections and ask for /favicon.ico), caps each request at
 * 8 KiB and a few seconds, answers anything that is not the redirect with
 * 400/404 and keeps waiting, and checks `state` before it accepts a code.
 * With --no-browser the redirected URL may instead be pasted on stdin;
 * whichever arrives first wins.
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
/* The redirect's query                                                     */

typedef struct redirect_params {
	char *code;                 /* secret */
	char *state;
	char *error;
	char *error_description;
} redirect_params;

static void params_clear(redirect_params *rp)
{
	ts_free_secret(rp->code);
	free(rp->state);
	free(rp->error);
	free(rp->error_description);
	memset(rp, 0, sizeof *rp);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode `n` bytes of `s` into a new string ('+' is a space). */
static char *url_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
			   hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Parse "a=b&c=d" (stopping at '#', whitespace or the end). Returns the
 * number of known parameters found, -1 on allocation failure. */
static int parse_query(redirect_params *rp, const char *q)
{
	int found = 0;

	while (*q && *q != '#' && *q != ' ' && *q != '\r' && *q != '\n') {
		size_t n = strcspn(q, "&# \r\n");
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		char **slot = NULL;

		if (kl == 4 && strncmp(q, "code", 4) == 0)
			slot = &rp->code;
		else if (kl == 5 && strncmp(q, "state", 5) == 0)
			slot = &rp->state;
		else if (kl == 5 && strncmp(q, "error", 5) == 0)
			slot = &rp->error;
		else if (kl == 17 && strncmp(q, "error_description", 17) == 0)
			slot = &rp->error_description;
		if (slot && eq) {
			char *v = url_decode(eq + 1, n - kl - 1);

			if (!v)
				return -1;
			if (*slot)
				ts_free_secret(*slot);
			*slot = v;
			found++;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return found;
}

static bool str_eq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* Printable, bounded copy of provider text for messages. */
static void clean_text(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < size; src++)
		dst[i++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? ' ' : *src;
	dst[i] = '\0';
}

/* Judge a complete redirect. TS_OK moves the code to *out. `page` gets the
 * text for the browser. */
static int judge(char **out, redirect_params *rp, const char *state, char *page, size_t psize,
		 ts_error *err)
{
	char e[128], d[256];

	if (!rp->state || !str_eq_ct(rp->state, state)) {
		snprintf(page, psize, "sasl-oauth2: authorization failed: the state parameter does not match "
			 "this request. Nothing was stored; run sasl-oauth2 authorize again.\n");
		return ts_error_set(err, TS_EINVAL, "the redirect's state does not match this authorization "
				    "request (a stale or forged redirect); nothing stored; run authorize again");
	}
	if (rp->error) {
		clean_text(e, sizeof e, rp->error);
		clean_text(d, sizeof d, rp->error_description);
		if (strcmp(rp->error, "access_denied") == 0) {
			snprintf(page, psize, "sasl-oauth2: authorization was denied. Nothing was stored.\n");
			return ts_error_set(err, TS_EDENIED, "authorization denied at the provider (access_denied%s%s); "
					    "nothing stored; run authorize again and grant access",
					    d[0] ? ": " : "", d);
		}
		snprintf(page, psize, "sasl-oauth2: authorization failed: %s. Nothing was stored.\n", e);
		return ts_error_set(err, TS_EINVAL, "the provider refused the authorization (%s%s%s); "
				    "check the token's client_id, scope and redirect_uri", e, d[0] ? ": " : "", d);
	}
	if (!rp->code || !*rp->code) {
		snprintf(page, psize, "sasl-oauth2: authorization failed: the redirect carries no code.\n");
		return ts_error_set(err, TS_EINVAL, "the redirect carries no authorization code; run authorize again");
	}
	snprintf(page, psize, "sasl-oauth2: authorization received. You can close this window; "
		 "the terminal shows the result.\n");
	*out = rp->code;
	rp->code = NULL;
	return TS_OK;
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
	char *sp1, *sp2, *target, *q;
	size_t plen;
	redirect_params rp = { 0 };
	char page[512];
	int found;

	c->buf[c->len] = '\0';
	sp1 = strchr(c->buf, ' ');
	if (!sp1 || (size_t)(sp1 - c->buf) != 3 || strncmp(c->buf, "GET", 3) != 0) {
		respond(c, sp1 ? 405 : 400, sp1 ? "Method Not Allowed" : "Bad Request",
			"sasl-oauth2: only GET of the redirect is served here.\n");
		return 0;
	}
	target = sp1 + 1;
	sp2 = strpbrk(target, " \r\n");
	if (!sp2) {
		respond(c, 400, "Bad Request", "sasl-oauth2: bad request.\n");
		return 0;
	}
	*sp2 = '\0';
	q = strchr(target, '?');
	plen = q ? (size_t)(q - target) : strlen(target);
	if (plen != strlen(lb->path) || strncmp(target, lb->path, plen) != 0) {
		respond(c, 404, "Not Found", "sasl-oauth2: not found.\n");
		return 0;
	}
	found = q ? parse_query(&rp, q + 1) : 0;
	if (found < 0) {
		params_clear(&rp);
		*rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		respond(c, 500, "Internal Server Error", "sasl-oauth2: out of memory.\n");
		return 1;
	}
	if (found == 0) {
		params_clear(&rp);
		respond(c, 400, "Bad Request",
			"sasl-oauth2: this address receives the authorization redirect; "
			"no authorization response in this request.\n");
		return 0;
	}
	*rc = judge(out, &rp, state, page, sizeof page, err);
	params_clear(&rp);
	if (*rc == TS_OK)
		respond(c, 200, "OK", page);
	else
		respond(c, 400, "Bad Request", page);
	return 1;
}

/* A pasted line: the whole redirected URL, or just its query. Returns 1
 * when the wait is over, 0 when the line was not a redirect. */
static int handle_paste(char *line, const char *state, char **out, int *rc, ts_error *err)
{
	redirect_params rp = { 0 };
	char page[512];
	char *q = strchr(line, '?');
	int found;

	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line)
		return 0;
	found = parse_query(&rp, q ? q + 1 : line);
	if (found <= 0) {
		params_clear(&rp);
		if (found < 0) {
			*rc = ts_error_set(err, TS_ENOMEM, "out of memory");
			return 1;
		}
		fprintf(stderr, "%s: that is not the redirected URL; paste the whole address "
			"(it contains code= and state=)\n", CLI_PROG);
		return 0;
	}
	*rc = judge(out, &rp, state, page, sizeof page, err);
	params_clear(&rp);
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
					if (handle_paste(line, state, out, &rc, err)) {
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
