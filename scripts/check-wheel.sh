#!/usr/bin/env bash
# Build trioloop's sdist and wheel as a release would (the wheel from the
# sdist), check their metadata with twine, install the wheel into a fresh
# Python 3.12 venv and smoke-test what it installed: trioloop.run, the CLI
# (python -m trioloop and the console script) and the pytest plugin's entry
# point.  The built files are copied to dist/ (or $DIST_DIR).
#
# Usage: scripts/check-wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh
export PIP_DISABLE_PIP_VERSION_CHECK=1

python=$(find_python 3.12)
[ -n "$python" ] || { echo "check-wheel: Python 3.12 not found" >&2; exit 1; }
dist_dir=${DIST_DIR:-dist}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

quiet_pip() {  # pip, without the machine's noise about missing local mirrors
    "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; } >&2
}

echo "=== build (sdist, then the wheel from it)"
"$python" -m venv "$work/tools"
# The build backend goes into the tools venv (setuptools, as pyproject.toml's
# build-system asks) and build runs without isolation: one venv, not three.
backend=$(sed -n 's/^requires = \["\(setuptools[^"]*\)"\]/\1/p' pyproject.toml)
quiet_pip "$work/tools/bin/pip" install -q build twine "${backend:?}"
"$work/tools/bin/python" -m build --no-isolation --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
"$work/tools/bin/twine" check --strict "$work/dist"/*
mkdir -p "$dist_dir"
cp "$work/dist"/* "$dist_dir"/

echo "=== install the wheel into a fresh venv"
"$python" -m venv "$work/fresh"
quiet_pip "$work/fresh/bin/pip" install -q "$work/dist"/*.whl

echo "=== smoke test"
cd "$work"  # away from the checkout, so that only the installed package is found
cat >app.py <<'EOF'
import asyncio, sys

async def main():
    await asyncio.sleep(0.01)
    print(type(asyncio.get_running_loop()).__name__, sys.argv[1:])

asyncio.run(main())
EOF
"$work/fresh/bin/python" - "$work/fresh" <<'EOF'
import asyncio, importlib.metadata, pathlib, subprocess, sys
import trioloop

venv = pathlib.Path(sys.argv[1])
assert pathlib.Path(trioloop.__file__).is_relative_to(venv), trioloop.__file__

async def main():
    await asyncio.sleep(0.01)
    return type(asyncio.get_running_loop()).__name__

assert trioloop.run(main()) == "TrioEventLoop"
for command in ([sys.executable, "-m", "trioloop"], [str(venv / "bin" / "trioloop")]):
    result = subprocess.run(
        [*command, "app.py", "x"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "TrioEventLoop ['x']\n", result.stdout
plugins = importlib.metadata.entry_points(group="pytest11")
assert [p.value for p in plugins if p.name == "trioloop"] == ["trioloop.pytest_plugin"]
print(f"trioloop {trioloop.__version__}: wheel smoke test passed")
EOF
echo "=== built, and copied to $dist_dir/: $(cd "$work/dist" && echo *)"
