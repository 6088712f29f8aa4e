#!/usr/bin/env bash
# Run trioloop's tests on each given Python version (default: all supported).
# 3.10-3.13 come from pyenv, each with a venv under .venv/; 3.14 and 3.15 run
# in the Debian-sid chroot of scripts/newest-pythons.sh. Exits non-zero if any
# version fails; prints a one-line verdict per version at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.11 3.12 3.13 3.14 3.15)

# python_on VERSION ARGS...: run python under that Python.
python_on() {
    local version=$1
    shift
    case $version in
        3.14|3.15) scripts/newest-pythons.sh run "$version" python "$@" ;;
        *) "$(venv_for "$version")/bin/python" "$@" ;;
    esac
}

# pytest_on VERSION ARGS...: run pytest under that Python.
pytest_on() {
    local version=$1
    shift
    python_on "$version" -m pytest "$@"
}

# conformance_on VERSION: CPython's own test_asyncio of that Python on
# trioloop (tests/conformance/run.py; counts in .cache/conformance-VERSION.json;
# 4-9 minutes per version). TRIOLOOP_CONFORMANCE=0 leaves it out.
conformance_on() {
    python_on "$1" tests/conformance/run.py --conformance-json=".cache/conformance-$1.json"
}

# PostgreSQL and Redis for the examples' tests (installed and started on
# loopback if needed); the 3.14/3.15 chroot sees them through TRIOLOOP_PASSENV.
eval "$(bash scripts/services.sh)"
export TRIOLOOP_PASSENV="TRIOLOOP_PG_DSN TRIOLOOP_REDIS_URL"

declare -A verdict
status=0
for version in "${versions[@]}"; do
    echo "=== Python $version ==="
    if pytest_on "$version" tests -p no:cacheprovider -q; then
        verdict[$version]=passed
    else
        verdict[$version]=FAILED
        status=1
    fi
    [ "${TRIOLOOP_CONFORMANCE:-1}" != 0 ] || continue  # TRIOLOOP_CONFORMANCE=0: skip it
    echo "=== Python $version: CPython's test_asyncio on trioloop ==="
    if conformance_on "$version"; then
        verdict[$version]+=", conformance passed"
    else
        verdict[$version]+=", conformance FAILED"
        status=1
    fi
done
for version in "${versions[@]}"; do echo "Python $version: ${verdict[$version]}"; done
exit $status
