#!/usr/bin/env bash
# The portable driver, forced on Linux (TRIOLOOP_DRIVER=portable): our tests
# and CPython's test_asyncio on trioloop, for one Python version:
#   scripts/test-portable.sh 3.12
# It runs for the versions in TRIOLOOP_PORTABLE_VERSIONS (default: 3.12 and
# 3.14, the oldest and newest the lane must cover) and does nothing for the
# others, so scripts/test.sh can call it for every version.  Writes
# .cache/conformance-portable-X.Y.json; TRIOLOOP_CONFORMANCE=0 leaves the
# conformance run out.  Exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

version=$1
case " ${TRIOLOOP_PORTABLE_VERSIONS:-3.12 3.14} " in
    *" $version "*) ;;
    *) exit 0 ;;
esac
export TRIOLOOP_DRIVER=portable
export TRIOLOOP_PASSENV="${TRIOLOOP_PASSENV:-} TRIOLOOP_DRIVER"  # into the chroot


status=0
echo "=== Python $version: our tests, portable driver ==="
python_on "$version" -m pytest tests -p no:cacheprovider -q || status=1
if [ "${TRIOLOOP_CONFORMANCE:-1}" != 0 ]; then
    echo "=== Python $version: CPython's test_asyncio on trioloop, portable driver ==="
    python_on "$version" tests/conformance/run.py \
        --conformance-json=".cache/conformance-portable-$version.json" || status=1
fi
exit $status
