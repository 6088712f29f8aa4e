#!/usr/bin/env bash
# Run trioloop's tests on each given Python version (default: 3.10-3.13 from
# pyenv). Each version gets its own venv under .venv/. Exits non-zero if any
# version fails; prints a one-line verdict per version at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.11 3.12 3.13)

declare -A verdict
status=0
for version in "${versions[@]}"; do
    echo "=== Python $version ==="
    venv=$(venv_for "$version")
    if "$venv/bin/python" -m pytest tests -p no:cacheprovider -q; then
        verdict[$version]=passed
    else
        verdict[$version]=FAILED
        status=1
    fi
done
for version in "${versions[@]}"; do echo "Python $version: ${verdict[$version]}"; done
exit $status
