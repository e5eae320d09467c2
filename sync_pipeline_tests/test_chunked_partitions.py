"""A run of many partitions works through them in chunks (one empreendimento, up to CHUNK_DAYS
dates): one transaction per chunk with a constant number of set-based statements, chunks with
nothing in them skipped after one query, and still a materialization with its own counts for
every partition (issue 8 item 1)."""

from __future__ import annotations

from datetime import timedelta

from dagster import instance_for_test
from sqlalchemy import text

from sync_pipeline.assets import common
from sync_pipeline.assets.common import CHUNK_DAYS
from sync_pipeline.partitions import SyncPartition
from sync_pipeline_tests.support import (
    START,
    empreendimentos,
    partition_metadata,
    resources,
    sync_partition,
    sync_range,
    synced_state,
)

# the assets whose metadata carries one partition's figures, and the column giving a row's date
STEPS = ("odoo_fatura_linha", "faturamento_produto", "odoo_pedido_linha", "carteira_principal", "carteira_saldo")


def _metadata(instance, emp: str, days) -> dict[str, dict]:
    return {
        asset: {day: partition_metadata(instance, asset, SyncPartition(emp, day).key) for day in days}
        for asset in STEPS
    }


def _rows_per_day(engine, table: str, column: str, emp: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(f"SELECT {column}, count(*) FROM {table} WHERE empreendimento = :emp GROUP BY 1"), {"emp": emp}
            ).all()
        )


def test_a_chunk_is_one_transaction_of_the_statements_of_one_partition_and_ends_as_partition_by_partition(
    db, database_url, simulator
):
    days = 8
    handle = simulator(seed=7, scale=0.3, days=days, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    dates = [START + timedelta(days=i) for i in range(days)]

    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, dates[0], dates[-1]).success
        md = _metadata(instance, emp, dates)
    chunked = synced_state(db)

    for asset, by_day in md.items():
        # one transaction for the eight partitions: every partition reports the chunk's statements
        assert {m["chunk_partitions"] for m in by_day.values()} == {days}, asset
        assert len({m["sql_statements"] for m in by_day.values()}) == 1, asset
        assert not any(m["skipped"] for m in by_day.values()), asset
    assert md["carteira_principal"][dates[0]]["sql_statements"] <= 12
    assert md["faturamento_produto"][dates[0]]["sql_statements"] <= 10
    assert md["carteira_saldo"][dates[0]]["sql_statements"] <= 3

    # each partition's own counts: the rows of its date
    carteira_rows = _rows_per_day(db, "carteira_principal", "data_pedido", emp)
    faturamento_rows = _rows_per_day(db, "faturamento_produto", "data_fatura", emp)
    staged_orders = _rows_per_day(db, "odoo_pedido_linha", "partition_date", emp)
    assert sum(carteira_rows.values()) >= 5 and sum(faturamento_rows.values()) > 20
    for day in dates:
        assert md["carteira_principal"][day]["rows_inserted"] == carteira_rows.get(day, 0), day
        assert md["carteira_saldo"][day]["rows_written"] == carteira_rows.get(day, 0), day
        assert md["faturamento_produto"][day]["rows_inserted"] == faturamento_rows.get(day, 0), day
        assert md["odoo_pedido_linha"][day]["rows_inserted"] == staged_orders.get(day, 0), day
    assert len({md["carteira_principal"][d]["rows_inserted"] for d in dates}) > 1  # not one figure spread

    # the same partitions one run each end in the same state
    with db.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(chunked) + " RESTART IDENTITY"))
    with instance_for_test() as instance:
        for day in dates:
            assert sync_partition(instance, res, emp, day).success
        busy = max(dates, key=lambda d: carteira_rows.get(d, 0))
        single = partition_metadata(instance, "carteira_principal", SyncPartition(emp, busy).key)
    assert single["chunk_partitions"] == 1
    # (one of those runs also planned earlier dates again, their orders invoiced on its date: 10 more)
    assert md["carteira_principal"][busy]["sql_statements"] <= single["sql_statements"]
    assert synced_state(db) == chunked


def test_partitions_with_nothing_cost_one_query_per_chunk_and_still_get_their_materializations(
    db, database_url, simulator
):
    handle = simulator(seed=3, scale=0.2, days=3, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    last = START + timedelta(days=CHUNK_DAYS + 9)  # a chunk with data, then ten empty dates
    empty = [START + timedelta(days=i) for i in range(CHUNK_DAYS, CHUNK_DAYS + 10)]

    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, last).success
        md = _metadata(instance, emp, [START, *empty])
        assert sync_range(instance, res, emp, START, last).success  # again: nothing changed anywhere
        again = _metadata(instance, emp, [START])

    for asset, by_day in md.items():
        assert not by_day[START]["skipped"], asset
        for day in empty:
            m = by_day[day]
            assert m["skipped"] and m["chunk_partitions"] == 10, (asset, day)
            assert m.get("rows_inserted", m.get("rows_written")) == 0, (asset, day)
    # an extract with nothing in Odoo and nothing staged opens no transaction; a transform asks one
    # question (after taking the empreendimento's lock) and commits nothing
    assert {md["odoo_pedido_linha"][d]["sql_statements"] for d in empty} == {0}
    assert {md["carteira_principal"][d]["sql_statements"] for d in empty} <= {1, 2}
    assert again["carteira_principal"][START]["rows_inserted"] == again["carteira_principal"][START]["diffs"] == 0


def _planner_rows(engine, table: str) -> float:
    """What PostgreSQL's planner believes ``table`` holds (pg_class.reltuples; -1: never analysed)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar()


def test_a_chunk_that_stages_many_rows_gives_the_planner_their_statistics(db, database_url, simulator, monkeypatch):
    """A first backfill stages into tables PostgreSQL has no statistics of yet: the transforms
    would be planned for one row (nested loops: 88 s for a financeiro partition of 32,000
    instalments). A chunk staging ANALYZE_AFTER_ROWS new rows or more ANALYZEs what it staged into."""
    handle = simulator(seed=8, scale=0.3, days=3, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    with db.begin() as conn:  # as a new table is: never analysed
        conn.execute(text("TRUNCATE odoo_fatura_linha, odoo_pedido_linha"))
    monkeypatch.setattr(common, "ANALYZE_AFTER_ROWS", 10**9)
    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, START).success
        not_analysed = _planner_rows(db, "odoo_pedido_linha")
        monkeypatch.setattr(common, "ANALYZE_AFTER_ROWS", 2)
        assert sync_range(instance, res, emp, START + timedelta(days=1), START + timedelta(days=2)).success
    with db.connect() as conn:
        staged = conn.execute(text("SELECT count(*) FROM odoo_pedido_linha")).scalar()
    assert not_analysed < staged
    assert _planner_rows(db, "odoo_pedido_linha") == staged


def test_a_transform_that_fills_its_tables_gives_the_next_asset_their_statistics(
    db, database_url, simulator, monkeypatch
):
    """The transforms fill faturamento_produto, carteira_principal and parcelas from empty on a first
    backfill, and the next asset joins them in the same run (carteira reads faturamento_produto):
    without statistics one of its statements took 1.7 s per chunk instead of 0.005 s. A transform
    that inserted ANALYZE_AFTER_ROWS rows or more since its last ANALYZE ANALYZEs its tables."""
    handle = simulator(seed=8, scale=0.3, days=3, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    filled = ("faturamento_produto", "parcelas")  # (these days' orders leave no open carteira line)
    with db.begin() as conn:  # as new tables are: never analysed, and autovacuum not in the way
        conn.execute(text(f"TRUNCATE {', '.join(filled)} CASCADE"))
        for t in filled:
            conn.execute(text(f"ALTER TABLE {t} SET (autovacuum_enabled = false)"))
    monkeypatch.setattr(common, "ANALYZE_AFTER_ROWS", 10**9)
    try:
        with instance_for_test() as instance:
            assert sync_range(instance, res, emp, START, START).success
            not_analysed = {t: _planner_rows(db, t) for t in filled}
            monkeypatch.setattr(common, "ANALYZE_AFTER_ROWS", 2)
            assert sync_range(instance, res, emp, START + timedelta(days=1), START + timedelta(days=2)).success
    finally:
        with db.begin() as conn:
            for t in filled:
                conn.execute(text(f"ALTER TABLE {t} RESET (autovacuum_enabled)"))
    with db.connect() as conn:
        rows = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in filled}
    assert all(rows[t] > 2 for t in filled), rows
    assert all(not_analysed[t] < rows[t] for t in filled), (not_analysed, rows)
    assert {t: _planner_rows(db, t) for t in filled} == rows


def test_the_faturamento_source_is_analysed_before_the_statements_that_join_it(db, database_url, simulator):
    """``fat_src`` is a temporary table, which autovacuum never analyses: every chunk with rows
    ANALYZEs it in its own transaction (30,000 lines took 13 s in one join planned for a handful
    of rows, 0.1 s with statistics), once per chunk."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    handle = simulator(seed=8, scale=0.3, days=10, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    seen: list[str] = []

    def note(conn, cursor, statement, *_):
        if statement.strip().startswith("ANALYZE fat_src"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        with instance_for_test() as instance:
            assert sync_range(instance, res, emp, START, START + timedelta(days=9)).success
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    with db.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM faturamento_produto WHERE empreendimento = :e"), {"e": emp})
        assert rows.scalar() >= 2, "the generated days hold invoices to apply"
    assert len(seen) == 1, "one chunk, its source analysed once"


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_the_rows_the_faturamento_upsert_wrote_are_joined_once_never_in_a_nested_loop(db, database_url, simulator):
    """The planner has no statistics for an upsert's RETURNING rows and takes their join with
    fat_src for one row: a second join above it ran as a nested loop over fat_src for every row
    written (a 100,000-line partition re-writing its rows: over 8 minutes). The upsert's plan,
    taken from the very statement the asset sends, has no nested loop above the upsert's rows."""
    import json

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    handle = simulator(seed=8, scale=0.3, days=10, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    plans: list[dict] = []

    def explain(conn, cursor, statement, parameters, *_):
        if "INSERT INTO faturamento_produto" in statement and statement.lstrip().startswith("WITH"):
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)  # plans, runs nothing
            plan = cursor.fetchone()[0]
            plans.append(plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"])

    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, START + timedelta(days=9)).success
        with db.begin() as conn:  # every row differs from Odoo now: the re-sync re-writes them all
            changed = conn.execute(
                text("UPDATE faturamento_produto SET qtd_produto_faturado = qtd_produto_faturado + 1")
            ).rowcount
        assert changed >= 2
        event.listen(Engine, "before_cursor_execute", explain)
        try:
            assert sync_range(instance, res, emp, START, START + timedelta(days=9)).success
        finally:
            event.remove(Engine, "before_cursor_execute", explain)
    assert len(plans) == 1, "one chunk, one upsert"
    loops = [
        n
        for n in _plan_nodes(plans[0])
        if n["Node Type"] == "Nested Loop"
        and any(c.get("CTE Name") == "up" for c in _plan_nodes(n) if c["Node Type"] == "CTE Scan")
    ]
    assert not loops, json.dumps(loops, indent=1)[:2000]
    with db.connect() as conn:
        left = conn.execute(
            text(
                "SELECT count(*) FROM faturamento_produto f JOIN odoo_fatura_linha l USING (odoo_move_id)"
                " WHERE f.qtd_produto_faturado <> (SELECT sum(quantidade) FROM odoo_fatura_linha x"
                " WHERE x.odoo_move_id = f.odoo_move_id AND x.cod_produto = f.cod_produto"
                " AND x.origem IS NOT DISTINCT FROM f.origem) * CASE WHEN f.move_type = 'out_refund' THEN -1 ELSE 1 END"
            )
        ).scalar()
    assert left == 0, "the re-sync put Odoo's quantities back"


def test_rows_few_next_to_what_the_statistics_know_leave_them_alone(db, database_url, simulator, monkeypatch):
    """An ANALYZE of a wide table of 200,000 rows takes about a second: a chunk ANALYZEs a table
    only when its inserts are a large share (ANALYZE_GROWTH) of the rows the statistics know, or
    the statistics were never gathered."""
    handle = simulator(seed=8, scale=1.0, days=3, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    table = "odoo_pedido_linha"
    with db.begin() as conn:
        conn.execute(text(f"TRUNCATE {table}"))
        conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    monkeypatch.setattr(common, "ANALYZE_AFTER_ROWS", 1)
    try:
        with instance_for_test() as instance:
            assert sync_range(instance, res, emp, START, START).success
            first = _planner_rows(db, table)
            monkeypatch.setattr(common, "ANALYZE_GROWTH", 10**9)  # any statistics are recent enough
            assert sync_range(instance, res, emp, START + timedelta(days=1), START + timedelta(days=1)).success
            kept = _planner_rows(db, table)
            monkeypatch.setattr(common, "ANALYZE_GROWTH", 0)  # any insert makes them stale
            assert sync_range(instance, res, emp, START + timedelta(days=2), START + timedelta(days=2)).success
    finally:
        with db.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))
    with db.connect() as conn:
        staged = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        first_day = conn.execute(text(f"SELECT count(*) FROM {table} WHERE partition_date = :d"), {"d": START}).scalar()
    assert first == first_day > 0  # never gathered: ANALYZEd
    assert kept == first  # known: left alone
    assert _planner_rows(db, table) == staged > kept
