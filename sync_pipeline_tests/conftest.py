"""Shared fixtures: the real PostgreSQL (DATABASE_URL, started by `make test`) and the Odoo
simulator over real HTTP on a free port. Nothing here is mocked."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.schema import create_schema, metadata

# Modules whose tests start a dagster-daemon or webserver, or search many generated data sets.
SLOW_MODULES = {
    "test_daemon_e2e",
    "test_webserver",
    "test_property_convergence",
    "test_split_backfill",
    "test_browser_ui",
    "test_faults_daemon",
}

# Single tests that are long and repeat what a faster test already covers, as
# "module.py::test_name" (every parameter) or "module.py::test_name[param]", with the seconds they
# took in `make test-fast --durations` (2-core machine, 2026-12-01: 431 s for test-fast before).
# What stays fast still runs every transform's SQL on a small case (test_worked_example_of_design_5_3,
# test_partial_credit_note_leaves_the_rest_invoiced_full_one_reverts, the robustness tests that
# remain), the reconciliation on one month, the sensors, the Odoo client and every simulator protocol.
SLOW_TESTS = {
    # Whole generated data sets through Dagster; the same transforms on small cases stay fast.
    "test_assets_faturamento.py::test_generated_data_equals_oracle": 75.8,  # 3 protocols: 25.6 + 26.7 + 23.5
    "test_assets_faturamento.py::test_rerun_writes_nothing": 11.4,  # unchanged rows skipped: test_upsert
    "test_assets_faturamento.py::test_cancel_cascades_and_repost_restores": 8.7,
    "test_assets_faturamento_robustness.py::test_statements_constant_and_calls_grow_with_pages": 15.9,  # 21,000 lines
    "test_assets_faturamento_robustness.py::test_sync_survives_502_and_dropped_connections": 5.7,  # test_odoo_client
    "test_assets_faturamento_robustness.py::test_garbage_response_fails_partition_and_commits_nothing": 3.8,
    # Carteira scenarios whose rules test_domain_hierarchy checks; the worked example stays fast.
    "test_assets_carteira.py::test_nf_invoicing_a_separacao_then_cancelled": 12.1,
    "test_assets_carteira.py::test_statements_per_partition_do_not_grow_with_lines": 11.8,
    "test_assets_carteira.py::test_rerun_writes_no_row_and_no_diff": 10.9,
    "test_assets_carteira.py::test_order_confirmed_another_day_moves_with_its_decisions": 7.3,
    # Real-Odoo shapes end to end; the partial credit note and the sensor's partitions stay fast.
    "test_assets_real_odoo.py::test_a_number_taken_over_by_another_document_moves_to_it": 40.8,
    "test_assets_real_odoo.py::test_an_order_number_in_two_empreendimentos_is_reported_and_its_decisions_left_alone": 12.7,  # noqa: E501
    "test_assets_real_odoo.py::test_invoice_dated_ahead_is_synced_today_and_moves_when_its_date_comes": 8.1,
    "test_assets_real_odoo.py::test_numbers_repeat_across_companies": 7.4,
    "test_assets_real_odoo.py::test_one_invoice_for_two_orders_counts_for_each": 3.4,  # origem: test_domain_faturamento
    # Two weeks of two empreendimentos synced before one tick; the month-boundary case stays fast.
    "test_sensors_reconcile.py::test_deleted_quotation_and_draft_invoice_request_exactly_their_partitions": 32.1,
    "test_sensors_reconcile.py::test_nothing_deleted_costs_three_counts_and_no_run": 69.3,  # 24.8 + 22.3 + 22.2
    # The invoice sensor's ticks stay fast in test_sensors_carteira and test_assets_real_odoo.
    "test_sensors_faturamento.py::test_new_invoice_requests_exactly_its_partition": 3.8,
    "test_sensors_faturamento.py::test_consecutive_days_touched_become_one_range_run": 4.8,
    # A 20,000-line generated data set (12.3 s of fixture setup).
    "test_simulator_models.py::test_generator_scale_reaches_20k_invoice_lines": 12.3,
    "test_simulator_models.py::test_search_read_on_a_large_table": 0.9,
    # `dagster definitions validate` subprocesses: test_definitions_match_snapshot loads the same
    # Definitions, test_definitions_module_fails_to_load_with_the_message the same error.
    "test_definitions.py::test_dagster_definitions_validate": 4.2,
    "test_settings.py::test_dagster_definitions_validate_fails_with_the_message": 2.9,
    # A Dagster run per protocol; the jsonrpc one stays fast, retries per protocol are tested apart.
    "test_odoo_client.py::test_resource_in_an_asset_logs_retries_to_the_run[xmlrpc]": 1.1,
    "test_odoo_client.py::test_resource_in_an_asset_logs_retries_to_the_run[json2]": 0.9,
    # scripts/dev.sh with dagster dev and the simulator, stopped by SIGTERM to its process group.
    "test_dev_environment.py::test_dev_sh_replaces_a_leftover_simulator_and_a_sigterm_to_its_group_stops_everything": 24.5,  # noqa: E501
}


def _is_slow(item: pytest.Item) -> bool:
    if item.path.stem in SLOW_MODULES:
        return True
    function = getattr(item, "originalname", item.name)
    return f"{item.path.name}::{item.name}" in SLOW_TESTS or f"{item.path.name}::{function}" in SLOW_TESTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow modules' and tests' items ``slow`` (``make test-fast`` runs ``-m "not slow"``)."""
    modules = {item.path.name: item.module for item in items if isinstance(item, pytest.Function)}
    stale = [
        name
        for name in SLOW_TESTS
        if (module := modules.get(name.split("::")[0])) is not None
        and not hasattr(module, name.split("::")[1].split("[")[0])
    ]
    if stale:
        raise pytest.UsageError(f"conftest.py SLOW_TESTS names tests that do not exist: {', '.join(stale)}")
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
    # The longest modules first: with two workers (`--dist loadfile`) the suite's wall time is set
    # by the module started last, so a 10-minute module must not be the last one handed out.
    items.sort(key=lambda item: -LONG_MODULES.get(item.path.stem, 0))


# Minutes each module took in `make test` (2 workers on 2 cores, under load, 2026-12-02): the
# longest are handed out first.
LONG_MODULES = {
    "test_faults_daemon": 22,
    "test_property_convergence": 3,  # 30 + 7 examples (CONVERGENCE_EXAMPLES): 13 at 200
    "test_daemon_e2e": 11,
    "test_assets_real_odoo": 10,
    "test_sensors_reconcile": 7,
    "test_demo_runs": 4,
    "test_chunked_partitions": 3,
    "test_split_backfill": 3,
    "test_assets_carteira": 3,
    "test_assets_faturamento": 3,
    "test_browser_ui": 3,
    "test_checks": 2,
    "test_assets_financeiro": 2,
    "test_webserver": 2,
}


# A daemon a test starts must not launch runs of its own at 00:30 (the schedule financeiro_daily):
# tests count runs. Set before any import of the definitions; subprocesses inherit it.
os.environ["SYNC_FINANCEIRO_DAILY"] = "off"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs two workers), each worker gets a database of its own,
    created next to DATABASE_URL's as ``<name>_<worker>``, with Dagster's schema in it: tests
    TRUNCATE the operational tables and must never see another worker's rows. The environment is
    changed before any test runs, so the daemons and webservers tests start inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = os.environ.get("DATABASE_URL")
    if not worker or not base:
        return
    from sync_pipeline import settings
    from sync_pipeline.dagster_home import ensure_dagster_schema

    os.environ["DATABASE_URL"] = _recreate_database(base, f"{_database_name(base)}_{worker}")
    os.environ.pop("DAGSTER_PG_URL", None)
    os.environ["DAGSTER_PG_URL"] = settings.dagster_pg_url()
    ensure_dagster_schema(os.environ["DAGSTER_PG_URL"])


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database or "postgres"


def _recreate_database(base_url: str, name: str) -> str:
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    from sync_pipeline import settings

    conn = psycopg2.connect(settings.libpq_url(base_url), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail(
            "DATABASE_URL is not set: run the suite through `make test`, which starts the project-local PostgreSQL"
        )
    engine = get_engine(url)
    with engine.begin() as conn:
        create_schema(conn)
    return url


@pytest.fixture
def db(database_url):
    """An empty operational schema for each test."""
    engine = get_engine(database_url)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    return engine


@pytest.fixture
def simulator():
    """Factory: ``simulator(seed=..., scale=..., days=..., companies=...)`` → a running server."""
    from sync_pipeline_tests.support import start_simulator

    started = []

    def make(**kwargs):
        handle = start_simulator(**kwargs)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.stop()
