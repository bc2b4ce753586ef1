#!/usr/bin/env bash
# tests/bench/search-bench.sh: the availability.search benchmark of issue 3
# (docs/BENCHMARKS.md, "Search").
#
#   tests/bench/search-bench.sh --pg 'host=/tmp/pg port=5432 user=respite' \
#       [--dbname respite_bench] [--builddir build] [--srcdir .] \
#       [--per-type 1250] [--params 2000] [--clients 8] [--seconds 20] \
#       [--runs 3] [--loads 50,25,10,5] [--out DIR] [--keep]
#
#  1. (re)creates database --dbname on the cluster --pg names (a superuser
#     conninfo without dbname), applies the migrations with
#     `respited --migrate-only`, and adds the demo users
#     (sql/demo/00_users.sql: Liverpool, carer/demo-carer);
#  2. loads 4 x --per-type supply with a year of availability with
#     clients/gen/respite-gen.sh, timed;
#  3. starts respited (from --builddir: build it with -O2, the default
#     CFLAGS) on free ports and logs the carer in;
#  4. writes --params searches (one JSON object per line, the same every
#     time: setseed) of every kind, dates within the year, needs,
#     languages, genders, wishes, near Liverpool with a radius;
#  5. runs `respite-bench -n CLIENTS -d SECONDS -m availability.search`
#     closed-loop --runs times, then open-loop (-r) at each --loads
#     percentage of the median closed-loop throughput, --runs times each;
#     during every run it records the CPU time respited, the PostgreSQL
#     backends and respite-bench used (from /proc), what everything else on
#     the machine used (/proc/stat, so other users' load shows) and the
#     load average;
#  6. times every search inside one PostgreSQL backend (no daemon, no
#     concurrency), by shape, and EXPLAIN ANALYZEs a few (auto_explain,
#     nested statements);
#  7. prints the medians; everything raw is kept in --out.
#
# Needs psql, a PostgreSQL superuser conninfo, and the built binaries.
set -euo pipefail

pg='' dbname=respite_bench builddir=build srcdir=. per_type=1250 nparams=2000
clients=8 seconds=20 runs=3 loads=50,25,10,5 out='' keep=false
usage() { sed -n '2,30p' "$0" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--pg) pg=$2; shift 2 ;;
	--dbname) dbname=$2; shift 2 ;;
	--builddir) builddir=$2; shift 2 ;;
	--srcdir) srcdir=$2; shift 2 ;;
	--per-type) per_type=$2; shift 2 ;;
	--params) nparams=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--loads) loads=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--keep) keep=true; shift ;;
	*) usage ;;
	esac
done
[[ -n $pg ]] || usage
[[ $dbname =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "bad --dbname" >&2; exit 2; }
builddir=$(cd "$builddir" && pwd)
srcdir=$(cd "$srcdir" && pwd)
out=${out:-/tmp/search-bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
db="$pg dbname=$dbname"
daemon_pid=''

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$out/summary.txt" >&2; }
cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [[ $keep == false ]]; then
		psql "$pg dbname=postgres" -X -q -c "DROP DATABASE IF EXISTS $dbname" >/dev/null 2>&1 || true
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

# CPU ticks (user + system) of the given processes.
ticks() {
	local sum=0 pid f
	for pid in "$@"; do
		if [[ -r /proc/$pid/stat ]]; then
			f=$(sed 's/.*) //' "/proc/$pid/stat") || continue
			read -r -a a <<<"$f"
			sum=$((sum + a[11] + a[12]))
		fi
	done
	echo "$sum"
}

# Busy CPU ticks of the whole machine (every CPU, everyone).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# The PostgreSQL backends serving the benchmark database.
backends() {
	psql "$db" -X -At -c "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"; }

log "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(uname -sr); $(psql "$pg dbname=postgres" -X -At -c 'SELECT version()' | cut -d' ' -f1-2)"
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. database, migrations, users
psql "$pg dbname=postgres" -X -q -c "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname"
"$builddir/respited" --db "$db" --sql-dir "$srcdir/sql" --log-level warn --migrate-only
# The code is in the schema of the release just deployed.
PGOPTIONS="-c search_path=$(psql "$db" -X -At -c 'SELECT schema_name FROM code_release ORDER BY deployed_at DESC LIMIT 1'),public"
export PGOPTIONS
psql "$db" -X -q -v ON_ERROR_STOP=1 -f "$srcdir/sql/demo/00_users.sql"

# 2. the data set
start=$(date +%s%N)
"$srcdir/clients/gen/respite-gen.sh" --db "$db" --authority E08000012 --per-type "$per_type" >"$out/gen.txt"
end=$(date +%s%N)
log "generator: --per-type $per_type: $(( (end - start) / 1000000 )) ms wall ($(tail -n 1 "$out/gen.txt"))"
psql "$db" -X -At -c "SELECT 'data set: ' || (SELECT count(*) FROM supply) || ' supply (' ||
    (SELECT string_agg(kind || ' ' || n, ', ' ORDER BY kind) FROM (SELECT kind, count(*) n FROM supply GROUP BY kind) k) ||
    '), ' || (SELECT count(*) FROM unit) || ' units, ' || (SELECT count(*) FROM avail_nights) || ' night ranges, ' ||
    (SELECT count(*) FROM avail_span) || ' spans, ' || (SELECT count(*) FROM offer_session) || ' offer sessions, ' ||
    pg_size_pretty(pg_database_size(current_database()))" | tee -a "$out/summary.txt"

# 3. the daemon (its pool: the default 8 connections)
rpc_port=$(free_port)
http_port=$(free_port)
addr=127.0.0.1:$rpc_port
"$builddir/respited" --db "$db" --sql-dir "$srcdir/sql" --web-dir "$srcdir/clients/web" \
	--listen "$addr" --http "127.0.0.1:$http_port" --log-level warn >"$out/respited.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
	"$builddir/respitectl" -c "$addr" system.ping >/dev/null 2>&1 && break
	sleep 0.1
done
token=$(RESPITE_PASSWORD=demo-carer "$builddir/respitectl" -c "$addr" login -u carer)

# 4. the searches: a fixed mix (setseed), relative to today
psql "$db" -X -At -v n="$nparams" >"$out/search.jsonl" <<'SQL'
SELECT setseed(0.3);
WITH r AS (
    SELECT g, random() AS kind_r, random() AS day_r, random() AS len_r, random() AS hour_r,
           random() AS need_r, random() AS need2_r, random() AS lang_r, random() AS near_r,
           random() AS rad_r, random() AS jlat, random() AS jlon, random() AS wish_r,
           random() AS gender_r, random() AS lim_r
      FROM generate_series(1, :n) g),
s AS (
    SELECT r.*, rs_today() + 1 + floor(day_r * 330)::int AS d,
           CASE WHEN kind_r < 0.35 THEN 'bed' WHEN kind_r < 0.70 THEN 'worker'
                WHEN kind_r < 0.85 THEN 'household' WHEN kind_r < 0.95 THEN 'offer' ELSE 'any' END AS k
      FROM r)
SELECT jsonb_strip_nulls(jsonb_build_object(
    'kinds', CASE WHEN k = 'any' THEN NULL ELSE jsonb_build_array(k) END,
    'from', CASE WHEN k IN ('bed', 'household', 'offer', 'any') THEN d END,
    'to', CASE WHEN k IN ('bed', 'household', 'any') THEN d + 1 + floor(len_r * 14)::int
               WHEN k = 'offer' THEN d + 1 + floor(len_r * 3)::int END,
    'start', CASE WHEN k IN ('worker', 'any') THEN rs_ts_text(rs_midnight(d) + make_interval(hours => 8 + floor(hour_r * 10)::int)) END,
    'end', CASE WHEN k IN ('worker', 'any') THEN rs_ts_text(rs_midnight(d) + make_interval(hours => 8 + floor(hour_r * 10)::int)
                                                           + make_interval(mins => 120 + 60 * floor(len_r * 5)::int)) END,
    'needs', CASE WHEN k = 'offer' THEN NULL
                  WHEN need_r < 0.45 THEN jsonb_build_array('dementia')
                  WHEN need_r < 0.60 THEN jsonb_build_array('learning_disability')
                  WHEN need_r < 0.70 THEN jsonb_build_array('dementia', 'hoist')
                  WHEN need_r < 0.78 THEN jsonb_build_array('autism', 'learning_disability')
                  WHEN need_r < 0.85 THEN jsonb_build_array('physical_disability')
                  ELSE NULL END,
    'language', CASE WHEN lang_r < 0.12 THEN 'pa' WHEN lang_r < 0.17 THEN 'ur' WHEN lang_r < 0.22 THEN 'pl'
                     WHEN lang_r < 0.25 THEN 'so' WHEN lang_r < 0.27 THEN 'bn' END,
    'gender', CASE WHEN k = 'worker' AND gender_r < 0.2 THEN 'female'
                   WHEN k = 'worker' AND gender_r < 0.25 THEN 'male' END,
    'wishes', CASE WHEN wish_r < 0.10 THEN jsonb_build_array('diet:halal', 'culture:south_asian')
                   WHEN wish_r < 0.20 THEN jsonb_build_array('access:wheelchair')
                   WHEN wish_r < 0.30 THEN jsonb_build_array('lgbtq_affirming', 'diet:vegetarian') END,
    'near', CASE WHEN near_r < 0.8 THEN jsonb_build_object(
                     'lat', round((53.41 + (jlat - 0.5) * 0.06)::numeric, 4),
                     'lon', round((-2.98 + (jlon - 0.5) * 0.1)::numeric, 4),
                     'radius_km', 3 + floor(rad_r * 13)::int) END,
    'limit', CASE WHEN lim_r < 0.3 THEN 10 END))::text
  FROM s ORDER BY g;
SQL
sed -i '/^$/d; /^\s*$/d; /^setseed/d' "$out/search.jsonl"
sed -i '1{/^[^{]/d}' "$out/search.jsonl"
log "params: $(wc -l <"$out/search.jsonl") searches in $out/search.jsonl"

# One run: respite-bench with the given extra args; prints its line plus
# the CPU seconds of respited, the backends and the bench, and the load.
bench_run() {
	local tag=$1; shift
	local pgs t0 t1 d0 d1 b0 b1 m0 m1 clk line
	clk=$(getconf CLK_TCK)
	pgs=$(backends | tr '\n' ' ')
	d0=$(ticks "$daemon_pid"); b0=$(ticks $pgs); m0=$(machine_ticks)
	t0=$(date +%s%N)
	line=$( { /usr/bin/time -f 'bench_cpu=%U+%S' "$builddir/respite-bench" -c "$addr" -t "$token" -n "$clients" \
		-d "$seconds" -m availability.search -p "$out/search.jsonl" "$@" 2>&1; } | tr '\n' ' ')
	t1=$(date +%s%N)
	d1=$(ticks "$daemon_pid"); b1=$(ticks $pgs); m1=$(machine_ticks)
	local wall=$(( (t1 - t0) / 1000000 ))
	local bcpu
	bcpu=$(echo "$line" | sed -n 's/.*bench_cpu=\([0-9.]*\)+\([0-9.]*\).*/\1 \2/p' | awk '{ printf "%.1f", $1 + $2 }')
	local dcpu pcpu others
	dcpu=$(awk -v t=$((d1 - d0)) -v c="$clk" 'BEGIN { printf "%.1f", t / c }')
	pcpu=$(awk -v t=$((b1 - b0)) -v c="$clk" 'BEGIN { printf "%.1f", t / c }')
	others=$(awk -v t=$((m1 - m0)) -v c="$clk" -v d="$dcpu" -v p="$pcpu" -v b="$bcpu" \
		'BEGIN { o = t / c - d - p - b; printf "%.1f", o < 0 ? 0 : o }')
	echo "$tag $line daemon_cpu_s=$dcpu postgres_cpu_s=$pcpu bench_cpu_s=$bcpu others_cpu_s=$others wall_ms=$wall load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/runs.txt"
}

# Warm every pooled backend (plans, caches) before measuring.
"$builddir/respite-bench" -c "$addr" -t "$token" -n "$clients" -d 5 -m availability.search -p "$out/search.jsonl" >"$out/warmup.txt"

# 5. closed loop, then open loop at fractions of its throughput
for i in $(seq "$runs"); do
	bench_run "closed#$i"
done
closed_ops=$(grep '^closed#' "$out/runs.txt" | field ops_per_s | median)
log "closed loop, $clients clients, ${seconds}s x $runs: median ops/s $closed_ops, p50 ms $(grep '^closed#' "$out/runs.txt" | field p50_ms | median), p99 ms $(grep '^closed#' "$out/runs.txt" | field p99_ms | median)"
for pct in ${loads//,/ }; do
	rate=$(awk -v o="$closed_ops" -v p="$pct" 'BEGIN { printf "%.0f", o * p / 100 }')
	for i in $(seq "$runs"); do
		bench_run "open${pct}#$i" -r "$rate"
	done
	log "open loop at ${pct}% ($rate/s), $clients clients: median p50 ms $(grep "^open${pct}#" "$out/runs.txt" | field p50_ms | median), p99 ms $(grep "^open${pct}#" "$out/runs.txt" | field p99_ms | median), missed $(grep "^open${pct}#" "$out/runs.txt" | field missed | median)"
done

# 6. where the time goes inside PostgreSQL: every search, one warm
#    backend, no daemon, no concurrency; by shape
uid=$(psql "$db" -X -At -c "SELECT id FROM app_user WHERE username = 'carer'")
psql "$db" -X -q -v uid="$uid" >"$out/sql-shapes.txt" 2>&1 <<SQL || true
CREATE TEMP TABLE p (n serial, l text);
\\copy p (l) FROM '$out/search.jsonl'
CREATE TEMP TABLE t (n int, ms float8, results int);
DO \$\$
DECLARE r record; t0 timestamptz; res jsonb;
        ctx jsonb := rs_user_ctx($uid) || '{"method":"availability.search"}';
BEGIN
    FOR r IN SELECT * FROM p ORDER BY n LIMIT 200 LOOP  -- warm up
        PERFORM "availability.search"(ctx, r.l::jsonb);
    END LOOP;
    FOR r IN SELECT * FROM p ORDER BY n LOOP
        t0 := clock_timestamp();
        res := "availability.search"(ctx, r.l::jsonb);
        INSERT INTO t VALUES (r.n, extract(epoch FROM clock_timestamp() - t0) * 1000,
                              jsonb_array_length(res->'results'));
    END LOOP;
END \$\$;
\\pset footer off
SELECT coalesce(l::jsonb->'kinds'->>0, 'any (both windows)') AS kinds, l::jsonb ? 'wishes' AS wishes,
       count(*) AS searches, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p99_ms,
       round(max(ms)::numeric, 2) AS max_ms, round(avg(results)::numeric, 1) AS avg_results
  FROM t JOIN p USING (n) GROUP BY ROLLUP (1, 2) ORDER BY 1, 2;
SQL
log "inside PostgreSQL, one backend, each search once (all shapes): $(grep -E '^ *\|' "$out/sql-shapes.txt" | tail -n 1 | tr -s ' ')"
cat "$out/sql-shapes.txt" >>"$out/summary.txt"
for n in 1 2 3 4 5 6; do
	sed -n "${n}p" "$out/search.jsonl"
done >"$out/explain-params.jsonl"
{
	echo "LOAD 'auto_explain';"
	echo "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
	echo "SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;"
	echo "SET auto_explain.log_level = notice; SET client_min_messages = notice;"
	while IFS= read -r p; do
		echo "SELECT jsonb_array_length(\"availability.search\"(rs_user_ctx($uid) || '{\"method\":\"availability.search\"}', '$p')->'results') AS results;"
	done <"$out/explain-params.jsonl"
} | psql "$db" -X >"$out/explain.txt" 2>&1 || true
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
log "raw output in $out"
