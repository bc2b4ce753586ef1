#!/usr/bin/env bash
# scripts/pg.sh: a private PostgreSQL cluster for this checkout.
#
#   pg.sh [--dir DIR] [--port N] init|start|stop|status|conninfo [DB]|psql [ARGS...]
#   pg.sh [--dir DIR] [--port N] sockdir|destroy
#
# DIR defaults to var/pg in the checkout (git-ignored). It holds
#   DIR/data          the cluster (PGDATA)
#   DIR/run           its unix-socket directory
#   DIR/log           the server log
#   DIR/cluster.conf  the port it was given (port=N)
#
# The port is, in order: --port, the one recorded at the last start (or
# init), $RESPITE_PGPORT, 54329. The cluster listens on no TCP address at all (listen_addresses = ''):
# the "port" only names the socket file DIR/run/.s.PGSQL.N, so two clusters
# with different DIRs never collide, and no system service is touched.
#
# Authentication is trust, for the database superuser "respite": safe here
# because the only way in is the unix socket, and its directory is mode 0700
# and belongs to the cluster's owner, so only that user and root can connect.
#
# PostgreSQL refuses to run as root. When this script runs as root (machines
# and CI do) the cluster belongs to an unprivileged system user, respite-pg,
# created on first use, and initdb/pg_ctl run through `runuser -u respite-pg`.
# When the checkout is not traversable by that user (a checkout under /root,
# say), the cluster lives in /var/tmp/respite-pg-<12 hex of the sha256 of
# DIR's absolute path>/ and DIR is a symlink to it. Run as anyone else, the
# cluster belongs to, and runs as, the user running this script.
#
# A unix-socket path is at most 107 bytes: when DIR/run/.s.PGSQL.N would be
# longer, the socket directory is /tmp/respite-pg-<same hash>/ instead
# (`pg.sh status` says which).
#
# status exits 0 when the cluster runs, 3 when it is stopped, 4 when DIR has
# no cluster. Every other command exits 0 on success, idempotently: init on
# an initialised cluster, start on a running one and stop on a stopped one
# do nothing.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_SYSTEM_USER=respite-pg
DB_SUPERUSER=respite
DEFAULT_PORT=54329
SOCKET_PATH_MAX=107

usage() {
    cat <<EOF
usage: $PROG [--dir DIR] [--port N] COMMAND
  init              create the cluster in DIR (default: var/pg)
  start             start it (initialising it first if needed)
  stop              stop it
  status            say whether it runs (exit 0 yes, 3 no, 4 no cluster)
  conninfo [DB]     print a libpq connection string (DB defaults to respite)
  psql [ARGS...]    run psql on it as superuser $DB_SUPERUSER, database respite,
                    with the newest release's code first in search_path
  sockdir           print its unix-socket directory (libpq's host)
  destroy           stop it and delete DIR
EOF
}

# ---- arguments and paths -------------------------------------------------

DIR=$REPO_ROOT/var/pg
PORT_ARG=""
parse_args() {
    while [[ $# -gt 0 ]]; do
        case $1 in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            --port) [[ $# -ge 2 ]] || die "--port needs a value"; PORT_ARG=$2; shift 2 ;;
            --port=*) PORT_ARG=${1#--port=}; shift ;;
            -h|--help) usage; exit 0 ;;
            --) shift; break ;;
            -*) die "unknown option $1 (try --help)" ;;
            *) break ;;
        esac
    done
    [[ $# -gt 0 ]] || { usage >&2; exit 2; }
    COMMAND=$1
    shift
    COMMAND_ARGS=("$@")
    [[ $DIR == /* ]] || DIR=$PWD/$DIR
    DIR=${DIR%/}
    if [[ -n $PORT_ARG ]]; then
        valid_port "$PORT_ARG" || die "bad port '$PORT_ARG' (1024-65535)"
    fi
}

valid_port() { [[ $1 =~ ^[0-9]{4,5}$ ]] && (( $1 >= 1024 && $1 <= 65535 )); }

path_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# Sets REAL (DIR with symlinks resolved), DATA and CONF.
set_paths() {
    REAL=$(readlink -m -- "$DIR")
    DATA=$REAL/data
    CONF=$REAL/cluster.conf
}

have_cluster() { [[ -f $DATA/PG_VERSION ]]; }

require_cluster() {
    have_cluster || die "no cluster in $DIR: run '$PROG${DIR_OPT:+ $DIR_OPT} init' first"
}

# Port: --port, else recorded, else $RESPITE_PGPORT, else the default.
recorded_port() {
    [[ -f $CONF ]] || return 0
    sed -n 's/^port=\([0-9]*\)$/\1/p' "$CONF" | tail -n 1
}
set_port() {
    RECORDED_PORT=$(recorded_port)
    PORT=${PORT_ARG:-${RECORDED_PORT:-${RESPITE_PGPORT:-$DEFAULT_PORT}}}
    valid_port "$PORT" || die "bad port '$PORT' (1024-65535)"
}
record_port() { printf 'port=%s\n' "$PORT" >"$CONF"; }

# The socket directory: DIR/run, unless the socket path would be too long.
set_sockdir() {
    local bytes
    SOCKDIR=$REAL/run
    bytes=$(printf '%s/.s.PGSQL.%s' "$SOCKDIR" "$PORT" | wc -c)
    if (( bytes > SOCKET_PATH_MAX )); then
        SOCKDIR=/tmp/respite-pg-$(path_hash "$REAL")
        SOCKDIR_FALLBACK=1
    else
        SOCKDIR_FALLBACK=0
    fi
}

# ---- who runs the server -------------------------------------------------

# PG_OS_USER: who owns and runs the cluster. As root, the owner of an existing
# cluster (respite-pg unless it was made by a user who ran this script
# themselves), else respite-pg. As anyone else, that user.
set_os_user() {
    local owner=""
    if [[ -e $DATA ]]; then
        owner=$(stat -c %U -- "$DATA")
    fi
    if is_root; then
        PG_OS_USER=${owner:-$PG_SYSTEM_USER}
        [[ $PG_OS_USER != root ]] ||
            die "$DATA belongs to root, and PostgreSQL will not run as root: '$PROG destroy' it and start again"
    else
        PG_OS_USER=$(id -un)
        if [[ -n $owner && $owner != "$PG_OS_USER" ]]; then
            die "the cluster in $DIR belongs to $owner: run this as $owner or as root"
        fi
    fi
}

ensure_system_user() {
    is_root || return 0
    [[ $PG_OS_USER == "$PG_SYSTEM_USER" ]] || return 0
    id -u "$PG_SYSTEM_USER" >/dev/null 2>&1 && return 0
    log "creating system user $PG_SYSTEM_USER to run PostgreSQL (it refuses to run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_SYSTEM_USER" ||
        die "could not create user $PG_SYSTEM_USER"
}

# run_pg CMD...: run CMD as the cluster's owner, from / (the caller's working
# directory may be unreadable to that user).
run_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

# ensure_private_dir PATH: PATH exists, is a real directory (not a symlink:
# /tmp and /var/tmp are shared), belongs to PG_OS_USER and is mode 0700.
ensure_private_dir() {
    local d=$1 owner
    if [[ -L $d ]]; then
        die "$d is a symlink; refusing to use it"
    fi
    if [[ ! -d $d ]]; then
        mkdir -m 0700 -- "$d"
        if is_root; then
            chown -- "$PG_OS_USER:" "$d"
        fi
    fi
    owner=$(stat -c %U -- "$d")
    [[ $owner == "$PG_OS_USER" ]] ||
        die "$d belongs to $owner, not $PG_OS_USER; refusing to use it"
    chmod 0700 -- "$d"
}

# Can PG_OS_USER reach PATH (search permission on it and every parent)?
reachable_by_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- test -x "$1") 2>/dev/null
    else
        [[ -x $1 ]]
    fi
}

# Creates DIR, or the symlink DIR -> /var/tmp/respite-pg-HASH when the
# checkout is not reachable by PG_OS_USER. Sets REAL and friends again.
make_cluster_dir() {
    local parent target
    if [[ -L $DIR ]]; then
        # A symlink from an earlier init; its target may have been cleaned.
        target=$(readlink -m -- "$DIR")
        ensure_private_dir "$target"
    elif [[ -d $DIR ]]; then
        ensure_private_dir "$DIR"
        reachable_by_pg "$DIR" ||
            die "$PG_OS_USER cannot reach $DIR; remove it and run init again to use /var/tmp"
    else
        parent=$(dirname -- "$DIR")
        mkdir -p -- "$parent"
        if reachable_by_pg "$parent"; then
            ensure_private_dir "$DIR"
        else
            target=/var/tmp/respite-pg-$(path_hash "$DIR")
            log "$PG_OS_USER cannot reach $parent; keeping the cluster in $target (symlinked from $DIR)"
            ensure_private_dir "$target"
            ln -s -- "$target" "$DIR"
        fi
    fi
    set_paths
    set_sockdir
}

# ---- commands ------------------------------------------------------------

is_running() {
    have_cluster || return 1
    run_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

cmd_init() {
    if have_cluster; then
        log "cluster already initialised in $DIR"
        return 0
    fi
    ensure_system_user
    make_cluster_dir
    log "initialising a cluster in $DIR (owner $PG_OS_USER, $("$BIN/postgres" --version))"
    # Trust is safe: see the comment at the top (no TCP; private socket dir).
    if ! run_pg "$BIN/initdb" -D "$DATA" -U "$DB_SUPERUSER" --auth=trust \
            -E UTF8 --locale=C.UTF-8 --no-instructions >"$REAL/initdb.log" 2>&1; then
        cat "$REAL/initdb.log" >&2
        die "initdb failed (output above, also in $REAL/initdb.log)"
    fi
    printf '\n# scripts/pg.sh: settings for this private cluster, rewritten at every start.\ninclude = '\''respite.conf'\''\n' |
        run_pg tee -a "$DATA/postgresql.conf" >/dev/null
    write_settings
    record_port
}

# DATA/respite.conf: no TCP, our port and socket directory.
write_settings() {
    local sq_sockdir=${SOCKDIR//\'/\'\'}
    run_pg tee "$DATA/respite.conf" >/dev/null <<EOF
# Written by scripts/pg.sh at every start: edit that script, not this file.
listen_addresses = ''
port = $PORT
unix_socket_directories = '$sq_sockdir'
unix_socket_permissions = 0700
EOF
}

cmd_start() {
    have_cluster || cmd_init
    if is_running; then
        if [[ -n $RECORDED_PORT && $RECORDED_PORT != "$PORT" ]]; then
            die "already running on port $RECORDED_PORT, not $PORT: stop it first"
        fi
        log "already running ($(describe))"
        return 0
    fi
    ensure_private_dir "$SOCKDIR"
    if [[ $SOCKDIR_FALLBACK == 1 ]]; then
        log "$REAL/run is too long for a unix socket path; using $SOCKDIR"
    fi
    write_settings
    record_port
    if ! run_pg "$BIN/pg_ctl" -D "$DATA" -l "$REAL/log" -w -t 60 -s start; then
        tail -n 30 "$REAL/log" >&2 || true
        die "PostgreSQL did not start (log above, also in $REAL/log)"
    fi
    log "started ($(describe))"
}

cmd_stop() {
    if ! is_running; then
        log "not running ($DIR)"
        return 0
    fi
    run_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop ||
        die "could not stop PostgreSQL in $DIR (see $REAL/log)"
    log "stopped ($DIR)"
}

describe() { printf 'port %s, socket dir %s, data %s' "$PORT" "$SOCKDIR" "$DATA"; }

cmd_status() {
    if ! have_cluster; then
        printf 'no cluster in %s\n' "$DIR"
        return 4
    fi
    if is_running; then
        printf 'running: %s\n' "$(describe)"
        return 0
    fi
    printf 'stopped: %s\n' "$(describe)"
    return 3
}

# A libpq conninfo value, quoted when it needs to be.
conninfo_value() {
    local v=$1
    if [[ $v =~ ^[A-Za-z0-9_./-]+$ ]]; then
        printf '%s' "$v"
    else
        v=${v//\\/\\\\}
        printf "'%s'" "${v//\'/\\\'}"
    fi
}

cmd_conninfo() {
    local db=${COMMAND_ARGS[0]:-respite}
    printf 'host=%s port=%s user=%s dbname=%s\n' "$(conninfo_value "$SOCKDIR")" "$PORT" \
        "$DB_SUPERUSER" "$(conninfo_value "$db")"
}

# The database psql will open: -d/--dbname in ARGS, else PGDATABASE.
psql_dbname() {
    local db=$PGDATABASE i=0 a
    local -a args=("${COMMAND_ARGS[@]}")
    while (( i < ${#args[@]} )); do
        a=${args[i]}
        case $a in
            -d|--dbname) db=${args[i + 1]:-$db}; i=$((i + 1)) ;;
            --dbname=*) db=${a#--dbname=} ;;
            -d?*) db=${a#-d} ;;
        esac
        i=$((i + 1))
    done
    printf '%s' "$db"
}

# The newest release's code schema in the database's code_release, or
# nothing (no such database or table yet).
newest_code_schema() {
    "$BIN/psql" -X -q -A -t -d "$1" -c \
        "SELECT schema_name FROM code_release ORDER BY deployed_at DESC LIMIT 1" \
        2>/dev/null || true
}

# psql with search_path = the newest release's code, then the tables, as
# the daemon's own connections have it: its functions are then callable
# by name.
cmd_psql() {
    require_cluster
    export PGHOST=$SOCKDIR PGPORT=$PORT PGUSER=$DB_SUPERUSER
    export PGDATABASE=${PGDATABASE:-respite}
    local schema
    schema=$(PGOPTIONS='' newest_code_schema "$(psql_dbname)")
    if [[ $schema =~ ^api_[a-z0-9_]+$ ]]; then
        export PGOPTIONS="${PGOPTIONS:-} -c search_path=$schema,public"
    fi
    exec "$BIN/psql" "${COMMAND_ARGS[@]}"
}

cmd_destroy() {
    if [[ ! -e $DIR && ! -L $DIR ]]; then
        log "nothing to destroy in $DIR"
        return 0
    fi
    # Only delete what this script made.
    if ! have_cluster && [[ ! -f $CONF && -n $(ls -A -- "$REAL" 2>/dev/null) ]]; then
        die "$DIR does not look like a cluster made by $PROG; not deleting it"
    fi
    cmd_stop
    if [[ $SOCKDIR_FALLBACK == 1 ]]; then
        rm -rf -- "$SOCKDIR"
    fi
    rm -rf -- "$REAL"
    if [[ -L $DIR ]]; then
        rm -f -- "$DIR"
    fi
    log "destroyed $DIR"
}

main() {
    parse_args "$@"
    DIR_OPT=""
    [[ $DIR == "$REPO_ROOT/var/pg" ]] || DIR_OPT="--dir $DIR"
    set_paths
    set_port
    set_sockdir
    set_os_user
    BIN=$(pg_bindir "$DATA")
    case $COMMAND in
        init) cmd_init ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        conninfo) require_cluster; cmd_conninfo ;;
        psql) cmd_psql ;;
        sockdir) require_cluster; printf '%s\n' "$SOCKDIR" ;;
        destroy) cmd_destroy ;;
        help) usage ;;
        *) usage >&2; die "unknown command '$COMMAND'" ;;
    esac
}

main "$@"
