#!/usr/bin/env bash
# The portable driver on Linux, for one Python version, two ways:
#   scripts/test-portable.sh 3.12
# - forced (TRIOLOOP_DRIVER=portable): our tests and CPython's test_asyncio on
#   trioloop, for the versions in TRIOLOOP_PORTABLE_VERSIONS (default: 3.12
#   and 3.14, the oldest and newest the lane must cover).  Writes
#   .cache/conformance-portable-X.Y.json; TRIOLOOP_CONFORMANCE=0 leaves the
#   conformance run out.
# - chosen, as on macOS and Windows: our tests with epoll hidden from
#   everything but Trio's own I/O manager (TRIOLOOP_TEST_NO_EPOLL=1 and
#   tests/_no_epoll on PYTHONPATH: its sitecustomize gives asyncio a select
#   without epoll, so DefaultSelector is PollSelector), for the versions in
#   TRIOLOOP_NO_EPOLL_VERSIONS (default: 3.13).  tests/conftest.py stops the
#   run unless the imitation took and `auto` picks the portable driver.  No
#   conformance run this way: it passes (docs/conformance.rst, a run by
#   hand) but would add 5 minutes for the driver the forced runs put under
#   CPython's suite; what the imitation adds (import-time and selector-type
#   assumptions) is our tests' to catch.
# Does nothing for other versions, so scripts/test.sh can call it for every
# version.  Exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

version=$1
in_list() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

status=0
if in_list "$version" "${TRIOLOOP_PORTABLE_VERSIONS:-3.12 3.14}"; then
    echo "=== Python $version: our tests, portable driver ==="
    TRIOLOOP_DRIVER=portable TRIOLOOP_PASSENV="${TRIOLOOP_PASSENV:-} TRIOLOOP_DRIVER" \
        python_on "$version" -m pytest tests -p no:cacheprovider -q || status=1
    if [ "${TRIOLOOP_CONFORMANCE:-1}" != 0 ]; then
        echo "=== Python $version: CPython's test_asyncio on trioloop, portable driver ==="
        TRIOLOOP_DRIVER=portable TRIOLOOP_PASSENV="${TRIOLOOP_PASSENV:-} TRIOLOOP_DRIVER" \
            python_on "$version" tests/conformance/run.py \
            --conformance-json=".cache/conformance-portable-$version.json" || status=1
    fi
fi
if in_list "$version" "${TRIOLOOP_NO_EPOLL_VERSIONS:-3.13}"; then
    echo "=== Python $version: our tests, no epoll for asyncio (portable driver chosen) ==="
    case $version in
        3.14|3.15) no_epoll=/src/tests/_no_epoll ;;  # the checkout, in the chroot
        *) no_epoll=$PWD/tests/_no_epoll ;;
    esac
    # Absolute, so the tests' child processes (other working directories) get it too.
    TRIOLOOP_TEST_NO_EPOLL=1 PYTHONPATH="$no_epoll${PYTHONPATH:+:$PYTHONPATH}" \
        TRIOLOOP_PASSENV="${TRIOLOOP_PASSENV:-} TRIOLOOP_TEST_NO_EPOLL PYTHONPATH" \
        python_on "$version" -m pytest tests -p no:cacheprovider -q || status=1
fi
exit $status
