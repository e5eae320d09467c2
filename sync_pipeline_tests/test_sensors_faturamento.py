"""Sensors against the simulator: empreendimentos discovered, exactly the touched partitions requested."""

from __future__ import annotations

from datetime import datetime, timedelta

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context, instance_for_test

from sync_pipeline.odoo.changes import Cursor
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.sensors import empreendimento_sensor, invoice_sensor
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import START, definitions, empreendimentos, resources, sync_partition, table_rows


def _tick(instance: DagsterInstance, res: dict, cursor: str | None) -> SensorResult:
    context = build_sensor_context(instance=instance, cursor=cursor, resources=res)
    result = invoice_sensor(context)
    assert isinstance(result, SensorResult)
    return result


def test_empreendimento_sensor_adds_every_company(database_url, simulator):
    handle = simulator(seed=1, scale=0.2, days=1, companies=3)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        result = empreendimento_sensor(build_sensor_context(instance=instance, resources={"odoo": res["odoo"]}))
        (request,) = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == sorted(empreendimentos(handle))
        instance.add_dynamic_partitions("empreendimento", list(request.partition_keys))
        again = empreendimento_sensor(build_sensor_context(instance=instance, resources={"odoo": res["odoo"]}))
        assert isinstance(again, SkipReason) and "none new" in again.skip_message


def _invoice(handle, day) -> int:
    company = handle.company_ids()[1]
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[0]["id"]
    return add_invoice(handle.sim, company, partner, [(product, 7, 3.5, None)], day.isoformat())


def _nothing_new(result: SensorResult, since: Cursor) -> None:
    assert result.run_requests == []
    assert result.skip_reason is not None
    assert result.skip_reason.skip_message == f"nothing new since {since.write_date} (id {since.id})"


def test_new_invoice_requests_exactly_its_partition(db, database_url, simulator):
    handle = simulator(seed=4, scale=0.3, days=3, companies=2)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        # the first tick only records where Odoo is now: history is a backfill's job
        first = _tick(instance, res, None)
        assert first.run_requests == []
        newest = max(
            (m["write_date"], m["id"])
            for m in handle.sim.rows("account.move")
            if m["move_type"] in ("out_invoice", "out_refund")
        )
        cursor = Cursor.parse(first.cursor)
        assert (cursor.write_date, cursor.id) == newest
        # the generated history written in the overlap window behind it is history too
        assert (newest[1], newest[0]) in cursor.seen
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))

        # nothing changed: the overlap re-read brings back only rows the first tick already covered
        repeat = _tick(instance, res, first.cursor)
        _nothing_new(repeat, cursor)
        assert Cursor.parse(repeat.cursor) == cursor

        handle.sim.clock.advance(5)
        emp = empreendimentos(handle)[1]
        day = START + timedelta(days=20)
        move = _invoice(handle, day)

        tick = _tick(instance, res, repeat.cursor)
        expected = SyncPartition(emp, day).key
        (request,) = tick.run_requests
        assert request.partition_key == expected
        run_key = request.run_key

        # the next tick re-reads the new invoice in its overlap window: not requested again
        again = _tick(instance, res, tick.cursor)
        _nothing_new(again, Cursor.parse(tick.cursor))

        # run it: the rows come in
        sync_partition(instance, res, emp, day)
        rows = table_rows(
            db, "SELECT numero_nf, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m", m=move
        )
        assert len(rows) == 1 and rows[0]["qtd_produto_faturado"] == 7

        # a later change to the same partition gets a new run key
        handle.sim.clock.advance(5)
        handle.call("account.move", "button_draft", [move])
        handle.call("account.move", "button_cancel", [move])
        later = _tick(instance, res, again.cursor)
        assert [r.partition_key for r in later.run_requests] == [expected]
        assert later.run_requests[0].run_key != run_key


def test_a_row_committed_late_inside_the_overlap_window_is_requested_once(db, database_url, simulator, capsys):
    """Odoo stamps write_date at the transaction's start: a long transaction commits an invoice
    older than the cursor. The overlap re-read finds it; it is requested exactly once, even in a
    partition an earlier tick requested for a newer invoice, and the ticks log only what is new."""
    handle = simulator(seed=4, scale=0.3, days=3, companies=2)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[1]
    day = START + timedelta(days=20)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))
        cursor = _tick(instance, res, None).cursor
        handle.sim.clock.advance(300)
        began = handle.sim.clock.now()  # the long transaction starts here...
        handle.sim.clock.advance(60)
        _invoice(handle, day)  # ...while another invoice of the same partition commits
        first = _tick(instance, res, cursor)
        (request,) = first.run_requests
        assert request.partition_key == SyncPartition(emp, day).key

        handle.sim.clock.set(began)
        late = _invoice(handle, day)  # the long transaction commits: written 60 s before the cursor
        handle.sim.clock.advance(90)
        after = Cursor.parse(first.cursor)
        assert handle.sim.rows("account.move")[-1]["write_date"] < after.write_date
        capsys.readouterr()
        second = _tick(instance, res, first.cursor)
        (late_request,) = second.run_requests
        assert late_request.partition_key == SyncPartition(emp, day).key
        assert late_request.run_key != request.run_key  # a repeated key would be skipped by Dagster
        assert late_request.run_key.endswith(f":{late}")
        assert Cursor.parse(second.cursor).write_date == after.write_date  # nothing newer than the cursor
        logged = capsys.readouterr().err  # the sensor's context.log
        assert f"1 new account.move changes since {after.describe()}; 1 partitions in 1 run requests" in logged

        third = _tick(instance, res, second.cursor)
        _nothing_new(third, after)


def test_the_seen_pairs_are_bounded_by_the_window_and_the_limit(simulator):
    """The cursor keeps only pairs an overlap read can return again: inside the window behind the
    position, at most ``limit`` of them, the oldest (an overlap read returns the oldest first). Past
    the limit a row may be reported once more as the window slides, never again and again."""
    from sync_pipeline.odoo.changes import _changed_since

    handle = simulator(generate_data=False)
    company = handle.company_ids()[0]
    client = resources(handle, "postgresql://unused")["odoo"].get_client()
    partner = handle.call("res.partner", "create", {"name": "Cliente", "vat": "11.222.333/0001-81"})
    product = handle.call("product.product", "create", {"name": "Produto", "default_code": "P-1"})
    handle.sim.clock.set(datetime(2025, 3, 1, 12))
    moves = []
    for _ in range(5):  # 50 s apart
        handle.sim.clock.advance(50)
        moves.append(add_invoice(handle.sim, company, partner, [(product, 1, 1.0, None)], START.isoformat()))

    def changed(cursor, limit=10):
        return _changed_since(client, "account.move", [], ["write_date"], cursor, overlap_seconds=120, limit=limit)

    def ids(cursor):
        return sorted(i for i, _ in cursor.seen)

    rows, cursor, _ = changed(Cursor())
    assert sorted(rows) == moves
    assert ids(cursor) == moves[2:]  # the window is the 120 s behind the newest
    assert Cursor.parse(cursor.serialize()) == cursor
    rows, again, _ = changed(cursor)
    assert rows == {} and again == cursor

    # room for two pairs: the two oldest of the window
    steps = []
    small = Cursor()
    for _ in range(5):
        rows, small, _ = changed(small, limit=2)
        steps.append((sorted(rows), ids(small)))
    assert (
        steps
        == [
            (moves[0:2], moves[0:2]),
            (moves[2:4], moves[1:3]),
            (moves[4:], [moves[2], moves[4]]),
            ([moves[3]], moves[2:4]),  # dropped for the limit, re-read once as the window slid
            ([], moves[2:4]),
        ]
    )


def test_consecutive_days_touched_become_one_range_run(db, database_url, simulator):
    handle = simulator(seed=4, scale=0.3, days=2, companies=1)
    res = resources(handle, database_url)
    company = handle.company_ids()[0]
    emp = empreendimentos(handle)[0]
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[0]["id"]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("empreendimento", [emp])
        cursor = _tick(instance, res, None).cursor
        handle.sim.clock.advance(300)
        days = [START + timedelta(days=d) for d in (10, 11, 12, 20)]
        moves = [add_invoice(handle.sim, company, partner, [(product, 2, 5.0, None)], d.isoformat()) for d in days]
        tick = _tick(instance, res, cursor)
        ranges = sorted(
            (
                r.tags.get("dagster/asset_partition_range_start") or r.partition_key,
                r.tags.get("dagster/asset_partition_range_end") or r.partition_key,
            )
            for r in tick.run_requests
        )
        assert ranges == [
            (SyncPartition(emp, days[0]).key, SyncPartition(emp, days[2]).key),
            (SyncPartition(emp, days[3]).key, SyncPartition(emp, days[3]).key),
        ]
        # the range request runs as one run and brings all three days in
        job = definitions(res).resolve_job_def("sync_job")
        request = next(r for r in tick.run_requests if r.partition_key is None)
        assert job.execute_in_process(instance=instance, tags=request.tags).success
    got = {r["odoo_move_id"] for r in table_rows(db, "SELECT odoo_move_id FROM faturamento_produto")}
    assert got == set(moves[:3])
