#!/bin/sh
# tests/bench/tunnel.sh - the `sasl-oauth2 tunnel` part of `make bench`:
# a private Dovecot with TLS (tests/integration/env.sh), one token, a
# 20 MB message, then tests/bench/tunnel_bench.py prints the time to a
# logged-in session and the relay throughput, each against a direct TLS
# client measured in the same run: wall-clock minima and CPU time over
# BENCH_TUNNEL_LOGINS (default 40) interleaved logins of each kind.
# Not part of `make check`.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

if ! [ -x "$DOVECOT" ]; then
	echo "bench: tunnel: Dovecot is not installed (tools/install-deps); skipped"
	exit 0
fi
oauth_server_start --max-seconds 600 || { echo "bench: tunnel: the test OAuth2 server did not start" >&2; exit 1; }
DOVECOT_TLS=1 dovecot_start >/dev/null || { echo "bench: tunnel: Dovecot did not start" >&2; exit 1; }
token_add alice "$TEST_USER" >/dev/null || { echo "bench: tunnel: cannot authorize the token" >&2; exit 1; }
printf 'ca_bundle: %s\n' "$TLS_CA" >"$T/so2.conf"
"$PYTHON3" -c '
import os, sys
rnd = os.urandom(10 * 1024 * 1024).hex()
with open(sys.argv[1], "wb") as f:
    f.write(b"From: bob@example.test\r\nSubject: bench\r\n\r\n")
    for i in range(0, len(rnd), 76):
        f.write(rnd[i:i + 76].encode() + b"\r\n")
' "$T/big.eml"
dovecot_deliver "$TEST_USER" "$T/big.eml"
# The system's CAs as most machines have them: the private CA in a hashed
# directory searched with the system's, and the system's bundle file.
printf '# no ca_bundle\n' >"$T/sysca.conf"
mkdir -p "$T/cadir" && cp "$TLS_CA" "$T/cadir/ca.pem" && openssl rehash "$T/cadir" >/dev/null 2>&1
SSL_CERT_DIR="$T/cadir:$(openssl version -d | sed 's/^OPENSSLDIR: "\(.*\)"$/\1/')/certs"
SSL_CERT_FILE="$T/cadir/bundle.pem"
cat "$TLS_CA" >"$SSL_CERT_FILE"
_sysfile=$(openssl version -d | sed 's/^OPENSSLDIR: "\(.*\)"$/\1/')/cert.pem
[ -r "$_sysfile" ] && cat "$_sysfile" >>"$SSL_CERT_FILE"
export SSL_CERT_DIR SSL_CERT_FILE
"$HELPER" --store "$STORE" --config "$T/so2.conf" token alice |
	SASL_PATH="$PLUGIN_DIR" "$PYTHON3" "$top_srcdir/tests/bench/tunnel_bench.py" \
		--port "$IMAPS_PORT" --ca "$TLS_CA" --user "$TEST_USER" --helper "$HELPER" --logins "${BENCH_TUNNEL_LOGINS:-40}" \
		--tunnel "$HELPER --store $STORE --config $T/so2.conf tunnel alice localhost $IMAPS_PORT" \
		--tunnel-sysca "$HELPER --store $STORE --config $T/sysca.conf tunnel alice localhost $IMAPS_PORT"
