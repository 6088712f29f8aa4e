#!/usr/bin/env bash
# Our own tests on the oldest Trio that pyproject.toml admits (its
# "trio>=X" floor), on Python 3.12, in a venv of its own (.venv/3.12-trio-X):
# the floor is a claim, so it is tested.  The newest Trio is what every other
# lane of scripts/test.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

floor=$(sed -n 's/.*"trio>=\([0-9.]*\)".*/\1/p' pyproject.toml)
[ -n "$floor" ] || { echo "no trio>=X floor found in pyproject.toml" >&2; exit 1; }
venv=".venv/3.12-trio-$floor"
if [ ! -x "$venv/bin/python" ]; then
    python=$(find_python 3.12)
    [ -n "$python" ] || { echo "Python 3.12 not found" >&2; exit 1; }
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[test,examples]" "trio==$floor" 2>&1 \
    | grep -v "^WARNING: Location 'file:" >&2 || true
"$venv/bin/python" -c "import trio; assert trio.__version__.startswith('$floor'), trio.__version__"
echo "=== Python 3.12, Trio $floor (the oldest supported): our tests ==="
"$venv/bin/python" -m pytest tests -p no:cacheprovider -q
