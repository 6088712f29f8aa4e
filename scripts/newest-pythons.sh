#!/usr/bin/env bash
# newest-pythons.sh — run things under Python 3.14 and 3.15 on a Debian 12 host.
#
# Debian 12 ships Python 3.11 only. Debian unstable ("sid") packages the newest
# CPython releases (python3.14, python3.15) together with their stock test
# suites (libpython3.X-testsuite, i.e. the `test` package with test_asyncio).
# This script builds a minimal sid chroot with those packages once, caches it
# outside the repo, and runs commands in it with this checkout bind-mounted at
# /src and a per-version venv activated.
#
# Usage:
#   scripts/newest-pythons.sh setup              build the chroot (cached) + venvs
#   scripts/newest-pythons.sh run 3.14 CMD...    run CMD in /src inside the chroot,
#                                                with /opt/venv-3.14 activated and
#                                                `pip install -e '/src[test,examples]'` done
#
# Environment:
#   TRIOLOOP_CHROOT   where the chroot lives (default /var/cache/trioloop/sid-chroot).
#                     To rebuild from scratch (sid moves on): delete it, e.g.
#                     `rm -rf --one-file-system /var/cache/trioloop/sid-chroot`.
#   TRIOLOOP_MIRROR   Debian mirror to bootstrap from (default: the one apt on
#                     this host is configured with).
#   TRIOLOOP_PASSENV  extra variable names (space-separated) to pass into the chroot.
#
# Must run as root (debootstrap, mount, chroot).
set -euo pipefail

# Python versions this chroot provides; `run` accepts any of them.
VERSIONS=(3.14 3.15)
SUITE=sid
PACKAGES=ca-certificates
for v in "${VERSIONS[@]}"; do
    PACKAGES+=",python$v,python$v-venv,libpython$v-testsuite"
done

CHROOT=${TRIOLOOP_CHROOT:-/var/cache/trioloop/sid-chroot}
CHROOT=${CHROOT%/}
# Written last into a finished chroot; its content records how it was built, so
# a half-built tree or one built with another package list is never reused.
STAMP_FILE=.trioloop-chroot-complete
STAMP="debootstrap --variant=minbase --include=$PACKAGES $SUITE"

# The repo checkout is the parent of the directory holding this script.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SELF="$REPO_ROOT/scripts/$(basename "${BASH_SOURCE[0]}")"

log() { printf '[newest-pythons] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '/^# Usage:/,/^# Must run/p' "$SELF" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, mount and chroot need it)"

# ---------------------------------------------------------------------------
# Private mount namespace.
# All mounts below (/proc, /dev, /src, pip's local indexes) are made in a mount
# namespace of our own when the kernel lets us create one: they then vanish by
# themselves when this script ends, even if it is killed with SIGKILL, and never
# show up on the host. The EXIT trap further down unmounts them anyway, which is
# what cleans up when unshare is not available.
# ---------------------------------------------------------------------------
if [[ -z ${_TRIOLOOP_IN_MOUNT_NS:-} ]] && command -v unshare >/dev/null \
    && unshare --mount --propagation private true 2>/dev/null; then
    export _TRIOLOOP_IN_MOUNT_NS=1
    exec unshare --mount --propagation private "$BASH" "$SELF" "$@"
fi

# ---------------------------------------------------------------------------
# Mount bookkeeping: everything we mount is recorded and unmounted on exit,
# innermost first.
# ---------------------------------------------------------------------------
MOUNTED=()

cleanup_mounts() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -R "${MOUNTED[i]}" 2>/dev/null || umount -lR "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}
trap cleanup_mounts EXIT
# Make INT/TERM run the EXIT trap too (bash skips it on an untrapped signal).
trap 'exit 130' INT
trap 'exit 143' TERM

# Unmount whatever is still mounted below a directory (e.g. what an interrupted
# debootstrap, or a killed run without unshare, left behind). Needed before
# deleting such a tree: `rm -rf` through a bind mount of /dev would wipe the
# host's /dev.
unmount_all_under() {
    local dir=$1 m
    findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1' | sort -r |
        while read -r m; do umount -lR "$m" 2>/dev/null || true; done
}

remove_tree() {
    [[ -e $1 ]] || return 0
    unmount_all_under "$1"
    rm -rf --one-file-system "$1"
}

# ---------------------------------------------------------------------------
# Which Debian mirror does this host's apt use?
# Prefer deb822 files (/etc/apt/sources.list.d/*.sources), then one-line
# sources. Security suites (bookworm-security on .../debian-security) are
# skipped: they don't carry sid.
# ---------------------------------------------------------------------------
find_mirror() {
    local files=() f uri
    for f in /etc/apt/sources.list.d/*.sources; do [[ -f $f ]] && files+=("$f"); done
    if ((${#files[@]})); then
        uri=$(awk '
            function flush() {
                if (!found && types ~ /(^| )deb( |$)/ && tolower(enabled) != "no" &&
                    suites !~ /security/ && uris != "") {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = uris = suites = enabled = field = ""
            }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]/   {  # continuation line of a multi-line field
                if (field == "uris") uris = uris " " $0
                if (field == "suites") suites = suites " " $0
                next
            }
            {
                field = tolower(substr($0, 1, index($0, ":") - 1))
                value = substr($0, index($0, ":") + 1)
                if (field == "types") types = value
                else if (field == "uris") uris = value
                else if (field == "suites") suites = value
                else if (field == "enabled") enabled = value
            }
            END { flush() }
        ' "${files[@]}" | tr -d '[:space:]')
    fi
    if [[ -z ${uri:-} ]]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f $f ]] || continue
            # deb [options] URI SUITE COMPONENTS...
            uri=$(awk '$1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) !~ /security/) { print $i; exit }
                }' "$f")
            [[ -n $uri ]] && break
        done
    fi
    case ${uri:-} in
        http://* | https://* | ftp://* | file:/*) printf '%s\n' "${uri%/}" ;;
        *) log "warning: no usable Debian mirror found in apt's sources; using deb.debian.org"
           echo http://deb.debian.org/debian ;;
    esac
}

# ---------------------------------------------------------------------------
# Build the chroot (once).
# ---------------------------------------------------------------------------
chroot_is_complete() {
    [[ -f $CHROOT/$STAMP_FILE ]] && [[ $(<"$CHROOT/$STAMP_FILE") == "$STAMP" ]]
}

build_chroot() {
    chroot_is_complete && return 0

    if [[ -e $CHROOT ]]; then
        log "$CHROOT is incomplete or was built with another package list: rebuilding it"
        remove_tree "$CHROOT"
    fi

    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        apt-get update && apt-get install -y debootstrap
    fi

    local mirror tmp buildlog
    mirror=${TRIOLOOP_MIRROR:-$(find_mirror)}
    # Build next to the final place and rename at the end: a build that is
    # interrupted leaves only $CHROOT.tmp, which the next run throws away.
    tmp=$CHROOT.tmp
    buildlog=$CHROOT.build.log
    remove_tree "$tmp"
    mkdir -p "$(dirname "$CHROOT")"

    local args=(--variant=minbase "--include=$PACKAGES" "$SUITE" "$tmp" "$mirror")
    log "building the $SUITE chroot from $mirror (takes a few minutes; log: $buildlog)"
    if ! debootstrap "${args[@]}" 2>&1 | tee "$buildlog" >&2; then
        if grep -qiE 'Couldn.t find these debs|Couldn.t find package' "$buildlog"; then
            log "$SUITE lacks some of the packages we need; debootstrap says:"
            grep -iE 'Couldn.t find' "$buildlog" >&2
            exit 1
        fi
        if grep -qiE 'signature|signed by unknown key|NO_PUBKEY|keyring' "$buildlog"; then
            # Fallback only: the host's debian-archive-keyring may predate the
            # key sid's Release file is signed with. Packages are still checked
            # against the checksums in the (then unverified) Release file.
            log "warning: the Release signature of $SUITE could not be checked with this host's keyring;"
            log "warning: retrying with --no-check-gpg (integrity checked by checksums only)"
            remove_tree "$tmp"
            debootstrap --no-check-gpg "${args[@]}" 2>&1 | tee "$buildlog" >&2 ||
                die "debootstrap failed again; see $buildlog"
        else
            die "debootstrap failed; see $buildlog"
        fi
    fi

    # No need to keep the downloaded .debs (~ tens of MB).
    chroot "$tmp" apt-get clean
    mkdir -p "$tmp/src"
    printf '%s\n' "$STAMP" >"$tmp/$STAMP_FILE"
    unmount_all_under "$tmp"
    mv "$tmp" "$CHROOT"
    log "chroot ready: $CHROOT"
}

# ---------------------------------------------------------------------------
# Mounts and files the chroot needs at run time.
# ---------------------------------------------------------------------------

# True when a path inside the chroot really resolves to a place inside it
# (guards against absolute symlinks in the chroot pointing back to the host).
inside_chroot() {
    [[ $(realpath -m "$CHROOT$1") == "$CHROOT"/* ]]
}

mount_once() {  # mount_once TARGET MOUNT-ARGS...
    local target=$1; shift
    mountpoint -q "$target" && return 0
    mount "$@" "$target"
    MOUNTED+=("$target")
}

copy_into_chroot() {  # copy_into_chroot HOST-FILE [PATH-IN-CHROOT]
    local src=$1 dst=${2:-$1}
    [[ -f $src ]] || return 0
    inside_chroot "$(dirname "$dst")" || { log "warning: not copying $src: $dst escapes the chroot"; return 0; }
    mkdir -p "$CHROOT$(dirname "$dst")"
    # --remove-destination: never write through a symlink that sits in the chroot.
    cp -L --remove-destination "$src" "$CHROOT$dst"
}

# Pip settings may point at local paths (a constraints file, a find-links
# directory, a file:// index). Make each one that exists on the host visible at
# the same path in the chroot: files are copied, directories bind-mounted
# read-only. For a file:// index ending in /simple the parent is mounted, since
# such index pages link to ../../files/... next to it.
mirror_host_path() {
    local p=$1
    p=${p#file://}
    p=${p%/}
    [[ $p == /?* ]] || return 0
    case $p in
        /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /src | /src/* | /usr | /usr/* | \
        /bin | /bin/* | /sbin | /sbin/* | /lib* | /var/lib | /var/lib/*) return 0 ;;
    esac
    [[ $1 == file://* && $p == */simple ]] && p=${p%/simple}
    if [[ -d $p ]]; then
        inside_chroot "$p" || return 0
        mkdir -p "$CHROOT$p"
        mount_once "$CHROOT$p" --bind "$p"
        mount -o remount,bind,ro "$CHROOT$p"
    elif [[ -f $p ]]; then
        copy_into_chroot "$p"
    fi
}

# Every word in a pip config file's values, or in a variable's value, that looks
# like a local path or a file:// URL.
local_paths_in() {
    tr ' ,\t' '\n' | sed -E 's/^[A-Za-z0-9_.-]+=//' |
        grep -E '^(file://)?/' || true
}

# Variables passed into the chroot when set on the host.
passenv_names() {
    printf '%s\n' CI TERM LANG LC_ALL http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
        PYTEST_ADDOPTS
    compgen -e | grep -E '^PIP_' || true  # PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_CERT, ...
    for name in ${TRIOLOOP_PASSENV:-}; do printf '%s\n' "$name"; done
}

setup_mounts() {
    mount_once "$CHROOT/proc" -t proc proc
    # rbind brings /dev/pts and /dev/shm (multiprocessing's semaphores) along;
    # rslave keeps our unmounting from propagating back to the host's /dev.
    if ! mountpoint -q "$CHROOT/dev"; then
        mount_once "$CHROOT/dev" --rbind /dev
        mount --make-rslave "$CHROOT/dev"
    fi
    # The checkout, read-write: tests write caches there.
    mkdir -p "$CHROOT/src"
    mount_once "$CHROOT/src" --bind "$REPO_ROOT"

    # Networking and TLS: same DNS setup and CA bundle as the host.
    copy_into_chroot /etc/resolv.conf
    copy_into_chroot /etc/hosts
    copy_into_chroot /etc/ssl/certs/ca-certificates.crt

    # pip configuration, so pip in the chroot uses the host's package index.
    # The user config goes to root's home, which is HOME inside the chroot.
    local f name p
    local -A pip_configs=(
        [/etc/pip.conf]=/etc/pip.conf
        [/etc/xdg/pip/pip.conf]=/etc/xdg/pip/pip.conf
        ["$HOME/.config/pip/pip.conf"]=/root/.config/pip/pip.conf
        ["$HOME/.pip/pip.conf"]=/root/.pip/pip.conf
    )
    for f in "${!pip_configs[@]}"; do
        [[ -f $f ]] || continue
        copy_into_chroot "$f" "${pip_configs[$f]}"
        for p in $(grep -vE '^[[:space:]]*[#;]' "$f" | local_paths_in); do mirror_host_path "$p"; done
    done
    while read -r name; do
        [[ -n ${!name:-} ]] || continue
        for p in $(printf '%s\n' "${!name}" | local_paths_in); do mirror_host_path "$p"; done
    done < <(passenv_names | grep -E '^PIP_|_PROXY$|_proxy$')
}

# The variables for `env -i` inside the chroot.
chroot_env() {
    local name
    printf '%s\n' HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    [[ -n ${LANG:-} ]] || printf '%s\n' LANG=C.UTF-8
    passenv_names | sort -u | while read -r name; do
        [[ -n ${!name+set} ]] && printf '%s=%s\n' "$name" "${!name}"
    done
}

# ---------------------------------------------------------------------------
# Venvs
# ---------------------------------------------------------------------------
check_version() {
    local v=$1 known
    for known in "${VERSIONS[@]}"; do [[ $v == "$known" ]] && return 0; done
    die "unknown Python version '$v' (have: ${VERSIONS[*]})"
}

in_chroot() {  # in_chroot CMD...: run CMD in the chroot with a clean environment
    local envs=()
    mapfile -t envs < <(chroot_env)
    chroot "$CHROOT" /usr/bin/env -i "${envs[@]}" "$@"
}

ensure_venv() {
    local v=$1
    # (bin/python is an absolute symlink, meaningless from outside the chroot)
    [[ -f $CHROOT/opt/venv-$v/pyvenv.cfg && -f $CHROOT/opt/venv-$v/bin/activate ]] && return 0
    log "creating /opt/venv-$v"
    in_chroot "python$v" -m venv "/opt/venv-$v"
}

# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------
cmd_setup() {
    build_chroot
    setup_mounts
    local v
    for v in "${VERSIONS[@]}"; do ensure_venv "$v"; done
}

cmd_run() {
    (($# >= 2)) || usage
    local v=$1; shift
    check_version "$v"
    build_chroot
    setup_mounts
    ensure_venv "$v"
    # pip's output goes to stderr so that CMD's stdout stays clean.
    in_chroot /bin/bash -c '
        set -e
        cd /src
        . "/opt/venv-$0/bin/activate"
        pip install -q -e "/src[test,examples]" >&2
        exec "$@"
    ' "$v" "$@"
}

case ${1:-} in
    setup) shift; (($# == 0)) || usage; cmd_setup ;;
    run) shift; cmd_run "$@" ;;
    *) usage ;;
esac
