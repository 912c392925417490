#!/bin/sh
# tests/integration/test_mbsync.sh - mbsync (isync) syncs a mailbox from the
# private Dovecot over IMAP, logging in with AuthMechs XOAUTH2 (and
# OAUTHBEARER) through the plugin; mbsync's Pass names the token, as the
# plugin's selection rule allows, so no token passes through mbsync.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" mbsync
it_require_built

oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
dovecot_start || { not_ok "private Dovecot starts"; done_testing; exit 1; }
token_add alice "$TEST_USER" || { not_ok "token 'alice' authorized"; done_testing; exit 1; }
ok "token 'alice' authorized"

# A message already in the far side's INBOX.
cat >"$T/msg1.eml" <<EOF
From: bob@example.test
To: $TEST_USER
Subject: so2 mbsync one
Message-ID: <mbsync-one@example.test>
Date: Mon, 01 Jan 2024 00:00:00 +0000

first message for mbsync
EOF
dovecot_deliver "$TEST_USER" "$T/msg1.eml"

# mbsyncrc MECH [PASSLINE]: write a configuration for one mechanism; by
# default Pass names the token.
mbsyncrc() {
	mkdir -p "$T/near-$1"
	cat >"$T/mbsyncrc-$1" <<EOF
IMAPAccount dovecot
Host 127.0.0.1
Port $IMAP_PORT
User $TEST_USER
${2-Pass alice}
AuthMechs $1
SSLType None
Timeout 20

IMAPStore far
Account dovecot

MaildirStore near
Path $T/near-$1/
Inbox $T/near-$1/INBOX
SubFolders Verbatim

Channel so2
Far :far:
Near :near:
Patterns INBOX
Create Near
Expunge None
SyncState *
EOF
}

# run_mbsync MECH: one sync through the plugin with the store from the
# environment (mbsync has no way to pass plugin options).
run_mbsync() {
	env $SAN_ENV HOME="$T" SASL_PATH="$PLUGIN_DIR" SASL_OAUTH2_STORE="$STORE" \
		timeout 60 mbsync -c "$T/mbsyncrc-$1" -V so2 </dev/null >"$T/mbsync-$1.out" 2>&1
}

near_has() { grep -rl "$2" "$T/near-$1/INBOX" >/dev/null 2>&1; }

mbsyncrc XOAUTH2
dovecot_log_mark
if run_mbsync XOAUTH2; then ok "mbsync with AuthMechs XOAUTH2 exits 0"; else
	not_ok "mbsync with AuthMechs XOAUTH2 exits 0"; diag "$(cat "$T/mbsync-XOAUTH2.out")"; dovecot_log 20
fi
if dovecot_log_wait "imap-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2"; then
	ok "Dovecot logged mbsync's XOAUTH2 login"
else
	not_ok "Dovecot logged mbsync's XOAUTH2 login"; dovecot_log 20
fi
near_has XOAUTH2 'Subject: so2 mbsync one' && ok "the far INBOX message arrived in the local Maildir" ||
	{ not_ok "the far INBOX message arrived in the local Maildir"; diag "$(cat "$T/mbsync-XOAUTH2.out")"; }

# A second message straight into the far Maildir; an incremental sync.
sed 's/one/two/g' "$T/msg1.eml" >"$T/msg2.eml"
dovecot_deliver "$TEST_USER" "$T/msg2.eml"
if run_mbsync XOAUTH2 && near_has XOAUTH2 'Subject: so2 mbsync two'; then
	ok "an incremental sync fetches the new message"
else
	not_ok "an incremental sync fetches the new message"; diag "$(cat "$T/mbsync-XOAUTH2.out")"
fi
n=$(ls "$T/near-XOAUTH2/INBOX/new" "$T/near-XOAUTH2/INBOX/cur" 2>/dev/null | grep -c '^[0-9]')
[ "$n" -eq 2 ] && ok "the local INBOX holds exactly the 2 messages" || not_ok "the local INBOX holds exactly the 2 messages (has $n)"

mbsyncrc OAUTHBEARER
dovecot_log_mark
if run_mbsync OAUTHBEARER && near_has OAUTHBEARER 'Subject: so2 mbsync two'; then
	ok "mbsync with AuthMechs OAUTHBEARER syncs the mailbox"
else
	not_ok "mbsync with AuthMechs OAUTHBEARER syncs the mailbox"; diag "$(cat "$T/mbsync-OAUTHBEARER.out")"; dovecot_log 20
fi
dovecot_log_wait "method=OAUTHBEARER" && ok "Dovecot logged mbsync's OAUTHBEARER login" ||
	not_ok "Dovecot logged mbsync's OAUTHBEARER login"

# PassCmd printing the token name works the same way.
rm -rf "$T/near-XOAUTH2"
mbsyncrc XOAUTH2 'PassCmd "echo alice"'
if run_mbsync XOAUTH2 && near_has XOAUTH2 'Subject: so2 mbsync two'; then
	ok "mbsync with PassCmd printing the token name syncs the mailbox"
else
	not_ok "mbsync with PassCmd printing the token name syncs the mailbox"; diag "$(cat "$T/mbsync-XOAUTH2.out")"
fi

# The token never passes through mbsync: its verbose output shows the
# base64 exchange at most, never the token in clear.
token=$(state_field alice access_token)
if [ -n "$token" ] && ! grep -q -F "$token" "$T"/mbsync-*.out; then ok "mbsync's output does not show the token"; else
	not_ok "mbsync's output does not show the token"
fi

done_testing
