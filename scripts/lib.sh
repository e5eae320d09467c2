# Shared shell helpers for the Makefile's scripts. Source it; it does not run anything by itself.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$REPO_ROOT/.venv/bin/python"
LOCALPG=("$PY" -m sync_pipeline.db.localpg)
PG_STARTED_HERE=0

log() { printf '==> %s\n' "$*" >&2; }

# Start the project-local PostgreSQL unless it already runs; remember whether we started it, so
# only the target that started it stops it.
pg_up() {
    if "${LOCALPG[@]}" status >/dev/null 2>&1; then
        log "PostgreSQL: $("${LOCALPG[@]}" status)"
    else
        "${LOCALPG[@]}" start >&2
        PG_STARTED_HERE=1
    fi
}

pg_down_if_started() {
    if [[ "$PG_STARTED_HERE" == 1 ]]; then
        "${LOCALPG[@]}" stop >&2 || log "WARNING: could not stop PostgreSQL"
        PG_STARTED_HERE=0
    fi
}

# DAGSTER_PG_URL from sync_pipeline.settings (DATABASE_URL, schema `dagster`), in the psycopg2 form
# SQLAlchemy needs, and the schema created before Dagster connects.
export_dagster_pg_url() {
    DAGSTER_PG_URL="$("$PY" -c 'from sync_pipeline.settings import dagster_pg_url, normalize_pg_url
print(normalize_pg_url(dagster_pg_url()))')"
    export DAGSTER_PG_URL
    "${LOCALPG[@]}" ensure-schema "$DAGSTER_PG_URL" >&2
}

# A project-local DAGSTER_HOME holding a link to the repository's dagster.yaml.
export_dagster_home() {
    DAGSTER_HOME="$REPO_ROOT/.local/${1:-dagster_home}"
    mkdir -p "$DAGSTER_HOME"
    ln -sfn "$REPO_ROOT/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
    export DAGSTER_HOME
}

# Run a command in the background, in its own session, with SIGINT/SIGTERM/SIGQUIT reset to their
# defaults: a non-interactive shell starts background jobs with SIGINT ignored, and Dagster maps
# SIGTERM to the SIGINT handler, so without this `dagster dev` would ignore both. Its own session
# keeps the terminal's Ctrl-C away from it: the script's trap sends exactly one signal. Sets BG_PID.
spawn_bg() {
    "$PY" -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(s, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' "$@" &
    BG_PID=$!
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# wait_pid_gone PID SECONDS: poll until the process is gone (reaping it when it is our child).
wait_pid_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while pid_alive "$pid"; do
        if ((SECONDS >= deadline)); then return 1; fi
        sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
    return 0
}

# stop_pid PID NAME [FIRST_SIGNAL]: signal, wait, then TERM, then KILL; by pid only.
stop_pid() {
    local pid=$1 name=$2 first=${3:-TERM}
    if ! pid_alive "$pid"; then
        wait "$pid" 2>/dev/null || true
        stop_group_leftovers "$pid" "$name"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill "-$first" "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 20 && { stop_group_leftovers "$pid" "$name"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 5 && { stop_group_leftovers "$pid" "$name"; return 0; }
    log "$name (pid $pid) ignored SIGTERM: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 5 || log "WARNING: $name (pid $pid) is still alive"
    stop_group_leftovers "$pid" "$name"
}

# spawn_bg starts each child as the leader of its own process group: once the leader is gone,
# stop what it left in that group (dagster dev's code server, run workers), TERM then KILL.
stop_group_leftovers() {
    local pgid=$1 name=$2
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    log "stopping processes $name left behind (process group $pgid)"
    kill -TERM -- "-$pgid" 2>/dev/null || true
    local deadline=$((SECONDS + 5))
    while kill -0 -- "-$pgid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

port_in_use() { "$PY" -c 'import sys; from sync_pipeline.db.localpg import port_is_free
sys.exit(0 if not port_is_free(int(sys.argv[1])) else 1)' "$1"; }

# wait_port PORT SECONDS PID: until something listens on 127.0.0.1:PORT, failing early if PID dies.
wait_port() {
    local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
    until port_in_use "$port"; do
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then log "process $pid exited before listening on $port"; return 1; fi
        if ((SECONDS >= deadline)); then log "nothing listens on 127.0.0.1:$port after $2 s"; return 1; fi
        sleep 0.5
    done
}

wait_port_free() {
    local port=$1 deadline=$((SECONDS + ${2:-10}))
    while port_in_use "$port"; do
        if ((SECONDS >= deadline)); then log "WARNING: port $port is still in use"; return 1; fi
        sleep 0.2
    done
}
