#!/usr/bin/env bash
# make bench: every benchmark workload on stock asyncio, trio-asyncio,
# trioloop and uvloop side by side (Python 3.12), then the chart for the docs.
# Extra arguments go to benchmarks/run.py (e.g. --quick, --only 'tcp_*').
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
    echo "[bench] installing wrk for the aiohttp workload" >&2
    apt-get update -qq && apt-get install -y -qq wrk >&2 || echo "[bench] no wrk: http_aiohttp will be skipped" >&2
fi
py=$(bash benchmarks/venv.sh 3.12)
json=benchmarks/results/latest.json
"$py" benchmarks/run.py -o "$json" "$@"
"$py" benchmarks/chart.py "$json" -o docs/images/performance-cpython-3.12.png
