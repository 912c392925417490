# tests/integration/local.mk - end-to-end tests against real servers on
# 127.0.0.1: Dovecot (IMAP, POP3, submission), Postfix, mbsync and the Cyrus
# test clients, all logging in through the built plugin with tokens from the
# test OAuth2 server.
EXTRA_DIST += tests/integration/env.sh tests/integration/smtp_sink.py
