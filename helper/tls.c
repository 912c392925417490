/*
 * tls.c - the helper's TLS client on OpenSSL (see tls.h): connect with a
 * deadline, verified TLS 1.2+ with SNI and host name checks, bounded line
 * reads for the login dialogue and non-blocking reads and writes for the
 * relay. Every wait is a poll(2) with the connection's timeout.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is readable (or writable) before the deadline: 1 ready,
 * 0 timed out, -1 error. */
static int wait_fd(int fd, bool for_write, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
	long long left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* One connect attempt; 0 connected, -1 with errno. */
static int connect_one(int *out, const struct addrinfo *ai, long long deadline)
{
	int fd, so_err = 0, r;
	socklen_t sl = sizeof so_err;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto done;
	if (errno != EINPROGRESS)
		goto fail;
	r = wait_fd(fd, true, deadline);
	if (r <= 0) {
		if (r == 0)
			errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &sl) < 0)
		goto fail;
	if (so_err != 0) {
		errno = so_err;
		goto fail;
	}
done:
	/* Each command and each relayed chunk goes out at once: no wait for
	 * the ACK of the previous small segment (Nagle). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	*out = fd;
	return 0;
fail:
	r = errno;
	close(fd);
	errno = r;
	return -1;
}

int tls_connect(tls_conn *c, const char *host, const char *port, int timeout_s,
		bool loopback_only, ts_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	unsigned char probe[sizeof(struct in6_addr)];
	long long deadline;
	int r, last = 0;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->timeout_ms = (timeout_s > 0 ? timeout_s : 20) * 1000;
	c->host = strdup(host);
	c->rbuf = malloc(TLS_LINE_MAX);
	c->line = malloc(TLS_LINE_MAX);
	if (c->host == NULL || c->rbuf == NULL || c->line == NULL)
		return ts_error_set(err, TS_ENOMEM, "out of memory"), -1;
	c->host_is_ip = inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV | (c->host_is_ip ? AI_NUMERICHOST : 0);
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		ts_error_set(err, TS_ENET, "cannot resolve %s port %s: %s", host, port,
			  r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	deadline = now_ms() + c->timeout_ms;
	for (ai = res; ai; ai = ai->ai_next) {
		if (loopback_only && !addr_is_loopback(ai->ai_addr)) {
			last = EPERM;
			continue;
		}
		if (connect_one(&c->fd, ai, deadline) == 0)
			break;
		last = errno;
	}
	freeaddrinfo(res);
	if (c->fd < 0 && last == EPERM) {
		ts_error_set(err, TS_EPERM, "%s is not a loopback address, and without TLS the "
			     "token would cross the network in clear: use --tls implicit or "
			     "starttls", host);
		return -1;
	}
	if (c->fd < 0) {
		ts_error_set(err, TS_ENET, "cannot connect to %s port %s: %s", host, port,
			  last == ETIMEDOUT ? "timed out" : strerror(last));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Handshake and verification                                              */

/* The certificate's DNS and IP subject alternative names, comma separated. */
static void cert_names(const X509 *cert, char *buf, size_t size)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; names && i < sk_GENERAL_NAME_num(names) && used + 1 < size; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		char one[INET6_ADDRSTRLEN + 8] = "";

		if (gn->type == GEN_DNS) {
			const unsigned char *s = ASN1_STRING_get0_data(gn->d.dNSName);
			int n = ASN1_STRING_length(gn->d.dNSName);

			snprintf(one, sizeof one, "%.*s", n > 64 ? 64 : n, (const char *)s);
		} else if (gn->type == GEN_IPADD) {
			int n = ASN1_STRING_length(gn->d.iPAddress);
			const unsigned char *a = ASN1_STRING_get0_data(gn->d.iPAddress);

			inet_ntop(n == 4 ? AF_INET : AF_INET6, a, one, sizeof one);
		} else {
			continue;
		}
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", one);
	}
	GENERAL_NAMES_free(names);
	if (buf[0] == '\0') {
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
					  (int)size);
	}
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void asn1_time_str(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	buf[0] = '\0';
	if (t && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* OpenSSL's verification goes on as usual; this only remembers what the
 * first failing certificate says, since the peer certificate is not kept
 * after a failed handshake. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);

	if (ok || c == NULL || cert == NULL || c->bad_issuer[0])
		return ok;
	cert_names(cert, c->bad_names, sizeof c->bad_names);
	X509_NAME_oneline(X509_get_issuer_name(cert), c->bad_issuer, sizeof c->bad_issuer);
	asn1_time_str(X509_get0_notAfter(cert), c->bad_not_after, sizeof c->bad_not_after);
	for (char *p = c->bad_issuer; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return ok;
}

/* The message for a failed certificate verification. */
static void verify_error(tls_conn *c, long v, ts_error *err)
{
	const char *names = c->bad_names, *issuer = c->bad_issuer, *when = c->bad_not_after;

	switch (v) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		ts_error_set(err, TS_ENET,
			  "TLS certificate of %s is signed by an unknown CA (issuer %s): %s; "
			  "if this CA is right, set ca_bundle in the global configuration to "
			  "a PEM file holding it", c->host, issuer[0] ? issuer : "?",
			  X509_verify_cert_error_string(v));
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		ts_error_set(err, TS_ENET,
			  "TLS certificate name mismatch: the certificate is for '%s', not '%s'; "
			  "connect to a name the certificate lists", names, c->host);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		ts_error_set(err, TS_ENET,
			  "TLS certificate of %s expired%s%s; the server's administrator must "
			  "renew it (or check this machine's clock)", c->host,
			  when[0] ? " on " : "", when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		ts_error_set(err, TS_ENET,
			  "TLS certificate of %s is not valid yet; check this machine's clock",
			  c->host);
		break;
	default:
		ts_error_set(err, TS_ENET, "TLS certificate of %s not accepted: %s", c->host,
			  X509_verify_cert_error_string(v));
	}
}

/* The message for any other TLS failure: OpenSSL's first queued error. */
static void ssl_error(const char *what, const tls_conn *c, int ssl_err, ts_error *err)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_clear_error();
	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		ts_error_set(err, TS_ENET, "TLS %s with %s failed: %s", what, c->host, buf);
	} else if (ssl_err == SSL_ERROR_SYSCALL && errno != 0) {
		ts_error_set(err, TS_ENET, "TLS %s with %s failed: %s", what, c->host,
			  strerror(errno));
	} else {
		ts_error_set(err, TS_ENET, "TLS %s with %s failed: the server closed the "
			  "connection", what, c->host);
	}
}

/* The system's CA certificates without ca_bundle. OpenSSL's default paths
 * parse the whole bundle file (Debian: 150 certificates, more CPU than the
 * rest of a tunnel login) before the handshake. Here the hashed directory
 * is asked first, one issuer at a time; the bundle file (SSL_CERT_FILE, or
 * OpenSSL's default) is parsed only when the directory has no issuer for
 * a certificate, so a system without a hashed directory still verifies
 * exactly as before. Verification itself stays OpenSSL's. */
static int lazy_file_get(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name,
			 X509_OBJECT *ret)
{
	X509_STORE *st = X509_LOOKUP_get_store(lu);
	const X509_OBJECT *o;
	int ok = 0;

	if (X509_LOOKUP_get_method_data(lu) == NULL) {
		const char *file = getenv(X509_get_default_cert_file_env());

		X509_LOOKUP_set_method_data(lu, lu);    /* once, found or not */
		if (file == NULL || file[0] == '\0')
			file = X509_get_default_cert_file();
		X509_STORE_load_file(st, file);
		ERR_clear_error();
	}
	X509_STORE_lock(st);
	o = X509_OBJECT_retrieve_by_subject(X509_STORE_get0_objects(st), type, name);
	if (o != NULL && type == X509_LU_X509)
		ok = X509_OBJECT_set1_X509(ret, X509_OBJECT_get0_X509(o));
	else if (o != NULL && type == X509_LU_CRL)
		ok = X509_OBJECT_set1_X509_CRL(ret, X509_OBJECT_get0_X509_CRL(o));
	X509_STORE_unlock(st);
	return ok;
}

static int system_cas(SSL_CTX *ctx)
{
	static X509_LOOKUP_METHOD *lazy_file;
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *dir;

	if (lazy_file == NULL) {
		lazy_file = X509_LOOKUP_meth_new("sasl-oauth2 lazy CA file");
		if (lazy_file == NULL ||
		    X509_LOOKUP_meth_set_get_by_subject(lazy_file, lazy_file_get) != 1)
			return 0;
	}
	dir = X509_STORE_add_lookup(st, X509_LOOKUP_hash_dir());
	if (dir == NULL || X509_LOOKUP_add_dir(dir, NULL, X509_FILETYPE_DEFAULT) != 1)
		return 0;
	return X509_STORE_add_lookup(st, lazy_file) != NULL;
}

static int ctx_setup(tls_conn *c, const char *ca_bundle, ts_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return ts_error_set(err, TS_ENOMEM, "cannot create a TLS context"), -1;
	c->ctx = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (ca_bundle && ca_bundle[0]) {
		if (SSL_CTX_load_verify_locations(ctx, ca_bundle, NULL) != 1) {
			ERR_clear_error();
			ts_error_set(err, TS_EINVAL, "cannot read the CA bundle %s (ca_bundle in the "
				  "global configuration): not a readable PEM file of certificates",
				  ca_bundle);
			return -1;
		}
	} else if (system_cas(ctx) != 1) {
		ERR_clear_error();
		ts_error_set(err, TS_EINVAL, "cannot load the system's CA certificates; install "
			  "ca-certificates or set ca_bundle in the global configuration");
		return -1;
	}
	return 0;
}

int tls_start(tls_conn *c, const char *ca_bundle, ts_error *err)
{
	SSL *ssl;
	long long deadline;
	int r, e;

	if (ctx_setup(c, ca_bundle, err) < 0)
		return -1;
	ssl = SSL_new(c->ctx);
	if (ssl == NULL)
		return ts_error_set(err, TS_ENOMEM, "cannot create a TLS connection"), -1;
	c->ssl = ssl;
	SSL_set_fd(ssl, c->fd);
	SSL_set_app_data(ssl, c);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_cb);
	if (c->host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host) != 1)
			return ts_error_set(err, TS_EINVAL, "bad address %s", c->host), -1;
	} else {
		/* RFC 6066: SNI carries host names only, never addresses. */
		if (SSL_set_tlsext_host_name(ssl, c->host) != 1 || SSL_set1_host(ssl, c->host) != 1)
			return ts_error_set(err, TS_EINVAL, "bad host name %s", c->host), -1;
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}

	deadline = now_ms() + c->timeout_ms;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_connect(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			r = wait_fd(c->fd, e == SSL_ERROR_WANT_WRITE, deadline);
			if (r == 0)
				return ts_error_set(err, TS_ENET, "TLS handshake with %s timed "
						 "out", c->host), -1;
			if (r < 0)
				return ts_error_set(err, TS_ENET, "TLS handshake with %s: %s",
						 c->host, strerror(errno)), -1;
			continue;
		}
		break;
	}
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		verify_error(c, SSL_get_verify_result(ssl), err);
		ERR_clear_error();
	} else {
		ssl_error("handshake", c, e, err);
	}
	return -1;
}

const char *tls_describe(const tls_conn *c, char *buf, size_t size)
{
	if (c->ssl == NULL)
		snprintf(buf, size, "plain");
	else
		snprintf(buf, size, "%s %s", SSL_get_version(c->ssl),
			 SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
	return buf;
}

/* ---------------------------------------------------------------------- */
/* Reads and writes                                                         */

ssize_t tls_read_some(tls_conn *c, void *buf, size_t size, bool *want_write, ts_error *err)
{
	ssize_t n;
	int r, e;

	*want_write = false;
	if (c->ssl == NULL) {
		n = read(c->fd, buf, size);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return TLS_AGAIN;
		ts_error_set(err, TS_ENET, "reading from %s failed: %s", c->host, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_read(c->ssl, buf, size > 1 << 30 ? 1 << 30 : (int)size);
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		return TLS_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want_write = true;
		return TLS_AGAIN;
	default:
		if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			ts_error_set(err, TS_ENET, "%s closed the connection without ending TLS "
				  "(no close_notify)", c->host);
			return -1;
		}
		ssl_error("read", c, e, err);
		return -1;
	}
}

ssize_t tls_write_some(tls_conn *c, const void *buf, size_t size, bool *want_write,
		       ts_error *err)
{
	ssize_t n;
	int r, e;

	*want_write = true;
	if (c->ssl == NULL) {
		n = send(c->fd, buf, size, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return TLS_AGAIN;
		ts_error_set(err, TS_ENET, "writing to %s failed: %s", c->host, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_write(c->ssl, buf, size > 1 << 30 ? 1 << 30 : (int)size);
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE)
		return TLS_AGAIN;
	if (e == SSL_ERROR_WANT_READ) {
		*want_write = false;
		return TLS_AGAIN;
	}
	ssl_error("write", c, e, err);
	return -1;
}

bool tls_pending(const tls_conn *c)
{
	return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

int tls_write_all(tls_conn *c, const void *buf, size_t len, ts_error *err)
{
	const char *p = buf;
	long long deadline = now_ms() + c->timeout_ms;
	bool ww;
	ssize_t n;
	int r;

	while (len > 0) {
		n = tls_write_some(c, p, len, &ww, err);
		if (n < 0 && n != TLS_AGAIN)
			return -1;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		r = wait_fd(c->fd, ww, deadline);
		if (r <= 0)
			return ts_error_set(err, TS_ENET, "writing to %s %s", c->host,
					 r == 0 ? "timed out" : strerror(errno)), -1;
	}
	return 0;
}

int tls_read_line(tls_conn *c, char **out, size_t *len, ts_error *err)
{
	long long deadline = now_ms() + c->timeout_ms;
	char *nl;
	size_t start = 0, n;
	bool ww;
	ssize_t got;
	int r;

	for (;;) {
		nl = memchr(c->rbuf + start, '\n', c->rlen - start);
		if (nl)
			break;
		start = c->rlen;
		if (c->rlen >= TLS_LINE_MAX - 1)
			return ts_error_set(err, TS_ENET, "%s sent a line longer than %d bytes",
					 c->host, TLS_LINE_MAX), -1;
		got = tls_read_some(c, c->rbuf + c->rlen, TLS_LINE_MAX - 1 - c->rlen, &ww, err);
		if (got > 0) {
			c->rlen += (size_t)got;
			continue;
		}
		if (got == 0)
			return ts_error_set(err, TS_ENET, "%s closed the connection", c->host), -1;
		if (got != TLS_AGAIN)
			return -1;
		r = wait_fd(c->fd, ww, deadline);
		if (r <= 0)
			return ts_error_set(err, TS_ENET, "no answer from %s within %d s",
					 c->host, c->timeout_ms / 1000), -1;
	}
	n = (size_t)(nl - c->rbuf) + 1;
	*len = n - 1;
	if (*len > 0 && c->rbuf[*len - 1] == '\r')
		(*len)--;
	memcpy(c->line, c->rbuf, *len);
	c->line[*len] = '\0';
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
	*out = c->line;
	return 0;
}

size_t tls_buffered(const tls_conn *c)
{
	return c->rlen;
}

size_t tls_take_buffered(tls_conn *c, void *buf, size_t size)
{
	size_t n = c->rlen < size ? c->rlen : size;

	memcpy(buf, c->rbuf, n);
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
	return n;
}

void tls_shutdown_write(tls_conn *c)
{
	if (c->ssl) {
		ERR_clear_error();
		/* One call sends our close_notify; the server's comes with its
		 * data, read by SSL_read as the end of the stream. */
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_WR);
}

void tls_close(tls_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	if (c->rbuf) {
		OPENSSL_cleanse(c->rbuf, TLS_LINE_MAX);
		free(c->rbuf);
	}
	if (c->line) {
		OPENSSL_cleanse(c->line, TLS_LINE_MAX);
		free(c->line);
	}
	free(c->host);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}
