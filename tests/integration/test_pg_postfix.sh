#!/bin/sh
# tests/integration/test_pg_postfix.sh - Postfix's chrooted smtp(8) relays
# with a postgresql:// store: the plugin connects before the chroot, logs in
# with a cached token and refreshes an expired one through the database from
# inside the chroot, with nothing copied into it. The scenario is
# test_postfix.sh's, run with PF_PG=1.
PF_PG=1
. "$top_srcdir/tests/integration/test_postfix.sh"
