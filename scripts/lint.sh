#!/usr/bin/env bash
# Lint: ruff (check and format) over the whole tree, mypy --strict over src/.
# Uses the Python 3.12 venv of scripts/pythons.sh plus the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

venv=$(venv_for 3.12)
# exceptiongroup: mypy checks the 3.10 branch of our imports too.
"$venv/bin/python" -m pip install -q --disable-pip-version-check ruff mypy exceptiongroup 2>&1 \
    | grep -v "^WARNING: Location 'file:" >&2 || true
"$venv/bin/ruff" check src tests examples benchmarks scripts
"$venv/bin/ruff" format --check src tests examples benchmarks scripts
"$venv/bin/mypy" src
echo "lint: ruff and mypy --strict clean"
