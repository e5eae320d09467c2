#!/usr/bin/env bash
# make demo: PostgreSQL (project-local unless DATABASE_URL is set), then `sync-pipeline demo`
# (simulator + whole graph + summary). PostgreSQL is stopped at the end unless KEEP=1.
# The demo always generates a new Odoo; it keeps it, with the day's edits, in
# .local/simulator/odoo.pickle, which `make dev` then serves. It refuses a DATABASE_URL that is not
# the project-local PostgreSQL (it plants fake decisions there).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

cleanup() {
    local rc=$?
    cleanup_begin
    if [[ "${KEEP:-0}" == 1 && "$PG_STARTED_HERE" == 1 ]]; then
        log "KEEP=1: PostgreSQL left running ($("${LOCALPG[@]}" url)); stop it with: make pg-stop"
    else
        pg_down_if_started
    fi
    exit "$rc"
}
trap cleanup EXIT
trap_signals

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

"$REPO_ROOT/.venv/bin/sync-pipeline" demo

cat <<'MSG'

Open the Dagster UI on this data:  make dev   (then http://127.0.0.1:3000)
It starts PostgreSQL, the Odoo simulator (serving this Odoo, edits included, from .local/simulator/)
and `dagster dev`; Ctrl-C stops them all. `make dev FRESH=1` generates a new Odoo instead.
MSG
