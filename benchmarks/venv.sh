#!/usr/bin/env bash
# Create or update the benchmark venv and print the path of its python.
#     py=$(bash benchmarks/venv.sh 3.12) && $py benchmarks/run.py --quick
# The venv is .venv/bench-<version> (override with BENCH_VENV); wrk, used by
# the http_aiohttp workload, is a system package: apt-get install -y wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh
version=${1:-3.12}
venv=${BENCH_VENV:-.venv/bench-$version}
if [ ! -x "$venv/bin/python" ]; then
    python=$(find_python "$version")
    [ -n "$python" ] || { echo "Python $version not found" >&2; exit 1; }
    "$python" -m venv "$venv" >&2
fi
# (grep drops the machine's noise about unreachable local package mirrors)
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e . -r benchmarks/requirements.txt 2>&1 \
    | grep -v "^WARNING: Location 'file:" >&2 || true
"$venv/bin/python" -c "import trioloop, trio_asyncio, uvloop, aiohttp" >&2
echo "$venv/bin/python"
