#!/usr/bin/env bash
# anyio's own test suite, asyncio backend only, run twice on Python 3.12:
# on stock asyncio, then on trioloop (pytest --trioloop), and compared.
#   - the suite is the sdist of the anyio pinned in
#     tests/anyio_suite/anyio-requirements.txt, downloaded from PyPI and
#     unpacked under .cache/anyio/ (once);
#   - it runs in its own venv, .venv/anyio-3.12 (trioloop editable plus those
#     pins), so that anyio's test dependencies stay out of our test venvs;
#   - tests/anyio_suite/anyio_lane.py narrows the suite to the asyncio backend
#     and records outcomes; anyio_compare.py compares them against the known
#     differences in tests/anyio_suite/anyio_differences.py (new differences
#     are run once more on trioloop first, so a one-off is reported FLAKY).
# Exits non-zero on a new difference, or on a listed one that no longer fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

repo=$PWD
requirements=tests/anyio_suite/anyio-requirements.txt
version=$(sed -n 's/^anyio==//p' "$requirements")
cache=.cache/anyio
suite=$cache/anyio-$version
venv=.venv/anyio-3.12
python=$repo/$venv/bin/python
quiet_pip() { grep -v "^WARNING: Location 'file:" >&2 || true; }

if ! cmp -s "$requirements" "$venv/.requirements"; then
    [ -x "$python" ] || "$(find_python 3.12)" -m venv "$venv"
    "$python" -m pip install -q --disable-pip-version-check -e . -r "$requirements" \
        2>&1 | quiet_pip
    cp "$requirements" "$venv/.requirements"
fi
mkdir -p "$cache"
if [ ! -d "$suite/tests" ]; then
    "$python" -m pip download -q --disable-pip-version-check \
        --no-deps --no-binary :all: -d "$cache" "anyio==$version" 2>&1 | quiet_pip
    tar -xzf "$cache/anyio-$version.tar.gz" -C "$cache"
fi

# pass NAME [PYTEST ARGS...]: one run of the suite; outcomes to $cache/NAME.json.
pass() {
    local name=$1
    shift
    echo "--- anyio $version on $name"
    (cd "$suite" && PYTHONPATH="$repo/tests/anyio_suite" "$python" -m pytest \
        -p anyio_lane -p no:cacheprovider -q --tb=line -rfE \
        --lane-report="$repo/$cache/$name.json" "$@" | tail -n 25) || true
}

start=$SECONDS
rm -f "$cache"/*.json "$cache/unlisted.txt"
pass stock
pass trioloop --trioloop
compare() { PYTHONPATH=tests/anyio_suite "$python" tests/anyio_suite/anyio_compare.py "$@"; }
compare "$cache/stock.json" "$cache/trioloop.json" --unlisted="$cache/unlisted.txt"
retry=()
if [ -s "$cache/unlisted.txt" ] && [ "$(wc -l < "$cache/unlisted.txt")" -le 20 ]; then
    mapfile -t unlisted < "$cache/unlisted.txt"
    pass trioloop-retry --trioloop "${unlisted[@]}"
    retry=(--retry="$cache/trioloop-retry.json")
fi
echo "=== anyio $version, asyncio backend, Python 3.12 ($((SECONDS - start)) s)"
compare "$cache/stock.json" "$cache/trioloop.json" "${retry[@]}"
