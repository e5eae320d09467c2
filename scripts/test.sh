#!/usr/bin/env bash
# make test: the whole suite against a fresh database in the project-local PostgreSQL.
# Extra arguments go to pytest. Exits with pytest's status; stops PostgreSQL if it started it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

TEST_DB=${SYNC_TEST_DB:-sync_pipeline_test}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    pg_down_if_started
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_up
# Always the local test database: never a DATABASE_URL/DAGSTER_PG_URL inherited from the shell.
"${LOCALPG[@]}" recreatedb "$TEST_DB" >&2
DATABASE_URL="$("${LOCALPG[@]}" url "$TEST_DB")"
export DATABASE_URL
unset DAGSTER_PG_URL
export_dagster_pg_url
export_dagster_home dagster_home_test
log "DATABASE_URL=$DATABASE_URL"

# Two workers by default (this is a 2-core machine; most of a daemon test is waiting), each with a
# database of its own (sync_pipeline_tests/conftest.py), a module per worker at a time
# (module-scoped stacks). SYNC_TEST_WORKERS=0 runs everything in this process.
WORKERS=${SYNC_TEST_WORKERS:-2}
XDIST=()
if [[ "$WORKERS" != 0 ]]; then
    XDIST=(-n "$WORKERS" --dist loadfile)
fi

set +e
# Arguments replace the default path (with options only, pytest falls back to testpaths).
if (($#)); then
    "$REPO_ROOT/.venv/bin/pytest" -q "${XDIST[@]}" "$@"
else
    # the slowest tests at the end: where CI's minutes go
    "$REPO_ROOT/.venv/bin/pytest" -q "${XDIST[@]}" --durations=25 sync_pipeline_tests
fi
rc=$?
set -e
log "pytest exit status: $rc"
exit "$rc"
