#!/usr/bin/env bash
# make dev: PostgreSQL, the Odoo simulator on :8069 and `dagster dev` on 127.0.0.1:3000.
# Ctrl-C (or SIGTERM) stops everything this script started, each by its pid.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

SIM_PORT=${SIM_PORT:-8069}
DAGSTER_PORT=${DAGSTER_PORT:-3000}
SIM_PID=""
DAGSTER_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    trap '' INT  # a second Ctrl-C must not cut the clean-up short
    # dagster dev shuts its webserver and daemon down on SIGINT.
    [[ -n "$DAGSTER_PID" ]] && stop_pid "$DAGSTER_PID" "dagster dev" INT
    [[ -n "$SIM_PID" ]] && stop_pid "$SIM_PID" "Odoo simulator" TERM
    [[ -n "$DAGSTER_PID" ]] && wait_port_free "$DAGSTER_PORT"
    [[ -n "$SIM_PID" ]] && wait_port_free "$SIM_PORT"
    pg_down_if_started
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "${DATABASE_URL:-}" ]]; then
    log "using DATABASE_URL from the environment"
else
    pg_up
    "${LOCALPG[@]}" createdb sync_pipeline >&2
    DATABASE_URL="$("${LOCALPG[@]}" url sync_pipeline)"
    export DATABASE_URL
fi
export_dagster_pg_url
export_dagster_home

if [[ -n "${ODOO_URL:-}" ]]; then
    log "using ODOO_URL=$ODOO_URL (no simulator)"
elif port_in_use "$SIM_PORT"; then
    log "something already listens on 127.0.0.1:$SIM_PORT: using it as the Odoo server"
    export ODOO_URL="http://127.0.0.1:$SIM_PORT"
else
    spawn_bg "$REPO_ROOT/.venv/bin/sync-pipeline" simulator --port "$SIM_PORT"
    SIM_PID=$BG_PID
    wait_port "$SIM_PORT" 60 "$SIM_PID"
    export ODOO_URL="http://127.0.0.1:$SIM_PORT"
    log "Odoo simulator (pid $SIM_PID) on $ODOO_URL"
fi

if port_in_use "$DAGSTER_PORT"; then
    log "port $DAGSTER_PORT is taken: set DAGSTER_PORT=<free port>"
    exit 1
fi
log "DAGSTER_HOME=$DAGSTER_HOME (links to dagster.yaml; ignore dagster's warning about ./dagster.yaml)"
spawn_bg "$REPO_ROOT/.venv/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "$DAGSTER_PORT"
DAGSTER_PID=$BG_PID
log "dagster dev (pid $DAGSTER_PID): http://127.0.0.1:$DAGSTER_PORT  -- Ctrl-C stops everything"

# Return when dagster dev or the simulator exits, or on a signal (the traps above).
while pid_alive "$DAGSTER_PID" && { [[ -z "$SIM_PID" ]] || pid_alive "$SIM_PID"; }; do
    sleep 1 &
    wait $! || true
done
if ! pid_alive "$DAGSTER_PID"; then
    wait "$DAGSTER_PID" && rc=0 || rc=$?
    DAGSTER_PID=""
    log "dagster dev exited (status $rc)"
    exit "$rc"
fi
log "the Odoo simulator exited unexpectedly"
exit 1
