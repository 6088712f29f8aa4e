#!/usr/bin/env bash
# Build the documentation (Sphinx) into docs/_build/html, warnings as errors.
#
# Usage: scripts/docs.sh [extra sphinx-build options]
#
# Makes .venv/docs with DOCS_PYTHON (default: python3), installs
# docs/requirements.txt and trioloop itself (for autodoc), then runs
# sphinx-build -W --keep-going -E (fresh: cached pages would hide their
# warnings).  Exits non-zero on any warning.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv/docs
if [ ! -x "$venv/bin/python" ]; then
    "${DOCS_PYTHON:-python3}" -m venv "$venv"
fi
# (grep drops the machine's noise about unreachable local package mirrors)
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r docs/requirements.txt -e . 2>&1 \
    | grep -v "^WARNING: Location 'file:" >&2 || true
"$venv/bin/python" -c "import sphinx, myst_parser, trioloop"
exec "$venv/bin/sphinx-build" -W --keep-going -E -b html "$@" docs docs/_build/html
