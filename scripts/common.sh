# shellcheck shell=bash
# scripts/common.sh: helpers shared by demo.sh, test.sh, deps.sh and pg.sh.
# Sourced, never run. The sourcing script has already set -euo pipefail.
#
# Everything here works on a fresh Debian 12 machine, as root (machines and
# CI) or as an ordinary user with sudo.

PROG=$(basename "$0")
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

# The Debian packages the project needs to build, test and run the demo.
DEPS_PACKAGES=(
    build-essential autoconf automake libtool pkg-config
    libevent-dev libpq-dev libjson-c-dev libssl-dev check
    postgresql postgresql-contrib
    netcat-openbsd valgrind
)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# need_root_cmd CMD...: run CMD as root: directly when we are root, through
# sudo otherwise.
need_root_cmd() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "'$*' needs root, and sudo is not installed: run this script as root"
    fi
}

# Prints the packages of DEPS_PACKAGES that are not installed, one a line.
missing_packages() {
    local pkg status
    for pkg in "${DEPS_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ $status != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

# Installs whatever is missing. apt-get update runs only when something is.
install_deps() {
    command -v dpkg-query >/dev/null 2>&1 ||
        die "dpkg-query not found: these scripts expect Debian 12"
    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "all Debian packages present"
        return 0
    fi
    log "installing missing Debian packages: ${missing[*]}"
    need_root_cmd env DEBIAN_FRONTEND=noninteractive apt-get update
    need_root_cmd env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

# Prints the PostgreSQL server bin directory: pg_config's when it holds
# initdb (pg_config comes with libpq-dev and can name a server that is not
# installed), else the highest /usr/lib/postgresql/*/bin. With a data
# directory as argument, prefers the version that created it.
pg_bindir() {
    local data=${1:-} dir ver
    if [[ -n $data && -f $data/PG_VERSION ]]; then
        ver=$(<"$data/PG_VERSION")
        if [[ -x /usr/lib/postgresql/$ver/bin/postgres ]]; then
            printf '%s\n' "/usr/lib/postgresql/$ver/bin"
            return 0
        fi
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    dir=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
          sort -V | tail -n 1)
    [[ -n $dir ]] || die "no PostgreSQL server found (initdb): install the Debian package postgresql"
    printf '%s\n' "${dir%/initdb}"
}

# A VPATH (out-of-source) build is refused while the source tree itself is
# configured. Clean an in-place configuration away; it only holds generated
# files.
ensure_source_unconfigured() {
    [[ -f $REPO_ROOT/config.status ]] || return 0
    log "the source tree was configured in place; running 'make distclean' there so build/ and build-asan/ can be used"
    make -C "$REPO_ROOT" distclean >/dev/null ||
        die "'make distclean' failed in $REPO_ROOT: remove config.status, config.h and Makefile there by hand"
}

# Regenerates configure when it is missing or older than its sources.
ensure_configure_script() {
    local r=$REPO_ROOT
    if [[ ! -x $r/configure || ! -f $r/Makefile.in ||
          $r/configure.ac -nt $r/configure || $r/Makefile.am -nt $r/configure ||
          $r/Makefile.am -nt $r/Makefile.in ]]; then
        log "running autoreconf -fi"
        mkdir -p "$r/m4"
        (cd "$r" && autoreconf -fi) || die "autoreconf failed"
    fi
}

# build_tree DIR [CONFIGURE-ARGS...]: configures (when not yet done with the
# same arguments) and builds the project out of source in REPO_ROOT/DIR.
build_tree() {
    local name=$1 dir=$REPO_ROOT/$1
    shift
    local want have=""
    want=$(printf '%s\n' "$@")
    ensure_source_unconfigured
    ensure_configure_script
    mkdir -p "$dir"
    if [[ -f $dir/.configure-args ]]; then
        have=$(<"$dir/.configure-args")
    fi
    if [[ ! -f $dir/Makefile || ! -f $dir/config.status || $have != "$want" ]]; then
        log "configuring $name/${*:+ with $*}"
        rm -f "$dir/.configure-args"
        (cd "$dir" && "$REPO_ROOT/configure" "$@") ||
            die "configure failed in $name/ (see $name/config.log)"
        printf '%s\n' "$want" >"$dir/.configure-args"
    fi
    log "building in $name/"
    make -C "$dir" -j2 || die "build failed in $name/"
}

# build_tree_any DIR: builds DIR as it is configured, however that was (so
# demo.sh does not undo test.sh's --enable-werror); configures it plainly
# when it is not configured yet.
build_tree_any() {
    local dir=$REPO_ROOT/$1
    if [[ -f $dir/Makefile && -f $dir/config.status ]]; then
        ensure_source_unconfigured
        ensure_configure_script
        log "building in $1/"
        make -C "$dir" -j2 || die "build failed in $1/"
    else
        build_tree "$1"
    fi
}

# sh_quote WORD: WORD quoted for a POSIX shell (system(3) runs /bin/sh).
sh_quote() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}
