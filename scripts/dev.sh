#!/usr/bin/env bash
# make dev: PostgreSQL, the Odoo simulator on :8069 and `dagster dev` on 127.0.0.1:3000.
# The simulator serves the Odoo kept in .local/simulator/odoo.pickle (the one `make demo` left, with
# its edits), saving it after changes and at exit; FRESH=1 generates a new one instead.
# Ctrl-C, SIGTERM (to the script or its whole process group) or SIGHUP stop everything this script
# started, each by its pid. Environment: SIM_PORT, DAGSTER_PORT, FRESH, SIM_STORE (the store file),
# SIM_ARGS (more `sync-pipeline simulator` options, e.g. "--scale 0.1"), ODOO_URL (no simulator).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

SIM_PORT=${SIM_PORT:-8069}
DAGSTER_PORT=${DAGSTER_PORT:-3000}
SIM_STORE=${SIM_STORE:-$REPO_ROOT/.local/simulator/odoo.pickle}
SIM_PID=""
DAGSTER_PID=""

cleanup() {
    local rc=$?
    cleanup_begin
    # dagster dev shuts its webserver and daemon down on SIGINT; the simulator saves its store on SIGTERM.
    [[ -n "$DAGSTER_PID" ]] && stop_pid "$DAGSTER_PID" "dagster dev" INT
    [[ -n "$SIM_PID" ]] && stop_pid "$SIM_PID" "Odoo simulator" TERM
    [[ -n "$DAGSTER_PID" ]] && wait_port_free "$DAGSTER_PORT"
    [[ -n "$SIM_PID" ]] && wait_port_free "$SIM_PORT"
    pg_down_if_started
    exit "$rc"
}
trap cleanup EXIT
trap_signals

# Both ports first: a port taken stops the script before it starts anything.
if port_in_use "$DAGSTER_PORT"; then
    log "error: 127.0.0.1:$DAGSTER_PORT is taken: stop what listens there, or set DAGSTER_PORT=<free port>"
    exit 1
fi
if [[ -z "${ODOO_URL:-}" ]] && port_in_use "$SIM_PORT"; then
    read -r kind pid parent <<<"$(sim_on_port "$SIM_STORE" "$SIM_PORT")"
    case $kind in
        leftover)
            # Its make dev is gone: stopped, it saves its store, and ours serves it (or FRESH=1 data).
            log "the Odoo simulator an earlier make dev left running (pid $pid) listens on 127.0.0.1:$SIM_PORT: replacing it"
            stop_pid "$pid" "the leftover Odoo simulator" TERM
            wait_port_free "$SIM_PORT" || exit 1
            ;;
        running)
            log "error: 127.0.0.1:$SIM_PORT is served by this project's Odoo simulator (pid $pid) for pid $parent, which still runs (another make dev?): stop it, or set SIM_PORT=<free port>"
            exit 1
            ;;
        *)
            log "error: 127.0.0.1:$SIM_PORT is taken by something that is not this project's Odoo simulator: stop it, set SIM_PORT=<free port>, or ODOO_URL=http://127.0.0.1:$SIM_PORT to sync from it"
            exit 1
            ;;
    esac
fi

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
else
    sim_args=(--port "$SIM_PORT" --store "$SIM_STORE")
    [[ "${FRESH:-0}" == 1 ]] && sim_args+=(--fresh)
    # shellcheck disable=SC2206  # SIM_ARGS is a list of options, split on spaces
    sim_args+=(${SIM_ARGS:-})
    spawn_bg "$REPO_ROOT/.venv/bin/sync-pipeline" simulator "${sim_args[@]}"
    SIM_PID=$BG_PID
    wait_port "$SIM_PORT" 60 "$SIM_PID"
    export ODOO_URL="http://127.0.0.1:$SIM_PORT"
    log "Odoo simulator (pid $SIM_PID) on $ODOO_URL"
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
