"""Sensors against the simulator: empreendimentos discovered, exactly the touched partitions requested."""

from __future__ import annotations

from datetime import timedelta

from dagster import DagsterInstance, SensorResult, build_sensor_context, instance_for_test

from sync_pipeline.odoo.changes import Cursor
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.sensors import empreendimento_sensor, invoice_sensor
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import START, empreendimentos, resources, sync_partition, table_rows


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
        assert not isinstance(again, SensorResult)  # a SkipReason: nothing new


def test_new_invoice_requests_exactly_its_partition(db, database_url, simulator):
    handle = simulator(seed=4, scale=0.3, days=3, companies=2)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        first = _tick(instance, res, None)
        # the first tick sees the whole history, adds the companies and asks for their partitions
        assert first.run_requests
        assert sorted(first.dynamic_partitions_requests[0].partition_keys) == sorted(empreendimentos(handle))
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))
        cursor = first.cursor
        assert Cursor.parse(cursor).id > 0

        # nothing changed: the overlap re-read asks again with the same run keys (Dagster skips them)
        repeat = _tick(instance, res, cursor)
        issued = {r.run_key for r in first.run_requests}
        assert {r.run_key for r in repeat.run_requests} <= issued

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
        rows = table_rows(db, "SELECT numero_nf, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m", m=move)
        assert len(rows) == 1 and rows[0]["qtd_produto_faturado"] == 7

        # a later change to the same partition gets a new run key
        handle.sim.clock.advance(5)
        handle.call("account.move", "button_draft", [move])
        handle.call("account.move", "button_cancel", [move])
        later = new_requests(_tick(instance, res, tick.cursor))
        assert [r.partition_key for r in later] == [expected]
        assert later[0].run_key != run_key
