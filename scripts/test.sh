#!/usr/bin/env bash
# Run everything that checks trioloop, on each given Python version (default:
# all supported, 3.10-3.15):
#   per version: our tests (pytest tests/), CPython's own test_asyncio on
#                trioloop (tests/conformance), the quick stress run
#                (tests/stress) - TRIOLOOP_CONFORMANCE=0 / TRIOLOOP_STRESS=0
#                leave those two out; on 3.12 also our tests on the oldest
#                Trio pyproject.toml admits (scripts/oldest-trio.sh;
#                TRIOLOOP_OLDEST_TRIO=0 leaves it out); trio-asyncio 0.16's
#                own suite on trioloop.compat (scripts/trio-asyncio-suite.sh;
#                TRIOLOOP_TRIO_ASYNCIO=0 leaves it out); on 3.12, anyio's own
#                test suite on stock asyncio and on trioloop, compared
#                (scripts/anyio-suite.sh; TRIOLOOP_THIRDPARTY=0 leaves it out);
#                on 3.12 and 3.14 our tests and the conformance run with
#                the portable driver forced, and on 3.13 our tests with
#                epoll hidden from asyncio (scripts/test-portable.sh);
#   once:        lint (ruff, mypy --strict), the docs build (warnings are
#                errors) and the built wheel's smoke test - TRIOLOOP_CHECKS=0
#                leaves them out.
# 3.10-3.13 come from pyenv, each with a venv under .venv/; 3.14 and 3.15 run
# in the Debian-sid chroot of scripts/newest-pythons.sh.  The machine has two
# cores, so versions run in two lanes side by side, each version's output
# printed whole when it is done.  Exits non-zero if anything failed; ends with
# a one-line verdict per version.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

versions=("$@")
# By default the two versions with extra lanes (3.12: oldest Trio, anyio,
# portable driver; 3.14: portable driver) start first, in different lanes,
# and 3.13 (our tests with epoll hidden) goes to the lane 3.12 is not in.
[ ${#versions[@]} -gt 0 ] || versions=(3.12 3.14 3.10 3.11 3.15 3.13)


# check_version VERSION: every per-version check; the verdict goes to
# .cache/verdict-VERSION, the output to .cache/test-VERSION.log.
check_version() {
    local version=$1 verdict=""
    {
        echo "=== Python $version: our tests ==="
        if python_on "$version" -m pytest tests -p no:cacheprovider -q; then
            verdict="tests passed"
        else
            verdict="tests FAILED"
        fi
        if [ "${TRIOLOOP_CONFORMANCE:-1}" != 0 ]; then
            echo "=== Python $version: CPython's test_asyncio on trioloop ==="
            if python_on "$version" tests/conformance/run.py \
                --conformance-json=".cache/conformance-$version.json"; then
                verdict+=", conformance passed"
            else
                verdict+=", conformance FAILED"
            fi
        fi
        if [ "${TRIOLOOP_STRESS:-1}" != 0 ]; then
            echo "=== Python $version: stress (quick) ==="
            if python_on "$version" -m tests.stress --quick \
                --json ".cache/stress-$version.json"; then
                verdict+=", stress passed"
                if grep -q '^[a-z_]* *FLAKY ' ".cache/test-$version.log"; then
                    verdict+=" (a scenario FLAKY: failed once, passed on retry)"
                fi
            else
                verdict+=", stress FAILED"
            fi
        fi
        if [ "$version" = 3.12 ] && [ "${TRIOLOOP_OLDEST_TRIO:-1}" != 0 ]; then
            if bash scripts/oldest-trio.sh; then
                verdict+=", oldest Trio passed"
            else
                verdict+=", oldest Trio FAILED"
            fi
        fi
        if [ "${TRIOLOOP_TRIO_ASYNCIO:-1}" != 0 ]; then
            echo "=== Python $version: trio-asyncio 0.16's own suite on trioloop.compat ==="
            if bash scripts/trio-asyncio-suite.sh "$version"; then
                verdict+=", trio-asyncio suite passed"
            else
                verdict+=", trio-asyncio suite FAILED"
            fi
        fi
        if [ "$version" = 3.12 ] && [ "${TRIOLOOP_THIRDPARTY:-1}" != 0 ]; then
            echo "=== Python 3.12: anyio's test suite, stock asyncio vs trioloop ==="
            if bash scripts/anyio-suite.sh; then
                verdict+=", anyio suite passed"
            else
                verdict+=", anyio suite FAILED"
            fi
        fi
        bash scripts/test-portable.sh "$version" || verdict+=", portable driver FAILED"
        echo "$verdict" > ".cache/verdict-$version"
    } > ".cache/test-$version.log" 2>&1
    cat ".cache/test-$version.log"
}

lane() {
    for version in "$@"; do check_version "$version"; done
}

mkdir -p .cache
rm -f .cache/verdict-*

# PostgreSQL and Redis for the examples' tests (installed and started on
# loopback if needed); the 3.14/3.15 chroot sees them through TRIOLOOP_PASSENV.
# What this run starts it stops on every way out - pass, fail, error, Ctrl+C,
# kill (TERM) - together with the lanes still running; servers that were
# running before (started by hand: scripts/services.sh) are left running.
already_running=$(bash scripts/services.sh running)
lanes=()
finish() {
    local pid name started=()
    for pid in "${lanes[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for name in postgres redis; do
        grep -qx "$name" <<< "$already_running" || started+=("$name")
    done
    [ ${#started[@]} -eq 0 ] || bash scripts/services.sh stop "${started[@]}" || true
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
eval "$(bash scripts/services.sh)"
export TRIOLOOP_PASSENV="TRIOLOOP_PG_DSN TRIOLOOP_REDIS_URL"

# Prepare the venvs and the chroot first, one at a time (pip and debootstrap
# are not safe to run twice at once).
for version in "${versions[@]}"; do
    case $version in
        3.14|3.15) scripts/newest-pythons.sh setup ;;
        *) venv_for "$version" > /dev/null ;;
    esac
done

lane_a=() lane_b=()
for i in "${!versions[@]}"; do
    if (( i % 2 == 0 )); then lane_a+=("${versions[$i]}"); else lane_b+=("${versions[$i]}"); fi
done
set -m  # each lane in a process group of its own, so finish can stop it whole
lane "${lane_a[@]}" &
lanes+=($!)
if [ ${#lane_b[@]} -gt 0 ]; then lane "${lane_b[@]}" & lanes+=($!); fi
set +m
wait
lanes=()

status=0
checks=""
if [ "${TRIOLOOP_CHECKS:-1}" != 0 ]; then
    echo "=== lint, docs, wheel ==="
    if bash scripts/lint.sh && bash scripts/docs.sh -q && bash scripts/check-wheel.sh; then
        checks="lint, docs and wheel passed"
    else
        checks="lint, docs or wheel FAILED"
        status=1
    fi
fi

# failure_lines VERSION: what failed, picked out of that version's log, so
# the end of the output (often all a CI page keeps) says why.
failure_lines() {
    grep -E '^(FAILED|ERROR) |^[a-z_]+ +(FAIL|HANG|FLAKY) |^    (asyncio|trioloop)[^:]*: |^unexpected failures|^  \S+ \[(on|off)-target\]' \
        ".cache/test-$1.log" 2>/dev/null | head -40 || true
}

for version in "${versions[@]}"; do
    verdict=$(cat ".cache/verdict-$version" 2>/dev/null || echo "did not finish")
    case $verdict in
        *FAILED*|"did not finish")
            status=1
            echo "--- Python $version: what failed"
            failure_lines "$version"
            ;;
    esac
done
for version in "${versions[@]}"; do
    echo "Python $version: $(cat ".cache/verdict-$version" 2>/dev/null || echo "did not finish")"
done
[ -z "$checks" ] || echo "$checks"
exit $status
