"""Order changes and invoices of orders reach exactly the partitions they touch."""

from __future__ import annotations

from datetime import date, datetime

from dagster import SensorResult, build_sensor_context, instance_for_test

from sync_pipeline.odoo.changes import OrderCursor
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.sensors import invoice_sensor, order_sensor
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import empreendimentos, resources

ORDER_DAY = date(2025, 2, 3)
INVOICE_DAY = date(2025, 2, 10)


def _tick(sensor, instance, res, cursor):
    result = sensor(build_sensor_context(instance=instance, cursor=cursor, resources=res))
    assert isinstance(result, SensorResult)
    return result


def _make_order(handle, when: datetime, qty: float = 10):
    handle.sim.clock.set(when)
    company = handle.company_ids()[0]
    partner = handle.call("res.partner", "create", {"name": "Cliente", "vat": "11.222.333/0001-81"})
    product = handle.call("product.product", "create", {"name": "Produto", "default_code": "P-1", "weight": 1.0})
    order = handle.call(
        "sale.order",
        "create",
        {
            "partner_id": partner,
            "company_id": company,
            "order_line": [(0, 0, {"product_id": product, "product_uom_qty": qty})],
        },
    )
    handle.call("sale.order", "action_confirm", [order])
    return company, partner, product, order


def test_changed_order_requests_its_order_date(db, database_url, simulator):
    handle = simulator(generate_data=False)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        cursor = _tick(order_sensor, instance, res, None).cursor
        # 23:30 in São Paulo on Feb 3rd is Feb 4th in UTC: the partition is the local date
        _, _, _, order = _make_order(handle, datetime(2025, 2, 4, 2, 30))
        emp = empreendimentos(handle)[0]
        tick = _tick(order_sensor, instance, res, cursor)
        assert [r.partition_key for r in tick.run_requests] == [SyncPartition(emp, ORDER_DAY).key]
        assert tick.run_requests[0].tags["sync/empreendimento"] == emp

        # the next tick re-reads the order and its line in the overlap window: nothing new, said so
        again = _tick(order_sensor, instance, res, tick.cursor)
        assert again.run_requests == []
        seen = OrderCursor.parse(tick.cursor)
        assert again.skip_reason.skip_message == (
            f"nothing new since {seen.order.describe()}, order lines since {seen.line.describe()}"
        )
        assert OrderCursor.parse(again.cursor) == seen

        handle.sim.clock.set(datetime(2025, 2, 20, 12))
        line = next(r["id"] for r in handle.sim.rows("sale.order.line") if r["order_id"] == order)
        handle.call("sale.order.line", "write", [line], {"product_uom_qty": 4})
        later = _tick(order_sensor, instance, res, again.cursor)
        assert [r.partition_key for r in later.run_requests] == [SyncPartition(emp, ORDER_DAY).key]
        assert later.run_requests[0].run_key != tick.run_requests[0].run_key


def test_invoice_requests_its_partition_then_its_orders(db, database_url, simulator):
    handle = simulator(generate_data=False)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        cursor = _tick(invoice_sensor, instance, res, None).cursor
        company, partner, product, order = _make_order(handle, datetime(2025, 2, 3, 15))
        name = handle.sim.rows("sale.order")[-1]["name"]
        handle.sim.clock.set(datetime(2025, 2, 10, 15))
        line = next(r["id"] for r in handle.sim.rows("sale.order.line") if r["order_id"] == order)
        add_invoice(
            handle.sim, company, partner, [(product, 4, 10.0, line)], INVOICE_DAY.isoformat(), invoice_origin=name
        )
        emp = empreendimentos(handle)[0]
        tick = _tick(invoice_sensor, instance, res, cursor)
        # the invoice's own partition first (faturamento), then the order's (its saldo changed)
        assert [r.partition_key for r in tick.run_requests] == [
            SyncPartition(emp, INVOICE_DAY).key,
            SyncPartition(emp, ORDER_DAY).key,
        ]
