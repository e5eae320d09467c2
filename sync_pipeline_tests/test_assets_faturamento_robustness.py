"""Round trips, faults, a killed connection, rejects and garbage: the faturamento graph under stress."""

from __future__ import annotations

import math
from datetime import date, timedelta

import psycopg2
from dagster import AssetCheckSeverity, instance_for_test
from sqlalchemy import event

from sync_pipeline.db.engine import get_engine
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.resources.postgres import PostgresResource
from sync_pipeline.settings import libpq_url
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.oracle import expected_faturamento
from sync_pipeline_tests.support import (
    START,
    empreendimentos,
    partition_metadata,
    resources,
    sync_partition,
    sync_range,
    table_rows,
)

PAGE = 500


def _bulk_invoices(handle, company_id: int, day: date, n_lines: int, per_invoice: int = 50) -> None:
    partners = [p["id"] for p in handle.sim.rows("res.partner") if p.get("vat")]
    products = [p["id"] for p in handle.sim.rows("product.product")]
    made = 0
    i = 0
    while made < n_lines:
        k = min(per_invoice, n_lines - made)
        lines = [(products[(i + j) % len(products)], 1 + (j % 7), 10.0 + j, None) for j in range(k)]
        add_invoice(handle.sim, company_id, partners[i % len(partners)], lines, day.isoformat(), post=True)
        made += k
        i += 1


def test_statements_constant_and_calls_grow_with_pages(db, database_url, simulator):
    handle = simulator(seed=1, scale=0.2, days=1, companies=1)
    company = handle.company_ids()[0]
    emp = empreendimentos(handle)[0]
    small, large = START + timedelta(days=10), START + timedelta(days=11)
    _bulk_invoices(handle, company, small, 1_000)
    _bulk_invoices(handle, company, large, 20_000, per_invoice=40)
    res = resources(handle, database_url, page_size=PAGE)
    with instance_for_test() as instance:
        sync_partition(instance, res, emp, small)
        sync_partition(instance, res, emp, large)
        md = {d: partition_metadata(instance, "odoo_fatura_linha", SyncPartition(emp, d).key) for d in (small, large)}
        fat = {
            d: partition_metadata(instance, "faturamento_produto", SyncPartition(emp, d).key) for d in (small, large)
        }
    assert md[small]["lines"] == 1_000 and md[large]["lines"] == 20_000
    assert md[small]["sql_statements"] == md[large]["sql_statements"] <= 8
    # 10: the query that tells whether the chunk holds anything, then the nine of the faturamento
    assert fat[small]["sql_statements"] == fat[large]["sql_statements"] <= 10
    assert fat[large]["rows_inserted"] > 0
    # Odoo calls: only the pages of lines differ (1,000 vs 20,000 lines at 500 per page)
    extra_pages = math.ceil(20_000 / PAGE) - math.ceil(1_000 / PAGE)
    moves_pages = math.ceil(500 / PAGE) - math.ceil(20 / PAGE)
    assert md[large]["odoo_calls_chunk"] - md[small]["odoo_calls_chunk"] == extra_pages + moves_pages
    assert md[small]["odoo_calls_chunk"] <= 12


def test_sync_survives_502_and_dropped_connections(db, database_url, simulator):
    handle = simulator(seed=21, scale=0.5, days=5, companies=1)
    handle.faults.update(error_rate=0.15, drop_rate=0.1, seed=4)
    res = resources(handle, database_url, page_size=100)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, START + timedelta(days=4)).success
    stats = handle.faults.stats()
    assert sum(stats["injected"].values()) > 0
    expected = expected_faturamento(handle.sim)
    rows = table_rows(db, "SELECT odoo_move_id, cod_produto, origem, qtd_produto_faturado FROM faturamento_produto")
    assert {(r["odoo_move_id"], r["cod_produto"], r["origem"]): r["qtd_produto_faturado"] for r in rows} == {
        k: v["qtd_produto_faturado"] for k, v in expected.items()
    }


def _kill_connection_after(engine, statement_no: int):
    """Terminate the unit of work's backend from another session at its Nth statement, once."""
    state = {"seen": 0, "killed": False}

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if state["killed"] or conn.info.get("statement_count") is None:
            return
        state["seen"] += 1
        if state["seen"] == statement_no:
            pid = conn.connection.dbapi_connection.get_backend_pid()
            with psycopg2.connect(libpq_url(str(engine.url.render_as_string(hide_password=False)))) as admin:
                admin.autocommit = True
                admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
            state["killed"] = True

    event.listen(engine, "before_cursor_execute", before)
    return state, lambda: event.remove(engine, "before_cursor_execute", before)


def test_killed_connection_replays_partition(db, database_url, simulator):
    handle = simulator(seed=8, scale=0.6, days=2, companies=1)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    day = START + timedelta(days=1)
    engine = get_engine(database_url)
    state, remove = _kill_connection_after(engine, 3)
    try:
        with instance_for_test() as instance:
            assert sync_partition(instance, res, emp, day).success
            md = partition_metadata(instance, "odoo_fatura_linha", SyncPartition(emp, day).key)
    finally:
        remove()
    assert state["killed"]
    assert md["db_attempts"] == 2
    expected = {k for k, v in expected_faturamento(handle.sim).items() if v["data_fatura"] == day.isoformat()}
    got = {
        (r["odoo_move_id"], r["cod_produto"], r["origem"])
        for r in table_rows(db, "SELECT odoo_move_id, cod_produto, origem FROM faturamento_produto")
    }
    assert got == expected and got


def test_killed_connection_without_retries_leaves_nothing_half_written(db, database_url, simulator):
    handle = simulator(seed=8, scale=0.6, days=2, companies=1)
    res = resources(handle, database_url)
    res["postgres"] = PostgresResource(database_url=database_url, max_attempts=1)
    emp = empreendimentos(handle)[0]
    engine = get_engine(database_url)
    state, remove = _kill_connection_after(engine, 4)  # after the COPY, before the upsert
    try:
        with instance_for_test() as instance:
            result = sync_partition(instance, res, emp, START + timedelta(days=1), raise_on_error=False)
    finally:
        remove()
    assert state["killed"] and not result.success
    assert table_rows(db, "SELECT count(*) AS n FROM odoo_fatura_linha") == [{"n": 0}]
    assert table_rows(db, "SELECT count(*) AS n FROM faturamento_produto") == [{"n": 0}]


def test_bad_records_set_aside_and_rest_commits(db, database_url, simulator):
    handle = simulator(seed=2, scale=0.3, days=1, companies=1)
    company = handle.company_ids()[0]
    emp = empreendimentos(handle)[0]
    day = START + timedelta(days=3)
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[0]["id"]
    good = add_invoice(handle.sim, company, partner, [(product, 4, 12.5, None)], day.isoformat())
    bad = handle.call(
        "account.move",
        "create",
        {
            "move_type": "out_invoice",
            "partner_id": partner,
            "company_id": company,
            "invoice_date": day.isoformat(),
            "invoice_line_ids": [
                (0, 0, {"name": "Frete sem produto", "quantity": 1, "price_unit": 30.0}),
                (0, 0, {"product_id": product, "quantity": -2, "price_unit": 12.5}),
                (0, 0, {"product_id": handle.sim.rows("product.product")[1]["id"], "quantity": 3, "price_unit": 9.0}),
            ],
        },
    )
    handle.call("account.move", "action_post", [bad])
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        result = sync_partition(instance, res, emp, day)
        assert result.success
        checks = result.get_asset_check_evaluations()
        run_id = result.run_id
    rejects = table_rows(db, "SELECT model, rule, run_id, partition_key, parent_id FROM sync_rejeitado ORDER BY rule")
    assert [(r["model"], r["rule"], r["parent_id"]) for r in rejects] == [
        ("account.move.line", "linha_sem_produto", bad),
        ("account.move.line", "quantidade_negativa", bad),
    ]
    assert {r["run_id"] for r in rejects} == {run_id}
    assert {r["partition_key"] for r in rejects} == {SyncPartition(emp, day).key}
    # the rest of the partition (and the valid line of the bad NF) committed
    moves = {r["odoo_move_id"] for r in table_rows(db, "SELECT odoo_move_id FROM faturamento_produto")}
    assert moves == {good, bad}
    check = next(c for c in checks if c.check_name == "no_rejected_invoice_lines")
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["rejects"].value == 2


def test_garbage_response_fails_partition_and_commits_nothing(db, database_url, simulator):
    handle = simulator(seed=2, scale=0.5, days=2, companies=1)
    emp = empreendimentos(handle)[0]
    res = resources(handle, database_url)
    for kind in ("garbage", "truncate"):
        handle.faults.inject(kind, model="account.move.line")
        with instance_for_test() as instance:
            result = sync_range(instance, res, emp, START, START + timedelta(days=1), raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        error = failure.step_failure_data.error
        message = (error.cause or error).message
        assert "account.move.line" in message, message
        assert table_rows(db, "SELECT count(*) AS n FROM odoo_fatura_linha") == [{"n": 0}]
        assert table_rows(db, "SELECT count(*) AS n FROM faturamento_produto") == [{"n": 0}]
