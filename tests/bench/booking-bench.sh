#!/usr/bin/env bash
# booking-bench.sh: hold + confirm of planned bookings over the protocol
# (docs/BENCHMARKS.md, "Bookings"). A benchmark, not a test.
#
#   booking-bench.sh --db CONNINFO --connect HOST:PORT [--builddir DIR]
#                    [--per-type N] [--clients N] [--seconds S] [--runs R]
#                    [--lines L] [--out DIR] [--daemon-pid PID]
#
# Given a running respited (--connect) and the conninfo of its database
# (--db, migrated, without a previous benchmark in it), it
#  1. generates the inventory of one authority (clients/gen/respite-gen.sh,
#     --per-type N of each kind of supply, default 1250: 5,000 in all);
#  2. runs tests/bench/booking-setup.sql: a coordinator, 2,300 families with
#     a personal budget each, and R files of L booking.hold params, none
#     conflicting with any other (different supply or times; no family with
#     two breaks on one day; consecutive lines of different families);
#  3. logs the coordinator in (respitectl login) and runs, R times,
#       respite-bench -n CLIENTS -d SECONDS -m booking.hold -p run-K.jsonl
#                     --then booking.confirm:booking_id
#     each run on its own file, so no line is used twice; around each run
#     it samples the CPU time of the daemon and of PostgreSQL's processes
#     (from /proc: both must be on this machine to be counted);
#  4. prints every run, the median run (by bookings/s), and the result of
#     sql/invariants.sql (which must be empty).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
db='' connect='' daemon_pid='' builddir="$src/build" per_type=1250 clients=16 seconds=20 runs=3 lines=40000
out=$(mktemp -d /tmp/booking-bench.XXXXXX)
code=E99000077
visit_families=1000 stay_families=1300

usage() {
	sed -n '3,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--db) db=$2; shift 2 ;;
	--connect) connect=$2; shift 2 ;;
	--builddir) builddir=$2; shift 2 ;;
	--daemon-pid) daemon_pid=$2; shift 2 ;;
	--per-type) per_type=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--lines) lines=$2; shift 2 ;;
	--out) out=$2; mkdir -p "$out"; shift 2 ;;
	-h|--help) usage ;;
	*) echo "$0: unknown option $1" >&2; usage ;;
	esac
done
if [ -z "$db" ] || [ -z "$connect" ]; then
	usage
fi
for n in "$per_type" "$clients" "$seconds" "$runs" "$lines"; do
	case $n in '' | *[!0-9]*) echo "$0: numbers must be positive integers" >&2; exit 2 ;; esac
done
bench=$builddir/respite-bench
ctl=$builddir/respitectl
if [ ! -x "$bench" ] || [ ! -x "$ctl" ]; then
	echo "$0: build respite-bench and respitectl in $builddir first" >&2
	exit 2
fi

psql_q() { psql "$db" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# The code is in the schema of the release that deployed it last.
PGOPTIONS="-c search_path=$(psql_q -c 'SELECT schema_name FROM code_release ORDER BY deployed_at DESC LIMIT 1'),public"
export PGOPTIONS
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

if [ "$(psql_q -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'bench'")" != 0 ]; then
	echo "$0: this database already holds a benchmark (schema bench): use a fresh one" >&2
	exit 2
fi

# 1. the inventory
log "generating the inventory: --per-type $per_type"
"$src/clients/gen/respite-gen.sh" --db "$db" --authority "$code" --per-type "$per_type" --create \
	> "$out/inventory.json"
tail -n 1 "$out/inventory.json" >&2

# 2. families, the coordinator and the params files
password=$(openssl rand -hex 12)
salt=$(openssl rand -hex 16)
hash=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "pass:$password" -kdfopt "hexsalt:$salt" \
	-kdfopt iter:10000 PBKDF2 | tr -d ':\n' | tr 'A-F' 'a-f')
log "families ($visit_families for visits, $stay_families for stays) and $runs x $lines holds"
t0=$(date +%s)
psql_q -v code="$code" -v salt="$salt" -v hash="$hash" -v visit_families="$visit_families" \
	-v stay_families="$stay_families" -v runs="$runs" -v lines="$lines" \
	-f "$here/booking-setup.sql" > "$out/setup.txt"
log "set-up took $(( $(date +%s) - t0 )) s; lines per run (run|lines|stays|visits):"
cat "$out/setup.txt" >&2
psql_q -c "ANALYZE"
for r in $(seq 1 "$runs"); do
	psql_q -c "SELECT params::text FROM bench.hold WHERE run = $r ORDER BY n" > "$out/run-$r.jsonl"
	have=$(wc -l < "$out/run-$r.jsonl")
	[ "$have" -eq "$lines" ] || { echo "$0: only $have lines for run $r (wanted $lines)" >&2; exit 1; }
done

# 3. the runs
token=$(RESPITE_PASSWORD=$password "$ctl" -c "$connect" login -u bench_coord)
token=$(printf '%s' "$token" | grep -o '[0-9a-f]\{64\}' | head -n 1)
[ -n "$token" ] || { echo "$0: bench_coord could not log in" >&2; exit 1; }

# The daemon's pid, for its CPU time: --daemon-pid, or whoever listens on the port.
if [ -z "$daemon_pid" ]; then
	daemon_pid=$(ss -Hltnp "sport = :${connect##*:}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 || true)
fi
[ -n "$daemon_pid" ] || log "the daemon's pid is unknown (give --daemon-pid): its CPU is not counted"

# CPU time (user + system, in clock ticks) of some processes, from /proc.
cpu_of() {
	local ticks=0 pid st
	for pid in "$@"; do
		[ -r "/proc/$pid/stat" ] || continue
		# utime and stime are fields 14 and 15; the command name (field 2)
		# may hold spaces, so count from after its closing parenthesis.
		read -ra st < <(sed 's/^.*) //' "/proc/$pid/stat")
		ticks=$(( ticks + st[11] + st[12] ))
	done
	echo "$ticks"
}
pg_pids() { psql_q -c "SELECT pid FROM pg_stat_activity"; }
daemon=()
if [ -n "$daemon_pid" ]; then
	daemon=("$daemon_pid")
fi

hz=$(getconf CLK_TCK)
: > "$out/runs.txt"
for r in $(seq 1 "$runs"); do
	mapfile -t pids < <(pg_pids)
	d0=$(cpu_of "${daemon[@]}")
	p0=$(cpu_of "${pids[@]}")
	log "run $r: respite-bench -n $clients -d $seconds -m booking.hold -p run-$r.jsonl --then booking.confirm:booking_id"
	res=$("$bench" -c "$connect" -t "$token" -n "$clients" -d "$seconds" -m booking.hold \
		-p "$out/run-$r.jsonl" --then booking.confirm:booking_id)
	# backends that ended during the run are lost; the daemon's pool keeps its own
	mapfile -t pids < <({ printf '%s\n' "${pids[@]}"; pg_pids; } | sort -u)
	d1=$(cpu_of "${daemon[@]}")
	p1=$(cpu_of "${pids[@]}")
	cpu=$(awk -v d=$((d1 - d0)) -v p=$((p1 - p0)) -v hz="$hz" -v s="$seconds" \
		'BEGIN { printf "daemon_cpu=%.0f%% postgres_cpu=%.0f%%", 100 * d / hz / s, 100 * p / hz / s }')
	echo "run=$r $(printf '%s\n' "$res" | head -n 1) $cpu" | tee -a "$out/runs.txt"
	printf '%s\n' "$res" | sed -n '2,$p' >&2
done

# 4. the median, the database's own count, and the invariants
mid=$(( (runs + 1) / 2 ))
echo "median: $(sed 's/.*ops_per_s=\([0-9.]*\).*/\1 &/' "$out/runs.txt" | sort -n | sed -n "${mid}p" | cut -d' ' -f2-)"
psql_q -c "SELECT 'bookings in the database: ' || string_agg(status || ' ' || n, ', ') FROM
	(SELECT status, count(*) n FROM booking b JOIN carer c ON c.id = b.carer_id
	  WHERE c.name LIKE 'Bench carer %' GROUP BY status ORDER BY status) x"
psql "$db" -X -q -At -v ON_ERROR_STOP=1 -f "$src/sql/invariants.sql" > "$out/invariants.txt"
if [ -s "$out/invariants.txt" ]; then
	echo "INVARIANTS BROKEN:"; cat "$out/invariants.txt"; exit 1
fi
echo "invariants: every query of sql/invariants.sql returned no rows"
echo "files: $out"
