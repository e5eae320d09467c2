"""Sensors against the simulator: empreendimentos discovered, exactly the touched partitions requested."""

from __future__ import annotations

from datetime import timedelta

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
        cursor = first.cursor
        assert (Cursor.parse(cursor).write_date, Cursor.parse(cursor).id) == newest
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))

        # nothing changed: the overlap re-read finds only what the cursor already covers
        issued: set[str] = set()
        repeat = _tick(instance, res, cursor)
        issued |= {r.run_key for r in repeat.run_requests}
        assert _tick(instance, res, cursor).run_requests == repeat.run_requests

        def new_requests(result):
            fresh = [r for r in result.run_requests if r.run_key not in issued]
            issued.update(r.run_key for r in fresh)
            return fresh

        handle.sim.clock.advance(5)
        company = handle.company_ids()[1]
        emp = empreendimentos(handle)[1]
        day = START + timedelta(days=20)
        partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
        product = handle.sim.rows("product.product")[0]["id"]
        move = add_invoice(handle.sim, company, partner, [(product, 7, 3.5, None)], day.isoformat())

        tick = _tick(instance, res, cursor)
        expected = SyncPartition(emp, day).key
        (request,) = new_requests(tick)
        assert request.partition_key == expected
        run_key = request.run_key

        # the same tick again: nothing new, so a repeat never runs twice
        assert new_requests(_tick(instance, res, cursor)) == []

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
        later = new_requests(_tick(instance, res, tick.cursor))
        assert [r.partition_key for r in later] == [expected]
        assert later[0].run_key != run_key


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
