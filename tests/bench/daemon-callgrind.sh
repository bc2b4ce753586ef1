#!/usr/bin/env bash
# daemon-callgrind.sh: instructions the daemon executes per call, counted by
# valgrind --tool=callgrind (docs/BENCHMARKS.md, "Bookings at database
# speed"). Counts, not times: they do not depend on what else the machine
# is doing. A measurement, not a test.
#
#   daemon-callgrind.sh --db CONNINFO --builddir DIR --token TOKEN --lines FILE
#                       [--srcdir DIR] [--ping N1,N2] [--book N1,N2]
#
# For each method (system.ping without the database; booking.book, whose
# work is in PostgreSQL, with its params from FILE, one JSON object a line,
# each used once: give at least N1 + N2 lines that book), the daemon is run
# twice under callgrind on the database (its code deployed, TOKEN a session
# that may book), each run serving exactly N1 and then N2 calls from one
# client (respite-bench -n 1 -k N) after its start; the janitor is held off
# (janitor_interval_ms = 1 h) so that both runs do the same apart from the
# calls. Instructions per call = (Ir(N2) - Ir(N1)) / (N2 - N1): start-up,
# login and shut-down cancel out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
db='' builddir='' token='' lines='' ping=2000,22000 book=200,1200

usage() {
	sed -n '7,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--db) db=$2; shift 2 ;;
	--builddir) builddir=$(cd "$2" && pwd); shift 2 ;;
	--srcdir) srcdir=$(cd "$2" && pwd); shift 2 ;;
	--token) token=$2; shift 2 ;;
	--lines) lines=$2; shift 2 ;;
	--ping) ping=$2; shift 2 ;;
	--book) book=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "$0: unknown option $1" >&2; usage ;;
	esac
done
[ -n "$db" ] && [ -n "$builddir" ] && [ -n "$token" ] && [ -r "$lines" ] || usage
command -v valgrind >/dev/null || { echo "$0: valgrind is needed" >&2; exit 2; }
work=$(mktemp -d /tmp/daemon-callgrind.XXXXXX)
trap 'rm -rf "$work"' EXIT

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

# run N METHOD [LINES]: the Ir of a daemon that served N calls
run() {
	local n=$1 method=$2 file=${3:-} port vpid
	port=$(free_port)
	valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$builddir/respited" --db "$db" \
		--sql-dir "$srcdir/sql" --web-dir "$srcdir/clients/web" --listen "127.0.0.1:$port" \
		--http "127.0.0.1:$(free_port)" --log-level warn --set janitor_interval_ms=3600000 \
		> "$work/respited.log" 2>&1 &
	vpid=$!
	for _ in $(seq 600); do
		"$builddir/respitectl" -c "127.0.0.1:$port" system.ping >/dev/null 2>&1 && break
		sleep 0.2
	done
	"$builddir/respite-bench" -c "127.0.0.1:$port" -t "$token" -n 1 -k "$n" -d 3600 -m "$method" \
		${file:+-p "$file"} > "$work/bench.txt"
	kill "$vpid"
	wait "$vpid" 2>/dev/null || true
	grep -o 'ok=[0-9]* errors=[0-9]*' "$work/bench.txt" >&2
	awk '/^summary:/ { print $2 }' "$work/cg.$vpid"
}

per_call() { # METHOD N1,N2 [LINES]
	local method=$1 n1=${2%,*} n2=${2#*,} a b
	if [ -n "${3:-}" ]; then
		sed -n "1,${n1}p" "$3" > "$work/lines1"
		sed -n "$((n1 + 1)),$((n1 + n2))p" "$3" > "$work/lines2"
		a=$(run "$n1" "$method" "$work/lines1")
		b=$(run "$n2" "$method" "$work/lines2")
	else
		a=$(run "$n1" "$method")
		b=$(run "$n2" "$method")
	fi
	echo "$method: $(( (b - a) / (n2 - n1) )) instructions per call in the daemon" \
		"($n1 calls: $a, $n2 calls: $b)"
}

per_call system.ping "$ping"
per_call booking.book "$book" "$lines"
