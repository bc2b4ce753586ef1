#!/usr/bin/env bash
# scripts/test.sh: build and run every test, as CI does (.ci/run runs this).
#
#  1. installs the Debian packages that are missing (scripts/deps.sh);
#  2. builds out of source in build/ with --enable-werror;
#  3. starts a fresh private PostgreSQL for the tests in var/pg-test, port
#     54339 (scripts/pg.sh; separate from the demo's var/pg);
#  4. runs `make check VERBOSE=1` in build/ (a failing test's log is printed);
#  5. builds build-asan/ with --enable-sanitizers --enable-werror and runs
#     `make check VERBOSE=1` there too, with
#     ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1;
#  6. stops the test cluster (always, also on failure or Ctrl-C), prints a
#     summary and exits non-zero when anything failed.
#
# The test programs find the test cluster through the environment:
#   RESPITE_TEST_PGHOST  its unix-socket directory (an absolute path)
#   RESPITE_TEST_PGPORT  its port: 54339
#   RESPITE_TEST_PGUSER  its superuser: respite (trust authentication: no
#                        password; create scratch databases as needed)
#   RESPITE_TEST_PGCTL   a /bin/sh command that stops or starts the cluster
#                        when given one more word, stop or start, and returns
#                        when that is done (pg_ctl -w). Its exact form is
#                          '/abs/checkout/scripts/pg.sh' --dir '/abs/checkout/var/pg-test' --port 54339
#                        (paths single-quoted for /bin/sh), so a test runs
#                          system("$RESPITE_TEST_PGCTL stop") and
#                          system("$RESPITE_TEST_PGCTL start"),
#                        i.e. getenv("RESPITE_TEST_PGCTL") + " stop", and
#                        expects exit status 0. "status" also works (exit 0
#                        running, 3 stopped).
# Test programs run one at a time (make check without -j): a test that stops
# the cluster cannot disturb another.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TEST_PGPORT=54339
TEST_PGDIR=$REPO_ROOT/var/pg-test
PGT=("$REPO_ROOT/scripts/pg.sh" --dir "$TEST_PGDIR" --port "$TEST_PGPORT")

FAILED=()
SUMMARY_DONE=0
PASSED_N=0
FAILED_N=0
SKIPPED_N=0

PG_STOPPED=0
stop_cluster() {
    if [[ $PG_STOPPED == 0 ]]; then
        PG_STOPPED=1
        "${PGT[@]}" stop
    fi
}

on_exit() {
    local rc=$?
    trap - INT TERM HUP
    stop_cluster || rc=1
    if [[ $SUMMARY_DONE == 0 ]]; then
        log "FAILED before all tests ran (exit status $rc)"
        [[ $rc -ne 0 ]] || rc=1
    fi
    exit "$rc"
}

# count_results TREE STAMP: adds TREE's test results (from the .trs and .log
# files written after STAMP) to the totals. Check's own "N%: Checks: C,
# Failures: F, Errors: E" lines give test counts; a program without one
# counts as one test.
count_results() {
    local tree=$1 stamp=$2 trs result counts n fe
    local p=0 f=0 s=0
    while IFS= read -r trs; do
        result=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
        counts=$(awk '/^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
                          gsub(/,/, ""); n += $3; fe += $5 + $7; found = 1 }
                      END { if (found) print n, fe }' "${trs%.trs}.log" 2>/dev/null || true)
        n=""; fe=0
        if [[ -n $counts ]]; then
            read -r n fe <<<"$counts"
        fi
        case $result in
            SKIP)
                s=$((s + 1)) ;;
            PASS|XFAIL)
                if [[ -n $n ]]; then
                    p=$((p + n - fe)); f=$((f + fe))
                else
                    p=$((p + 1))
                fi ;;
            *)
                if [[ -n $n ]]; then
                    p=$((p + n - fe)); f=$((f + fe))
                fi
                if [[ -z $n || $fe -eq 0 ]]; then
                    f=$((f + 1))
                fi ;;
        esac
    done < <(find "$REPO_ROOT/$tree" -name '*.trs' -newer "$stamp" | LC_ALL=C sort)
    log "$tree/: $p passed, $f failed, $s skipped (logs: $tree/test-suite.log)"
    PASSED_N=$((PASSED_N + p)); FAILED_N=$((FAILED_N + f)); SKIPPED_N=$((SKIPPED_N + s))
}

# run_check TREE [VAR=VALUE...]: make check in TREE with the test cluster up.
run_check() {
    local tree=$1 stamp
    shift
    "${PGT[@]}" start
    stamp=$REPO_ROOT/$tree/.check-stamp
    touch "$stamp"
    log "make check in $tree/"
    if ! env "$@" make -C "$REPO_ROOT/$tree" check VERBOSE=1; then
        FAILED+=(" make check in $tree/")
    fi
    count_results "$tree" "$stamp"
}

main() {
    cd "$REPO_ROOT"
    install_deps
    build_tree build --enable-werror

    trap on_exit EXIT
    trap 'exit 130' INT TERM HUP
    # A fresh cluster every run, so no state survives from an earlier one.
    "${PGT[@]}" destroy
    "${PGT[@]}" start
    export RESPITE_TEST_PGHOST RESPITE_TEST_PGPORT RESPITE_TEST_PGUSER RESPITE_TEST_PGCTL
    RESPITE_TEST_PGHOST=$("${PGT[@]}" sockdir)
    RESPITE_TEST_PGPORT=$TEST_PGPORT
    RESPITE_TEST_PGUSER=respite
    RESPITE_TEST_PGCTL="$(sh_quote "$REPO_ROOT/scripts/pg.sh") --dir $(sh_quote "$TEST_PGDIR") --port $TEST_PGPORT"
    log "test cluster: RESPITE_TEST_PGHOST=$RESPITE_TEST_PGHOST RESPITE_TEST_PGPORT=$RESPITE_TEST_PGPORT"
    log "RESPITE_TEST_PGCTL=$RESPITE_TEST_PGCTL"

    run_check build

    build_tree build-asan --enable-sanitizers --enable-werror
    # Sanitized code runs slower: Check's per-test timeouts are doubled.
    run_check build-asan ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-2}"

    stop_cluster || FAILED+=(" stopping the test cluster")
    SUMMARY_DONE=1
    if [[ ${#FAILED[@]} -gt 0 && $FAILED_N -eq 0 ]]; then
        FAILED_N=1   # make check failed without a test result to show for it
    fi
    if [[ $FAILED_N -gt 0 ]]; then
        local IFS=';'
        log "FAILED: ${FAILED[*]:-a test failed}"
        printf 'summary: %d passed, %d failed, %d skipped\n' "$PASSED_N" "$FAILED_N" "$SKIPPED_N"
        exit 1
    fi
    if [[ $((PASSED_N + SKIPPED_N)) -eq 0 ]]; then
        log "FAILED: no test ran"
        printf 'summary: 0 passed, 0 failed, 0 skipped\n'
        exit 1
    fi
    log "all tests passed in build/ and build-asan/"
    printf 'summary: %d passed, %d failed, %d skipped\n' "$PASSED_N" "$FAILED_N" "$SKIPPED_N"
}

main "$@"
