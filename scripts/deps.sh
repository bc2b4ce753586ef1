#!/usr/bin/env bash
# scripts/deps.sh: install the Debian 12 packages the project needs, when
# missing (checked with dpkg-query first; apt-get update runs only when
# something is missing; sudo is used when not root).
#
#   deps.sh           install what is missing
#   deps.sh --check   only list what is missing; exit 1 when anything is
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
    "")
        install_deps
        ;;
    --check)
        mapfile -t missing < <(missing_packages)
        if [[ ${#missing[@]} -gt 0 ]]; then
            log "missing: ${missing[*]}"
            exit 1
        fi
        log "all Debian packages present"
        ;;
    -h|--help)
        sed -n '2,8s/^# \{0,1\}//p' "$0"
        ;;
    *)
        die "unknown argument '$1' (try --help)"
        ;;
esac
