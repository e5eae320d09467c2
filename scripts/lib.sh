# Shared shell helpers for the Makefile's scripts. Source it; it does not run anything by itself.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$REPO_ROOT/.venv/bin/python"
LOCALPG=("$REPO_ROOT/.venv/bin/sync-pipeline" db)
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

# The first lines of a script's EXIT trap. From here on INT, TERM and HUP are ignored, by the script
# and by the helpers its clean-up runs (a child inherits an ignored signal): a supervisor's second
# SIGTERM, a repeated Ctrl-C or the group's signal reaching a helper cannot cut the clean-up short.
# No errexit either: one step failing must not skip the next.
cleanup_begin() {
    trap - EXIT
    trap '' INT TERM HUP
    set +e
}

# The signals that end a script: each exits with its status, and the EXIT trap cleans up. After a
# SIGHUP (the terminal closed) writing to it fails, so the clean-up's output goes to /dev/null.
trap_signals() {
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exec >/dev/null 2>&1; exit 129' HUP
}

# The waiting and stopping below is sync_pipeline/processes.py's, so scripts and Python agree.
processes() { "$PY" -c "import sys; from sync_pipeline import processes as p; $1" "${@:2}"; }

# stop_pid PID NAME [FIRST_SIGNAL]: FIRST_SIGNAL (20 s), TERM (5 s), KILL; then what it left in its
# process group (spawn_bg makes each child a group leader: dagster dev's code server, run workers),
# TERM then KILL. By pid and group id only. Reaps PID when it is our child.
stop_pid() {
    processes 'import signal
log = lambda msg: print(f"==> {msg}", file=sys.stderr, flush=True)
p.stop_session_leader(int(sys.argv[1]), signal.Signals["SIG" + sys.argv[3]], log=log, name=sys.argv[2])' \
        "$1" "$2" "${3:-TERM}" || true
    wait "$1" 2>/dev/null || true
}

port_in_use() { processes 'sys.exit(1 if p.port_is_free(int(sys.argv[1])) else 0)' "$1"; }

# wait_port PORT SECONDS PID: until something listens on 127.0.0.1:PORT, failing early if PID dies.
wait_port() {
    local port=$1 pid=${3:-}
    processes 'sys.exit(0 if p.wait_port_listening(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3] or 0) or None) else 1)' \
        "$port" "$2" "$pid" && return 0
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then log "process $pid exited before listening on $port"; return 1; fi
    log "nothing listens on 127.0.0.1:$port after $2 s"
    return 1
}

# sim_on_port STORE PORT: what listens on PORT, as "KIND PID PARENT": "running" (the simulator of
# STORE, its starter still running: another make dev), "leftover" (the simulator of STORE, its starter
# gone) or "foreign" (anything else). sync_pipeline/simulator/persist.py's who_serves.
sim_on_port() {
    "$PY" -c 'import sys; from sync_pipeline.simulator import persist
print(*persist.who_serves(sys.argv[1], int(sys.argv[2])))' "$1" "$2"
}

wait_port_free() {
    local port=$1
    processes 'sys.exit(0 if p.wait_port_free(int(sys.argv[1]), float(sys.argv[2])) else 1)' "$port" "${2:-10}" && return 0
    log "WARNING: port $port is still in use"
    return 1
}
