#!/usr/bin/env bash
# trio-asyncio 0.16's own test suite run against trioloop.compat, on one Python:
#
#   scripts/trio-asyncio-suite.sh VERSION [PYTEST OPTIONS ...]
#
# The first run downloads trio-asyncio 0.16's source distribution from PyPI
# into .cache/ (never committed); tests/trio_asyncio_suite/run.py then runs
# its tests/ with `import trio_asyncio` giving trioloop.compat.  Exits
# non-zero if a test fails that tests/trio_asyncio_suite/expected_failures.py
# does not list (or a listed one passes); the last line is the pass count.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

[ $# -ge 1 ] || { sed -n '3,4p' "$0" >&2; exit 2; }
version=$1
shift
sdist=.cache/trio_asyncio-0.16.0

if [ ! -d "$sdist/tests" ]; then
    mkdir -p .cache
    download=$(mktemp -d .cache/trio-asyncio-download.XXXXXX)
    python3 -m pip download -q --disable-pip-version-check --no-deps \
        --no-binary :all: trio-asyncio==0.16.0 -d "$download" 2>&1 \
        | grep -v "^WARNING: Location 'file:" >&2 || true
    tar -xzf "$download/trio_asyncio-0.16.0.tar.gz" -C "$download"
    # Atomic: a lane running another version at the same time may win.
    mv -T "$download/trio_asyncio-0.16.0" "$sdist" 2>/dev/null || true
    rm -rf "$download"
    [ -d "$sdist/tests" ] || { echo "could not fetch trio-asyncio 0.16" >&2; exit 1; }
fi

args=(tests/trio_asyncio_suite/run.py "$sdist" --timeout=60 "$@")
case $version in
    3.14|3.15) scripts/newest-pythons.sh run "$version" python "${args[@]}" ;;
    *)  # the venv make test prepared, else a new one
        python=.venv/$version/bin/python
        [ -x "$python" ] || python="$(venv_for "$version")/bin/python"
        "$python" "${args[@]}" ;;
esac
