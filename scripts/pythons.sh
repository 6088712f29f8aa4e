# Sourced by the other scripts: find the interpreters this project supports.
# 3.10-3.13 come from pyenv (only 3.11 is on PATH on the project's machines);
# 3.14/3.15 come from the Debian-sid chroot built by scripts/newest-pythons.sh.

pyenv_root() {
    if command -v pyenv >/dev/null 2>&1; then pyenv root; else echo "${PYENV_ROOT:-$HOME/.pyenv}"; fi
}

# find_python 3.12 -> path of the newest pyenv 3.12.x interpreter, or nothing.
find_python() {
    local candidates
    candidates=$(ls -d "$(pyenv_root)"/versions/"$1".*/bin/python3 2>/dev/null | sort -V)
    if [ -z "$candidates" ] && command -v "python$1" >/dev/null 2>&1; then
        command -v "python$1"
        return
    fi
    echo "$candidates" | tail -n 1
}

# venv_for 3.12 -> a venv at .venv/3.12 with trioloop[test,examples] installed.
venv_for() {
    local version=$1 python venv
    venv=".venv/$version"
    if [ ! -x "$venv/bin/python" ]; then
        python=$(find_python "$version")
        [ -n "$python" ] || { echo "Python $version not found" >&2; return 1; }
        "$python" -m venv "$venv" >&2
    fi
    # (grep drops the machine's noise about unreachable local package mirrors)
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[test,examples]" 2>&1 \
        | grep -v "^WARNING: Location 'file:" >&2 || true
    "$venv/bin/python" -c "import trioloop, pytest" || return 1
    echo "$venv"
}

# python_on VERSION ARGS...: run python under that Python (3.14/3.15 in the
# chroot of scripts/newest-pythons.sh, the others in their venv).
python_on() {
    local version=$1
    shift
    case $version in
        3.14|3.15) scripts/newest-pythons.sh run "$version" python "$@" ;;
        *) "$(venv_for "$version")/bin/python" "$@" ;;
    esac
}
