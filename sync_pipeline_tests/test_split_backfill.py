"""A carteira date depends on the invoices of every date of its empreendimento (DESIGN §3): a
backfill split over several runs — Dagster splits one at ``SYNC_MAX_PARTITIONS_PER_RUN`` — plans
an order in an early run before the invoices of a later run exist, and must still end in exactly
the state of one run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from dagster import instance_for_test
from sqlalchemy import text

from sync_pipeline.partitions import SyncPartition, company_id_for
from sync_pipeline_tests.support import (
    START,
    empreendimentos,
    partition_metadata,
    resources,
    sync_range,
    synced_state,
    table_rows,
)

DAYS = 12
CHUNK = 3  # four runs of three dates


def _plant_pre_separacoes(engine, handle, emp: str) -> int:
    """The operational app's pré-separações of every line of the orders of the first chunk, each
    holding the whole line: whatever is invoiced later must come out of them."""
    sim = handle.sim
    company = company_id_for(emp)
    codes = {p["id"]: p["default_code"] or f"ODOO-{p['id']}" for p in sim.rows("product.product")}
    first_chunk = {(START + timedelta(days=i)).isoformat() for i in range(CHUNK)}
    orders = {
        o["id"]: o["name"]
        for o in sim.rows("sale.order")
        if o["company_id"] == company and o["state"] == "sale" and o["date_order"][:10] in first_chunk
    }
    planted = [
        {"p": orders[ln["order_id"]], "c": codes[ln["product_id"]], "q": Decimal(str(ln["product_uom_qty"]))}
        for ln in sim.rows("sale.order.line")
        if ln["order_id"] in orders and not ln["display_type"] and ln["product_uom_qty"] > 0
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pre_separacao_item (num_pedido, cod_produto, qtd_selecionada_usuario, data_criacao) "
                "VALUES (:p, :c, :q, '2025-01-01')"
            ),
            planted,
        )
    return len(planted)


def _state(engine) -> dict:
    state = synced_state(engine)
    state["pre_separacao_item"] = [
        tuple(r.values())
        for r in table_rows(
            engine,
            "SELECT num_pedido, cod_produto, qtd_selecionada_usuario, status FROM pre_separacao_item "
            "ORDER BY num_pedido, cod_produto, qtd_selecionada_usuario",
        )
    ]
    return state


def _reset(engine, handle, emp: str) -> None:
    from sync_pipeline.db.schema import metadata

    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} RESTART IDENTITY"))
    assert _plant_pre_separacoes(engine, handle, emp) > 0


def test_a_backfill_split_over_several_runs_ends_in_the_state_of_one_run(db, database_url, simulator):
    handle = simulator(seed=5, scale=0.5, days=DAYS, companies=1)
    emp = empreendimentos(handle)[0]
    res = resources(handle, database_url)
    end = START + timedelta(days=DAYS - 1)

    _reset(db, handle, emp)
    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, end).success
    one_run = _state(db)

    # The test means something only if orders of an early run are invoiced in a later one.
    [late] = table_rows(
        db,
        "SELECT count(*) AS n FROM faturamento_produto f JOIN odoo_pedido_linha l "
        "ON l.num_pedido = f.origem AND l.empreendimento = f.empreendimento "
        "WHERE (f.data_fatura - :start) / :chunk > (l.partition_date - :start) / :chunk",
        start=START,
        chunk=CHUNK,
    )
    assert late["n"] > 0, "no order of one chunk is invoiced in a later chunk"

    _reset(db, handle, emp)
    replanned: list[str] = []
    with instance_for_test() as instance:
        for first in range(0, DAYS, CHUNK):
            day0 = START + timedelta(days=first)
            day1 = min(day0 + timedelta(days=CHUNK - 1), end)
            assert sync_range(instance, res, emp, day0, day1).success
            for i in range((day1 - day0).days + 1):
                meta = partition_metadata(
                    instance, "carteira_principal", SyncPartition(emp, day0 + timedelta(days=i)).key
                )
                if meta.get("partitions_replanned"):
                    replanned.append(meta["replanned"])
    split = _state(db)

    assert {t: len(v) for t, v in split.items()} == {t: len(v) for t, v in one_run.items()}
    for table in one_run:
        assert split[table] == one_run[table], table
    assert replanned, "no later run planned an earlier partition again"
    # the planted decisions were cut to what is left to ship, not left whole
    assert sum(r[2] for r in split["pre_separacao_item"]) < sum(
        Decimal(str(ln["product_uom_qty"])) for ln in handle.sim.rows("sale.order.line") if not ln["display_type"]
    )


def test_one_run_plans_no_partition_twice(db, database_url, simulator):
    """In one run every invoice exists before any carteira date is planned: nothing is stale."""
    handle = simulator(seed=5, scale=0.5, days=DAYS, companies=1)
    emp = empreendimentos(handle)[0]
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, START + timedelta(days=DAYS - 1)).success
        counts = [
            partition_metadata(instance, "carteira_principal", SyncPartition(emp, START + timedelta(days=i)).key).get(
                "partitions_replanned"
            )
            for i in range(DAYS)
        ]
    assert counts == [0] * DAYS
