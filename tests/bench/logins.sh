# tests/bench/logins.sh - sourced by tests/bench/run.sh: the goals of a
# cached login, measured side by side in this run and printed as ratios.
#
#   (e) CPU per login through libsasl2 (tests/bench/bench_login: client_new,
#       start, steps, dispose), this plugin's XOAUTH2 and OAUTHBEARER against
#       PLAIN from libsasl2-modules: minimum over BENCH_ROUNDS processes of 3
#       rounds of BENCH_LOGINS logins each, run in turn so that load on the
#       machine falls on all alike; and, with valgrind, instructions per
#       login counted by callgrind (deterministic, whatever the load)
#   (f) peak resident memory of those processes: this plugin against PLAIN,
#       in a process that cannot chroot (a mail client run by a user) and,
#       for information, in one that can (Postfix's smtp), which loads
#       libcurl with the plugin
#   (g) `sasl-oauth2 token NAME` on a valid token against `cat` of its state
#
# A peer plugin can join (e): BENCH_PEER_DIR is a directory holding only it,
# BENCH_PEER_MECH its mechanism (XOAUTH2), BENCH_PEER_PASS the password it
# wants (a token file, for tarickb/sasl-xoauth2), BENCH_PEER_USER the user.
# Goals: CPU and instructions at most 1.5x PLAIN, memory at most 4 MB
# above PLAIN, `token` at most 3x `cat`. Printed, never enforced.

LOGIN="$top_builddir/tests/bench/bench_login"
n_logins=${BENCH_LOGINS:-20000}
n_procs=${BENCH_ROUNDS:-3}

plain=
for d in /usr/lib/*/sasl2 /usr/lib64/sasl2 /usr/lib/sasl2; do
	[ -e "$d/libplain.so" ] && { plain="$d/libplain.so"; break; }
done
if [ -z "$plain" ]; then
	echo "(e)-(f) not measured: libplain.so not found; install libsasl2-modules"
	return 0 2>/dev/null || exit 0
fi
mkdir -m 700 "$T/plug-plain" "$T/plug-ours" "$T/store-login"
ln -s "$plain" "$T/plug-plain/"
ln -s "$top_builddir/plugin/.libs/libsasloauth2.so" "$T/plug-ours/"

# A token as users have it: a provider template (with its hosts) and an
# access token of the size providers issue (1-2.5 KB), valid for days.
LS="$T/store-login"
"$HELPER" --store "$LS" --config "$T/bench.conf" add work --template microsoft-common \
	--client-id 00000000-0000-0000-0000-000000000001 --user alice@example.test >/dev/null ||
	{ echo "bench: cannot add the login token" >&2; exit 1; }
at=$(head -c 1200 /dev/urandom | od -An -v -tx1 | tr -d ' \n' | head -c 1500)
printf '{"access_token": "at-%s", "token_type": "Bearer", "expires_at": %s, "refresh_token": "rt-bench", "generation": 1}\n' \
	"$at" "$(( $(date +%s) + 7 * 86400 ))" >"$LS/work.state"
chmod 600 "$LS/work.state"
# Files younger than 2 s are read again at every login (cache.c): let them age.
sleep 3

# The processes run as a mail client run by a user does: without
# CAP_SYS_CHROOT, so the plugin's default (oauth2_preload=auto) loads
# libcurl only at a refresh. As root that is a process whose bounding set
# lacks the capability. "XOAUTH2+jail" is a process that may chroot
# (Postfix's smtp): libcurl and the CA certificates are loaded with the
# plugin, as oauth2_preload=yes says.
if [ "$(id -u)" -ne 0 ]; then
	nocap() { "$@"; }
elif command -v setpriv >/dev/null 2>&1; then
	nocap() { setpriv --bounding-set -sys_chroot "$@"; }
else
	echo "bench: setpriv (util-linux) is needed to run without CAP_SYS_CHROOT" >&2
	exit 1
fi

# One bench_login process; prints its line.
login_run() { # DIR MECH USER PASS [extra args]
	_d=$1 _m=$2 _u=$3 _p=$4; shift 4
	nocap "$LOGIN" --plugdir "$_d" --mech "$_m" --user "$_u" --pass "$_p" \
		--host outlook.office365.com --store "$LS" --config "$T/bench.conf" "$@"
}

# Field KEY of a bench_login line.
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }

# Best CPU and memory of each mechanism over n_procs processes in turn.
set -- "PLAIN plug-plain" "XOAUTH2 plug-ours" "OAUTHBEARER plug-ours" "XOAUTH2+jail plug-ours"
[ -n "${BENCH_PEER_DIR:-}" ] && set -- "$@" "peer $BENCH_PEER_DIR"
: >"$T/logins.txt"
i=0
while [ $i -lt "$n_procs" ]; do
	for spec in "$@"; do
		set -- $spec "$@"
		mech=$1 dir=$2
		shift 2
		case $mech in
		peer) line=$(login_run "$dir" "${BENCH_PEER_MECH:-XOAUTH2}" \
			"${BENCH_PEER_USER:-alice@example.test}" "${BENCH_PEER_PASS:-}" \
			--logins "$n_logins" --rounds 3) ;;
		XOAUTH2+jail) line=$(login_run "$T/$dir" XOAUTH2 alice@example.test secret-pw \
			--option oauth2_preload=yes --logins "$n_logins" --rounds 3) ;;
		*) line=$(login_run "$T/$dir" "$mech" alice@example.test secret-pw \
			--logins "$n_logins" --rounds 3) ;;
		esac || { echo "bench: $mech logins failed" >&2; exit 1; }
		echo "$mech $(echo "$line" | field cpu_ns) $(echo "$line" | field maxrss_kb)" >>"$T/logins.txt"
	done
	i=$((i + 1))
done
best() { awk -v m="$1" -v k="$2" '$1 == m && (b == "" || $k < b) { b = $k } END { print b }' "$T/logins.txt"; }

# Instructions per login: callgrind counts only bench_round (after a warm-up).
instr() { # DIR MECH USER PASS
	_out="$T/callgrind.$2.$$"
	if [ "$2" = peer ]; then set -- "$1" "${BENCH_PEER_MECH:-XOAUTH2}" "$3" "$4"; fi
	nocap valgrind --tool=callgrind --callgrind-out-file="$_out" --collect-atstart=no \
		--toggle-collect=bench_round "$LOGIN" --plugdir "$1" --mech "$2" --user "$3" \
		--pass "$4" --host outlook.office365.com --store "$LS" --config "$T/bench.conf" \
		--logins 2000 --rounds 1 >/dev/null 2>&1 &&
		awk '/^(summary|totals):/ { print int($2 / 2000); exit }' "$_out"
}

plain_cpu=$(best PLAIN 2)
plain_rss=$(best PLAIN 3)
have_vg=
command -v valgrind >/dev/null 2>&1 && have_vg=1
[ -n "$have_vg" ] && plain_ir=$(instr "$T/plug-plain" PLAIN alice@example.test secret-pw)
echo
echo "(e) a cached login through libsasl2: $n_logins logins x 3 rounds x $n_procs processes, best round"
printf '%-14s %12s %10s %14s %10s\n' mechanism "CPU/login" "x PLAIN" "instr/login" "x PLAIN"
for spec in "PLAIN plug-plain" "XOAUTH2 plug-ours" "OAUTHBEARER plug-ours" \
	${BENCH_PEER_DIR:+"peer $BENCH_PEER_DIR"}; do
	set -- $spec
	cpu=$(best "$1" 2)
	d=$T/$2
	[ "$1" = peer ] && d=$2
	ir=
	if [ -n "$have_vg" ]; then
		if [ "$1" = peer ]; then
			ir=$(instr "$d" peer "${BENCH_PEER_USER:-alice@example.test}" "${BENCH_PEER_PASS:-}")
		else
			ir=$(instr "$d" "$1" alice@example.test secret-pw)
		fi
	fi
	awk -v m="$1" -v c="$cpu" -v pc="$plain_cpu" -v i="${ir:-}" -v pi="${plain_ir:-}" 'BEGIN {
		ri = (i != "" && pi > 0) ? sprintf("%9.2fx", i / pi) : "         -"
		printf "%-14s %9.2f us %9.2fx %14s %s%s\n", m, c / 1000, c / pc,
			i != "" ? i : "-", ri, (m != "PLAIN" && m != "peer" && (c / pc > 1.5 || (i != "" && i / pi > 1.5))) ? "   OVER the 1.5x goal" : ""
	}'
done
if [ -z "$have_vg" ]; then echo "(instructions not counted: valgrind is not installed)"; fi

echo
echo "(f) peak resident memory of those processes"
for m in PLAIN XOAUTH2 OAUTHBEARER XOAUTH2+jail ${BENCH_PEER_DIR:+peer}; do
	awk -v m="$m" -v r="$(best "$m" 3)" -v p="$plain_rss" 'BEGIN {
		printf "%-14s %8.1f MB %+8.1f MB%s\n", m, r / 1024, (r - p) / 1024,
			(m != "PLAIN" && m != "XOAUTH2+jail" && m != "peer" && r - p > 4096) ? "   OVER the goal of 4 MB above PLAIN" : ""
	}'
done
echo "(XOAUTH2+jail: a process that may chroot, such as Postfix's smtp, loads libcurl"
echo " and the libraries it pulls in with the plugin so that it can refresh in its jail;"
echo " the goal is for the clients above, which load them at their first refresh)"
echo
echo "(g) sasl-oauth2 token on a valid token, against cat of its state file"
tok() { "$HELPER" --store "$LS" --config "$T/bench.conf" token work; }
if [ "$(tok)" != "at-$at" ]; then
	echo "bench: sasl-oauth2 token does not print the stored token" >&2
	exit 1
fi
if command -v hyperfine >/dev/null 2>&1; then
	hyperfine -N -w 20 -r "${BENCH_TOKEN_RUNS:-300}" --export-csv "$T/token.csv" \
		"cat $LS/work.state" \
		"$HELPER --store $LS --config $T/bench.conf token work" >/dev/null 2>&1 ||
		{ echo "bench: hyperfine failed" >&2; exit 1; }
	# Columns: command, mean, stddev, median, user, system, min, max (s).
	awk -F, 'NR == 2 { c = $4; cm = $7 } NR == 3 { t = $4; tm = $7 } END {
		printf "cat            median %7.2f ms  min %7.2f ms\n", c * 1000, cm * 1000
		printf "token          median %7.2f ms  min %7.2f ms   %.2fx cat (median), %.2fx (min)%s\n",
			t * 1000, tm * 1000, t / c, tm / cm, (t / c > 3 ? "   OVER the 3x goal" : "")
	}' "$T/token.csv"
else
	n=200
	t0=$(date +%s%N); i=0; while [ $i -lt $n ]; do cat "$LS/work.state" >/dev/null; i=$((i + 1)); done
	t1=$(date +%s%N); i=0; while [ $i -lt $n ]; do tok >/dev/null; i=$((i + 1)); done
	t2=$(date +%s%N)
	awk -v c=$((t1 - t0)) -v t=$((t2 - t1)) -v n=$n 'BEGIN {
		printf "cat %.2f ms, token %.2f ms: %.2fx cat%s (shell loop; hyperfine not installed)\n",
			c / n / 1e6, t / n / 1e6, t / c, (t / c > 3 ? "   OVER the 3x goal" : "")
	}'
fi
