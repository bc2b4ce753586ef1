#!/usr/bin/env bash
# book-compare.sh: booking.book through the daemon against the same SQL
# sent by pgbench, side by side (docs/BENCHMARKS.md, "Bookings at database
# speed"). A benchmark, not a test.
#
#   book-compare.sh --pg CONNINFO --builddir DIR [--srcdir DIR]
#                   [--per-type N] [--families N] [--clients N] [--pool N] [--seconds S]
#                   [--runs R] [--hot bed|worker|offer|all|none] [--hot-only]
#                   [--sides "daemon pgbench hold"] [--prefix NAME] [--out DIR] [--keep]
#
# --pg is a libpq connection string without dbname (host, port, user) of a
# PostgreSQL the caller may create databases in, on this machine (the CPU
# of its processes is read from /proc).
#  1. builds one template database, NAME_tmpl: migrated and the code
#     deployed by the daemon (respited --migrate-only), the usual inventory
#     of one authority (clients/gen/respite-gen.sh --per-type N, default
#     1250), then tests/bench/book-setup.sql: N families (default 400) with
#     budgets, N workers for the spread load, one hot bed, hot worker and
#     hot spa session, and the params of every mode; the coordinator logs in
#     once (the session is in the template, so in every copy);
#  2. runs R times (default 3), alternating, each side on a fresh copy of
#     the template (CREATE DATABASE ... TEMPLATE), so each finds the same
#     free capacity:
#       daemon   respited on the copy, its settings the defaults but for
#                db_pool_size = --pool (default: CLIENTS, as many database
#                connections as pgbench has: with every commit waiting for
#                its WAL flush, the transactions in flight decide how many
#                commits share a flush), and
#                respite-bench -n CLIENTS -d S -m booking.book -p spread.jsonl
#       pgbench  pgbench -M prepared -c CLIENTS -j 2 -T S -f tests/bench/book-pgbench.sql:
#                the statement the daemon sends for booking.book, the same
#                params computed in the script
#       hold     as daemon, with -m booking.hold --then booking.confirm:booking_id
#                (two calls, two transactions: today's way)
#     and then, per hot mode (--hot, default all), the three sides again
#     once each on the hot inventory: 16 clients booking different nights
#     of one bed (its 729 nights, then the next bed's), different half
#     hours of one worker, seats of one session;
#     (--sides runs only some of them: --sides hold measures a release
#     without booking.book, given as --builddir and --srcdir);
#  3. after each run: the copy ANALYZEd (its tables grew from the
#     template's), sql/invariants.sql on it (must return nothing), its
#     bookings counted, then the copy dropped (--keep keeps it);
#  4. prints one table: bookings/s, the ratio daemon / pgbench per run,
#     latencies (p50, p99), CPU seconds of the daemon, of the PostgreSQL
#     backends, of PostgreSQL's other processes and of the load generator,
#     PostgreSQL CPU per booking, the daemon's peak RSS, errors; medians.
# Raw output stays in --out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
pg='' builddir='' per_type=1250 families=400 clients=16 seconds=20 runs=3 hot=all hot_only=false
sides="daemon pgbench hold" pool=
prefix=bookcmp out='' keep=false
code=E99000078

usage() {
	sed -n '3,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--pg) pg=$2; shift 2 ;;
	--builddir) builddir=$(cd "$2" && pwd); shift 2 ;;
	--srcdir) srcdir=$(cd "$2" && pwd); shift 2 ;;
	--per-type) per_type=$2; shift 2 ;;
	--families) families=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	--pool) pool=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--hot) hot=$2; shift 2 ;;
	--hot-only) hot_only=true; shift ;;
	--sides) sides=$2; shift 2 ;;
	--prefix) prefix=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--keep) keep=true; shift ;;
	-h|--help) usage ;;
	*) echo "$0: unknown option $1" >&2; usage ;;
	esac
done
[ -n "$pg" ] && [ -n "$builddir" ] || usage
[ -n "$pool" ] || pool=$clients
for n in "$per_type" "$families" "$clients" "$pool" "$seconds" "$runs"; do
	case $n in '' | *[!0-9]*) echo "$0: numbers must be positive integers" >&2; exit 2 ;; esac
done
case $hot in all) hot_modes="bed worker offer" ;; none) hot_modes="" ;; bed|worker|offer) hot_modes=$hot ;;
	*) echo "$0: --hot bed|worker|offer|all|none" >&2; exit 2 ;; esac
case $prefix in '' | *[!a-z0-9_]*) echo "$0: --prefix: lower-case letters, digits, _" >&2; exit 2 ;; esac
[ -n "$out" ] || out=$(mktemp -d /tmp/book-compare.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)
for p in respited respite-bench respitectl; do
	[ -x "$builddir/$p" ] || { echo "$0: build $p in $builddir first" >&2; exit 2; }
done
command -v pgbench >/dev/null || { echo "$0: pgbench is needed (postgresql-contrib or postgresql client)" >&2; exit 2; }

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
tmpl=${prefix}_tmpl
dbi() { echo "$pg dbname=$1"; }
psql_on() { local d=$1; shift; psql "$(dbi "$d")" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
daemon_pid=''
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [ "$keep" = false ]; then
		psql_on postgres -c "DROP DATABASE IF EXISTS $tmpl" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

start_daemon() { # DB LOGFILE: starts respited on the database, sets daemon_pid and addr
	local port
	port=$(free_port)
	addr=127.0.0.1:$port
	"$builddir/respited" --db "$(dbi "$1")" --sql-dir "$srcdir/sql" --web-dir "$srcdir/clients/web" \
		--listen "$addr" --http "127.0.0.1:$(free_port)" --log-level warn --set db_pool_size="$pool" >"$2" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 200); do
		"$builddir/respitectl" -c "$addr" system.ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "$0: respited did not start (see $2)" >&2
	exit 1
}
stop_daemon() {
	kill "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=''
}

# ---- CPU of processes, from /proc ----
hz=$(getconf CLK_TCK)
ticks_of() { # PID [with-children]: utime + stime (+ cutime + cstime)
	local st
	[ -r "/proc/$1/stat" ] || { echo 0; return; }
	read -ra st < <(sed 's/^.*) //' "/proc/$1/stat")
	if [ "${2:-}" = children ]; then
		echo $(( st[11] + st[12] + st[13] + st[14] ))
	else
		echo $(( st[11] + st[12] ))
	fi
}
postmaster=$(psql_on postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
postmaster=$(awk '/^PPid:/ { print $2 }' "/proc/$postmaster/status")
# Every PostgreSQL process, the exited ones included: the postmaster's own
# time plus what it reaped, plus its live children.
pg_ticks() {
	local sum pid
	sum=$(ticks_of "$postmaster" children)
	for pid in $(cat "/proc/$postmaster/task/$postmaster/children" 2>/dev/null); do
		sum=$(( sum + $(ticks_of "$pid") ))
	done
	echo "$sum"
}
# PostgreSQL's own processes (WAL writer, checkpointer, autovacuum...): not backends.
bg_pids() { psql_on postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'"; }
bg_ticks() { local sum=0 pid; for pid in "$@"; do sum=$(( sum + $(ticks_of "$pid") )); done; echo "$sum"; }
secs() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
field() { sed -En "s/(^|.* )$1=([^ ]*).*/\\2/p" | head -n 1; }

# ---- 1. the template ----
log "machine: $(nproc) cores, $(uname -sr), $(psql_on postgres -c 'SHOW server_version'); load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$(psql_on postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE '${prefix}\\_%'")" != 0 ]; then
	echo "$0: databases ${prefix}_* exist already (a previous run with --keep?): drop them or use --prefix" >&2
	exit 2
fi
t0=$(date +%s)
psql_on postgres -c "CREATE DATABASE $tmpl"
"$builddir/respited" --db "$(dbi "$tmpl")" --sql-dir "$srcdir/sql" --log-level warn --migrate-only
schema=$(psql_on "$tmpl" -c 'SELECT schema_name FROM code_release ORDER BY deployed_at DESC LIMIT 1')
export PGOPTIONS="-c search_path=$schema,public"
log "template $tmpl: inventory (--per-type $per_type)"
"$srcdir/clients/gen/respite-gen.sh" --db "$(dbi "$tmpl")" --authority "$code" --per-type "$per_type" --create \
	> "$out/inventory.json"
password=$(openssl rand -hex 12)
salt=$(openssl rand -hex 16)
hash=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "pass:$password" -kdfopt "hexsalt:$salt" \
	-kdfopt iter:10000 PBKDF2 | tr -d ':\n' | tr 'A-F' 'a-f')
lines=$(( 2000 * seconds * 3 / 2 ))
days=$(( lines / families / 6 + 2 ))
log "template $tmpl: $families families, $families workers, hot supply, $lines lines per mode"
psql_on "$tmpl" -v code="$code" -v salt="$salt" -v hash="$hash" -v families="$families" -v days="$days" \
	-v lines="$lines" -f "$here/book-setup.sql" > "$out/setup.txt"
IFS='|' read -r nfam carer0 person0 worker0 hot_bed hot_worker hot_offer day0 e0 < <(tail -n 1 "$out/setup.txt")
psql_on "$tmpl" -c "ANALYZE"
for m in spread bed worker offer; do
	psql_on "$tmpl" -c "SELECT params::text FROM bench.line WHERE mode = '$m' ORDER BY n" > "$out/$m.jsonl"
done
start_daemon "$tmpl" "$out/respited-template.log"
token=$(RESPITE_PASSWORD=$password "$builddir/respitectl" -c "$addr" login -u bench_coord | grep -o '[0-9a-f]\{64\}' | head -n 1)
stop_daemon
[ -n "$token" ] || { echo "$0: bench_coord could not log in" >&2; exit 1; }
token_hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
psql_on "$tmpl" -c "SELECT 'template: ' || pg_size_pretty(pg_database_size(current_database())) || ', ' ||
	(SELECT count(*) FROM supply) || ' supply, ' || (SELECT count(*) FROM avail_span) || ' spans, ' ||
	(SELECT count(*) FROM carer) || ' carers'" | tee "$out/template.txt" >&2
log "template ready in $(( $(date +%s) - t0 )) s"

# ---- 2. the runs ----
: > "$out/runs.txt"
copy_no=0
new_copy() { copy_no=$((copy_no + 1)); copy=${prefix}_c$copy_no; psql_on postgres -c "CREATE DATABASE $copy TEMPLATE $tmpl"; }
end_copy() { # TAG: invariants, bookings, drop
	local inv n
	psql_on "$copy" -c "ANALYZE"
	inv=$(psql "$(dbi "$copy")" -X -q -At -v ON_ERROR_STOP=1 -f "$srcdir/sql/invariants.sql" | wc -l)
	n=$(psql_on "$copy" -c "SELECT count(*) FROM booking b JOIN carer c ON c.id = b.carer_id
	                         WHERE c.name LIKE 'Compare carer %' AND b.status = 'confirmed'")
	[ "$keep" = true ] || psql_on postgres -c "DROP DATABASE $copy"
	echo "confirmed=$n invariant_rows=$inv"
}

# One side: prints "side=.. mode=.. run=.. ops=.. p50=.. p99=.. errors=.. cpu_*=.. rss_kb=.."
run_side() { # SIDE MODE RUN
	local side=$1 mode=$2 r=$3 res gen ops p50 p99 errors rss=- d0=0 d1=0 p0 p1 b0 b1 bgs modeno file
	new_copy
	file=$out/$mode.jsonl
	case $mode in spread) modeno=0 ;; bed) modeno=1 ;; worker) modeno=2 ;; offer) modeno=3 ;; esac
	if [ "$side" != pgbench ]; then
		start_daemon "$copy" "$out/respited-$copy.log"
	fi
	mapfile -t bgs < <(bg_pids)
	p0=$(pg_ticks); b0=$(bg_ticks "${bgs[@]}")
	[ -n "$daemon_pid" ] && d0=$(ticks_of "$daemon_pid")
	case $side in
	daemon|hold)
		local args=(-m booking.book)
		[ "$side" = hold ] && args=(-m booking.hold --then booking.confirm:booking_id)
		res=$(/usr/bin/time -f 'gen_cpu=%U+%S' "$builddir/respite-bench" -c "$addr" -t "$token" -n "$clients" \
			-d "$seconds" "${args[@]}" -p "$file" 2>"$out/gen-$copy.txt")
		gen=$(field gen_cpu < "$out/gen-$copy.txt" | awk -F+ '{ printf "%.2f", $1 + $2 }')
		ops=$(field ops_per_s <<<"$res"); p50=$(field p50_ms <<<"$res"); p99=$(field p99_ms <<<"$res")
		errors=$(field errors <<<"$res")
		printf '%s\n' "$res" > "$out/bench-$copy.txt"
		;;
	pgbench)
		rm -f "$out"/pgbench_log.*
		(cd "$out" && PGOPTIONS="$PGOPTIONS -c TimeZone=UTC -c statement_timeout=30000" /usr/bin/time -f 'gen_cpu=%U+%S' \
			pgbench "$(dbi "$copy")" -n -M prepared -c "$clients" -j 2 -T "$seconds" -l \
			-f "$here/book-pgbench.sql" -D n=0 -D nclients="$clients" -D mode="$modeno" \
			-D ctx="{\"token_hash\":\"$token_hash\",\"method\":\"booking.book\",\"request_seq\":0,\"hold_ttl_s\":900}" \
			-D families="$nfam" -D carer0="$carer0" -D person0="$person0" -D worker0="$worker0" \
			-D hot_bed="$hot_bed" -D hot_worker="$hot_worker" -D hot_offer="$hot_offer" -D day0="$day0" -D e0="$e0" \
			> "$out/pgbench-$copy.txt" 2>&1) || true
		gen=$(field gen_cpu < "$out/pgbench-$copy.txt" | awk -F+ '{ printf "%.2f", $1 + $2 }')
		ops=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out/pgbench-$copy.txt" | awk '{ printf "%.1f", $1 }')
		errors=$(grep -c 'aborted\|ERROR' "$out/pgbench-$copy.txt" || true)
		read -r p50 p99 < <(cat "$out"/pgbench_log.* | awk '{ print $3 / 1000 }' | sort -g |
			awk '{ v[NR] = $1 } END { if (NR) printf "%.3f %.3f\n", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)]; else print "- -" }')
		rm -f "$out"/pgbench_log.*
		;;
	esac
	p1=$(pg_ticks); b1=$(bg_ticks "${bgs[@]}")
	if [ -n "$daemon_pid" ]; then
		d1=$(ticks_of "$daemon_pid")
		rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
		stop_daemon
	fi
	local pgt=$(( p1 - p0 )) bgt=$(( b1 - b0 ))
	echo "side=$side mode=$mode run=$r ops=${ops:-0} p50=${p50:--} p99=${p99:--} errors=${errors:-0}" \
		"cpu_daemon=$(secs $(( d1 - d0 ))) cpu_backends=$(secs $(( pgt - bgt ))) cpu_pg_other=$(secs "$bgt")" \
		"cpu_gen=${gen:--} pg_ms_per_booking=$(awk -v t="$pgt" -v hz="$hz" -v o="${ops:-0}" -v s="$seconds" \
			'BEGIN { printf "%.3f", (o > 0 ? 1000 * t / hz / (o * s) : 0) }') rss_kb=$rss $(end_copy)" | tee -a "$out/runs.txt"
}

if [ "$hot_only" = false ]; then
	for r in $(seq 1 "$runs"); do
		for side in $sides; do
			log "run $r: $side, spread"
			run_side "$side" spread "$r"
		done
	done
fi
for m in $hot_modes; do
	for side in $sides; do
		log "hot $m: $side"
		run_side "$side" "$m" 1
	done
done

# ---- 4. the table ----
{
	echo
	echo "$clients clients, $seconds s per run, the daemon's pool $pool; load generator on the same machine; PostgreSQL CPU = backends + its other processes"
	printf '%-8s %-7s %-4s %10s %7s %9s %9s %7s %8s %9s %8s %8s %9s %9s %4s\n' side mode run 'ops/s' ratio p50_ms p99_ms errors \
		daemon_s backends_s pg_oth_s gen_s pg_ms/bk rss_kb inv
	awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	  key = v["mode"] " " v["run"]
	  if (v["side"] == "daemon") d[key] = v["ops"]; if (v["side"] == "pgbench") p[key] = v["ops"]
	  line[NR] = $0; n = NR }
	END {
	  for (k = 1; k <= n; k++) {
	    split(line[k], f, " "); delete v
	    for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
	    key = v["mode"] " " v["run"]; ratio = "-"
	    if (v["side"] == "daemon" && p[key] > 0) ratio = sprintf("%.2f", d[key] / p[key])
	    printf "%-8s %-7s %-4s %10s %7s %9s %9s %7s %8s %9s %8s %8s %9s %9s %4s\n", v["side"], v["mode"], v["run"], v["ops"], ratio,
	      v["p50"], v["p99"], v["errors"], v["cpu_daemon"], v["cpu_backends"],
	      v["cpu_pg_other"], v["cpu_gen"], v["pg_ms_per_booking"], v["rss_kb"], v["invariant_rows"]
	  }
	}' "$out/runs.txt"
	echo
	for side in daemon pgbench hold; do
		for m in spread $hot_modes; do
			sel=$(grep "side=$side mode=$m " "$out/runs.txt" || true)
			[ -n "$sel" ] || continue
			echo "median $side $m: ops/s $(grep -o ' ops=[0-9.]*' <<<"$sel" | cut -d= -f2 | median), p50 $(grep -o 'p50=[0-9.]*' <<<"$sel" | cut -d= -f2 | median) ms," \
				"p99 $(grep -o 'p99=[0-9.]*' <<<"$sel" | cut -d= -f2 | median) ms, PostgreSQL $(grep -o 'pg_ms_per_booking=[0-9.]*' <<<"$sel" | cut -d= -f2 | median) ms CPU per booking"
		done
	done
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	       if (v["side"] == "daemon" && v["mode"] == "spread") d[v["run"]] = v["ops"]
	       if (v["side"] == "pgbench" && v["mode"] == "spread") p[v["run"]] = v["ops"] }
	     END { for (r in d) if (p[r] > 0) print d[r] / p[r] }' "$out/runs.txt" | median | sed 's/^/median ratio daemon \/ pgbench (spread): /'
	bad=$(grep -c 'invariant_rows=[1-9]' "$out/runs.txt" || true)
	if [ "$bad" -gt 0 ]; then
		echo "INVARIANTS BROKEN after $bad run(s): keep the copies (--keep) and run sql/invariants.sql on them"
	else
		echo "invariants: every query of sql/invariants.sql returned no rows after every run"
	fi
	echo "files: $out"
} | tee "$out/table.txt"
