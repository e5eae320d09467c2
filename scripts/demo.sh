#!/usr/bin/env bash
# make demo: PostgreSQL (project-local unless DATABASE_URL is set), then `sync-pipeline demo`
# (simulator + whole graph + summary). PostgreSQL is stopped at the end unless KEEP=1.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ "${KEEP:-0}" == 1 && "$PG_STARTED_HERE" == 1 ]]; then
        log "KEEP=1: PostgreSQL left running ($("${LOCALPG[@]}" url)); stop it with: make pg-stop"
    else
        pg_down_if_started
    fi
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

"$REPO_ROOT/.venv/bin/sync-pipeline" demo

cat <<'MSG'

Open the Dagster UI on this data:  make dev   (then http://127.0.0.1:3000)
It starts PostgreSQL, the Odoo simulator and `dagster dev`; Ctrl-C stops them all.
MSG
