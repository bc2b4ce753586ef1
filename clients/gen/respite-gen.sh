#!/bin/sh
# respite-gen.sh: fill one authority with synthetic respite supply and a
# year of availability, for tests and benchmarks, by calling
# gen.generate_inventory() (clients/gen/generate.sql, loaded first) through
# psql.
#
#   respite-gen.sh --db CONNINFO --authority CODE --per-type N
#                  [--seed S] [--centre LAT,LON] [--create]
#
# N is per kind of supply: --per-type 1250 makes 5,000 (1,250 beds,
# workers, Shared Lives households and hotel/leisure offers) from
# ceil(N/25) providers of each type. Locations are Liverpool postcode
# districts, moved to --centre when given. --create adds the authority
# (named after its code) when it does not exist. The same seed gives the
# same data. Prints the counts as JSON and the elapsed time.
set -eu

usage() {
	echo "usage: $0 --db CONNINFO --authority CODE --per-type N [--seed S] [--centre LAT,LON] [--create]" >&2
	exit 2
}

db='' code='' per_type='' seed=0.42 centre=53.41,-2.98 create=false
while [ $# -gt 0 ]; do
	case $1 in
	--db) [ $# -ge 2 ] || usage; db=$2; shift 2 ;;
	--authority) [ $# -ge 2 ] || usage; code=$2; shift 2 ;;
	--per-type) [ $# -ge 2 ] || usage; per_type=$2; shift 2 ;;
	--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
	--centre) [ $# -ge 2 ] || usage; centre=$2; shift 2 ;;
	--create) create=true; shift ;;
	-h|--help) usage ;;
	*) echo "$0: unknown option $1" >&2; usage ;;
	esac
done
if [ -z "$db" ] || [ -z "$code" ] || [ -z "$per_type" ]; then
	usage
fi
case $per_type in '' | *[!0-9]*) echo "$0: --per-type must be a positive integer" >&2; exit 2 ;; esac
case $centre in *,*) ;; *) echo "$0: --centre must be LAT,LON" >&2; exit 2 ;; esac
lat=${centre%%,*}
lon=${centre#*,}

here=$(cd "$(dirname "$0")" && pwd)
# The generator calls the code of the release the daemon deployed last.
schema=$(psql "$db" -X -At -v ON_ERROR_STOP=1 -c \
	"SELECT schema_name FROM code_release ORDER BY deployed_at DESC LIMIT 1")
if [ -z "$schema" ]; then
	echo "$0: no code deployed in this database: start respited (or respited --migrate-only) first" >&2
	exit 1
fi
PGOPTIONS="${PGOPTIONS:-} -c search_path=$schema,public"
export PGOPTIONS
start=$(date +%s%N)
psql "$db" -X -q -v ON_ERROR_STOP=1 -f "$here/generate.sql"
# Values reach SQL only as psql variables (:'name' quotes them), never
# spliced into the SQL text.
psql "$db" -X -q -At -v ON_ERROR_STOP=1 \
	-v code="$code" -v n="$per_type" -v seed="$seed" -v lat="$lat" -v lon="$lon" -v create="$create" <<'SQL'
\if :create
INSERT INTO authority (code, name) VALUES (:'code', :'code') ON CONFLICT (code) DO NOTHING;
\endif
SELECT EXISTS (SELECT 1 FROM authority WHERE code = :'code') AS found \gset
\if :found
\else
\warn 'respite-gen: no authority with that code (--create adds it)'
SELECT rs_raise('not_found', 'no authority with that code');
\endif
SELECT jsonb_pretty(gen.generate_inventory((SELECT id FROM authority WHERE code = :'code'),
                                             :'n'::int, :'seed'::float8, :'lat'::float8, :'lon'::float8));
-- Fresh statistics, so the first searches are planned on the new data.
ANALYZE provider, supply, unit, avail_nights, avail_span, offer_session;
SQL
end=$(date +%s%N)
echo "elapsed: $(( (end - start) / 1000000 )) ms"
