#!/usr/bin/env bash
# scripts/demo.sh: everything needed to try respited on a fresh Debian 12
# machine, in one command, in the foreground.
#
#  1. installs the Debian packages that are missing (scripts/deps.sh);
#  2. builds out of source in build/ (autoreconf when needed, configure, make);
#  3. starts this checkout's private PostgreSQL in var/pg (scripts/pg.sh:
#     no TCP, its own socket directory, port $RESPITE_PGPORT or 54329),
#     creating it the first time;
#  4. creates the database "respite" when missing, applies the migrations
#     and deploys the release's SQL code (respited --migrate-only);
#  5. loads the demo data, every sql/demo/*.sql in name order, in one
#     transaction, until that has succeeded once for the database: success
#     is recorded with COMMENT ON DATABASE, so a later run does not load it
#     again (the files are idempotent as well);
#  6. runs respited in the foreground: JSON-RPC on 127.0.0.1:7878, web client
#     on http://127.0.0.1:8080/.
#
# Ctrl-C (or SIGTERM to this script) stops the daemon, then the private
# PostgreSQL. Running it again reuses the cluster and the database.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LISTEN=127.0.0.1:7878
HTTP=127.0.0.1:8080
DB=respite
DEMO_MARK="respite demo data loaded by scripts/demo.sh"

PG=("$REPO_ROOT/scripts/pg.sh" --dir "$REPO_ROOT/var/pg")
if [[ -n ${RESPITE_PGPORT:-} ]]; then
    PG+=(--port "$RESPITE_PGPORT")
fi

DAEMON_PID=""
PG_STARTED=0

psql_q() { "${PG[@]}" psql -X -q -v ON_ERROR_STOP=1 "$@"; }

on_signal() {
    if [[ -n $DAEMON_PID ]]; then
        # The daemon shuts down cleanly on SIGTERM (and on the terminal's
        # SIGINT, which it may have had too); the wait in run_daemon returns.
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
    else
        exit 130
    fi
}

on_exit() {
    local rc=$?
    trap - INT TERM HUP
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [[ $PG_STARTED == 1 ]]; then
        "${PG[@]}" stop || rc=1
    fi
    exit "$rc"
}

ensure_database() {
    local exists
    exists=$(psql_q -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
    if [[ $exists == 1 ]]; then
        log "database $DB exists"
    else
        log "creating database $DB"
        psql_q -d postgres -c "CREATE DATABASE $DB"
    fi
}

load_demo_data() {
    local mark files=() args=() f
    mark=$(psql_q -d postgres -tA -c \
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DB'")
    if [[ $mark == "$DEMO_MARK" ]]; then
        log "demo data already loaded"
        return 0
    fi
    mapfile -t files < <(find "$REPO_ROOT/sql/demo" -maxdepth 1 -name '*.sql' -type f | LC_ALL=C sort)
    for f in "${files[@]}"; do
        args+=(-f "$f")
    done
    log "loading demo data: ${#files[@]} file(s) from sql/demo/"
    psql_q -d "$DB" --single-transaction "${args[@]}" \
        -c "COMMENT ON DATABASE $DB IS '$DEMO_MARK'" ||
        die "loading sql/demo/ failed (nothing of it was kept)"
}

banner() {
    cat <<EOF

  respited demo
  -------------
  JSON-RPC (one JSON object a line, TCP)  $LISTEN
  web client                              http://$HTTP/
  database                                $CONNINFO
                                          (./scripts/pg.sh psql)

  Demo logins (public demo credentials, for this demo only):
    admin     demo-admin      admin
    coord     demo-coord      coordinator, Liverpool
    provider  demo-provider   provider, Liverpool
    carer     demo-carer      carer, Liverpool
    handler   demo-handler    call handler, Liverpool

  Try:  printf '{"jsonrpc":"2.0","id":1,"method":"system.ping"}\\n' | nc ${LISTEN%:*} ${LISTEN##*:}
        ./build/respitectl -u carer system.ping

  Ctrl-C stops the daemon and the demo's PostgreSQL.

EOF
}

# Runs the daemon as a child we wait for, so that a signal to this script
# is passed on and PostgreSQL is stopped only after the daemon has exited.
run_daemon() {
    local rc=0
    ./build/respited --db "$CONNINFO" --sql-dir sql --web-dir clients/web \
        --listen "$LISTEN" --http "$HTTP" &
    DAEMON_PID=$!
    while kill -0 "$DAEMON_PID" 2>/dev/null; do
        wait "$DAEMON_PID" || true
    done
    wait "$DAEMON_PID" || rc=$?
    DAEMON_PID=""
    if [[ $rc -eq 0 ]]; then
        log "respited exited cleanly"
    else
        log "respited exited with status $rc"
    fi
    return "$rc"
}

main() {
    cd "$REPO_ROOT"
    install_deps
    build_tree_any build
    [[ -x build/respited ]] || die "build/respited was not built"

    trap on_exit EXIT
    trap on_signal INT TERM HUP
    PG_STARTED=1
    "${PG[@]}" start
    CONNINFO=$("${PG[@]}" conninfo "$DB")

    ensure_database
    log "applying migrations and deploying the code from sql/"
    ./build/respited --migrate-only --db "$CONNINFO" --sql-dir sql ||
        die "migrations or the code deploy failed"
    load_demo_data

    banner
    run_daemon
}

main "$@"
