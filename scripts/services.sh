#!/usr/bin/env bash
# services.sh — throwaway PostgreSQL and Redis servers for the examples' tests.
#
# Usage:
#   eval "$(scripts/services.sh)"     install if needed, start, print env vars
#   scripts/services.sh running       print which servers run: postgres, redis
#   scripts/services.sh stop [NAME]   stop both servers (or the named ones)
#
# Installs the Debian packages when a server is missing (root only:
# `apt-get update` once, then `apt-get install -y postgresql redis-server`),
# then starts one instance of each, listening on loopback only, with its data
# in a scratch directory:
#
#   PostgreSQL  127.0.0.1:54329  (initdb + pg_ctl, trust auth, run as the
#                                 `postgres` user when we are root)
#   Redis       127.0.0.1:63799  (no persistence: --save '' --appendonly no)
#
# Idempotent: servers already running are left alone.  Stdout carries only
#
#   export TRIOLOOP_PG_DSN=postgresql://postgres@127.0.0.1:54329/postgres
#   export TRIOLOOP_REDIS_URL=redis://127.0.0.1:63799/0
#
# which tests/test_examples.py reads; progress goes to stderr.
#
# Environment:
#   TRIOLOOP_SERVICES_DIR   scratch directory (default /tmp/trioloop-services)
#   TRIOLOOP_PG_PORT        PostgreSQL port (default 54329)
#   TRIOLOOP_REDIS_PORT     Redis port (default 63799)
set -euo pipefail

DIR=${TRIOLOOP_SERVICES_DIR:-/tmp/trioloop-services}
PG_PORT=${TRIOLOOP_PG_PORT:-54329}
REDIS_PORT=${TRIOLOOP_REDIS_PORT:-63799}
PG_DATA=$DIR/pg
PG_SOCKETS=$DIR/pg-sockets
REDIS_DIR=$DIR/redis

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The newest installed PostgreSQL's bin directory (Debian keeps initdb and
# pg_ctl off PATH, under /usr/lib/postgresql/N/bin).
pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

have_servers() {
    [ -n "$(pg_bindir)" ] && command -v redis-server >/dev/null 2>&1 \
        && command -v redis-cli >/dev/null 2>&1
}

install_servers() {
    have_servers && return
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL/Redis missing and not root: install postgresql and redis-server"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL/Redis missing and no apt-get to install them"
    log "installing postgresql and redis-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql redis-server >&2
    have_servers || die "postgresql/redis-server installed but their programs were not found"
}

# as_pg_owner CMD...: run CMD as the user who owns the PostgreSQL data (the
# server refuses to run as root).
as_pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local bin
    bin=$(pg_bindir)
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$DIR" postgres
    fi
    if postgres_running; then
        log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
        return
    fi
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        rm -rf "$PG_DATA" "$PG_SOCKETS"
        mkdir -p "$PG_DATA" "$PG_SOCKETS"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$PG_DATA" "$PG_SOCKETS"
        log "initdb $PG_DATA"
        as_pg_owner "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust \
            --encoding=UTF8 --no-sync >"$DIR/initdb.log" 2>&1 \
            || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg_owner "$bin/pg_ctl" start -w -t 60 -D "$PG_DATA" -l "$PG_DATA/server.log" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKETS -c fsync=off" >&2 \
        || { cat "$PG_DATA/server.log" >&2; die "PostgreSQL did not start"; }
}

start_redis() {
    if redis_running; then
        log "Redis already running on 127.0.0.1:$REDIS_PORT"
        return
    fi
    mkdir -p "$REDIS_DIR"
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
        --logfile "$REDIS_DIR/redis.log" >&2
    for _ in $(seq 100); do
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && return
        sleep 0.1
    done
    cat "$REDIS_DIR/redis.log" >&2 || true
    die "Redis did not start"
}

postgres_running() {
    local bin
    bin=$(pg_bindir)
    [ -n "$bin" ] && as_pg_owner "$bin/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

redis_running() {
    command -v redis-cli >/dev/null 2>&1 \
        && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1
}

stop_postgres() {
    local bin
    bin=$(pg_bindir)
    if [ -n "$bin" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        log "stopping PostgreSQL on 127.0.0.1:$PG_PORT"
        as_pg_owner "$bin/pg_ctl" stop -m fast -D "$PG_DATA" >&2 || true
    fi
}

stop_redis() {
    if redis_running; then
        log "stopping Redis on 127.0.0.1:$REDIS_PORT"
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
}

case ${1:-start} in
    start)
        install_servers
        start_postgres
        start_redis
        echo "export TRIOLOOP_PG_DSN=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
        echo "export TRIOLOOP_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
        ;;
    running)
        if postgres_running; then echo postgres; fi
        if redis_running; then echo redis; fi
        ;;
    stop)
        shift
        [ $# -gt 0 ] || set -- postgres redis
        for name in "$@"; do
            case $name in
                postgres) stop_postgres ;;
                redis) stop_redis ;;
                *) die "no server named $name (postgres, redis)" ;;
            esac
        done
        ;;
    *) sed -n '/^# Usage:/,/^#   scripts\/services.sh stop/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
