/*
 * tls.h - the helper's TLS client (OpenSSL): a TCP connection with
 * deadlines, an optional TLS layer (TLS 1.2 or later, SNI, certificate and
 * host name verification against a CA bundle or the system's store), line
 * reading with a size limit, and non-blocking reads and writes for a relay.
 * Used by `sasl-oauth2 tunnel`; the plugin needs none of it.
 */
#ifndef HELPER_TLS_H
#define HELPER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tokenstore.h"

/* Size of the receive buffer, and so the longest line tls_read_line takes. */
#define TLS_LINE_MAX 65536

typedef struct tls_conn {
	int fd;                     /* non-blocking socket, -1 when closed */
	void *ctx;                  /* SSL_CTX *, NULL before tls_start */
	void *ssl;                  /* SSL *, NULL while the connection is plain */
	char *host;                 /* the name (or address) given to tls_connect */
	bool host_is_ip;
	int timeout_ms;             /* for each connect, handshake, read and write */
	char *rbuf;                 /* bytes received and not yet consumed */
	size_t rlen;
	char *line;                 /* the last line tls_read_line handed out */
	/* The first certificate that failed verification, for the message. */
	char bad_names[256], bad_issuer[256], bad_not_after[40];
} tls_conn;

/* Connect to HOST:PORT (every address getaddrinfo gives, in order) within
 * `timeout_s` seconds; with `loopback_only`, only to loopback addresses
 * (TS_EPERM when there is none). 0, or -1 with err->msg saying why. */
int tls_connect(tls_conn *c, const char *host, const char *port, int timeout_s,
		bool loopback_only, ts_error *err);

/* TLS handshake on the connected socket: TLS 1.2 or later, SNI (for a host
 * name), the certificate verified against `ca_bundle` (PEM file) or, when
 * NULL, the system's store, and the host name (or IP address) checked.
 * 0, or -1 with err->msg naming the TLS problem (unknown CA, name mismatch,
 * expired certificate, ...). Bytes read before the call must have been
 * consumed (a STARTTLS reply is the last thing the server sends in clear). */
int tls_start(tls_conn *c, const char *ca_bundle, ts_error *err);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "plain" when no TLS is up. */
const char *tls_describe(const tls_conn *c, char *buf, size_t size);

/* Write all of buf within the timeout. 0, or -1 with err->msg. */
int tls_write_all(tls_conn *c, const void *buf, size_t len, ts_error *err);

/* Read one line ending in LF within the timeout into *out (NUL-terminated,
 * CRLF removed, owned by the connection buffer until the next call; *len is
 * its length). 0; -1 with err->msg on a timeout, an error, the connection
 * closed or a line longer than TLS_LINE_MAX. */
int tls_read_line(tls_conn *c, char **out, size_t *len, ts_error *err);

/* After tls_read_line: the bytes already received beyond the last line. */
size_t tls_buffered(const tls_conn *c);
/* Take up to `size` buffered bytes into buf; returns how many. */
size_t tls_take_buffered(tls_conn *c, void *buf, size_t size);

/* Non-blocking I/O for the relay. Return bytes moved (> 0), 0 at the end of
 * the peer's data (read only), TLS_AGAIN when the socket must become
 * readable (*want_write false) or writable (*want_write true) first, or -1
 * with err->msg. */
#define TLS_AGAIN (-2)
ssize_t tls_read_some(tls_conn *c, void *buf, size_t size, bool *want_write, ts_error *err);
ssize_t tls_write_some(tls_conn *c, const void *buf, size_t size, bool *want_write,
		       ts_error *err);
/* Data the TLS layer already decrypted and holds (no poll needed). */
bool tls_pending(const tls_conn *c);

/* Tell the server we send no more: TLS close_notify, then shutdown(SHUT_WR)
 * of the socket (plain connections: only the latter). */
void tls_shutdown_write(tls_conn *c);

/* Close and free everything (the buffer is wiped: it held the login). */
void tls_close(tls_conn *c);

#endif /* HELPER_TLS_H */
