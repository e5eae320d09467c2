"""Documents deleted in Odoo (no tombstone) are found by the reconciliation sensor and leave staging."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import requests
from dagster import SensorResult, build_sensor_context, instance_for_test

from sync_pipeline.odoo.reconcile import next_batch
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.sensors import reconciliation_sensor
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import empreendimentos, resources, sync_partition, sync_range, table_rows

FIRST, LAST = date(2025, 2, 1), date(2025, 2, 14)
QUOTATION_DAY = date(2025, 2, 5)
DRAFT_INVOICE_DAY = date(2025, 2, 10)


def _tick(instance, res, cursor=None) -> SensorResult:
    result = reconciliation_sensor(build_sensor_context(instance=instance, cursor=cursor, resources=res))
    assert isinstance(result, SensorResult)
    return result


def _calls(handle) -> dict[str, int]:
    """Odoo calls the simulator answered since the last reset, as ``model.method`` → count."""
    stats = requests.get(f"{handle.url}/sim/stats", timeout=5).json()
    return {
        f"{model}.{method}" if model else method: n
        for by_model in stats["calls"].values()
        for model, methods in by_model.items()
        for method, n in methods.items()
    }


def _order(handle, company: int, partner: int, product: int, when: datetime, *, confirm: bool = True) -> int:
    handle.sim.clock.set(when)
    order = handle.call(
        "sale.order",
        "create",
        {
            "partner_id": partner,
            "company_id": company,
            "order_line": [(0, 0, {"product_id": product, "product_uom_qty": 5})],
        },
    )
    if confirm:
        handle.call("sale.order", "action_confirm", [order])
    return order


def _documents(handle) -> dict[str, int]:
    """In the first company a confirmed order, a quotation, a posted and a draft invoice; in a second
    company a quotation and a draft invoice (all in February)."""
    handle.call("res.company", "create", {"name": "Filial"})
    first, second = handle.company_ids()
    partner = handle.call("res.partner", "create", {"name": "Cliente", "vat": "11.222.333/0001-81"})
    product = handle.call("product.product", "create", {"name": "Produto", "default_code": "P-1", "weight": 1.0})
    docs = {
        "order": _order(handle, first, partner, product, datetime(2025, 2, 3, 15)),
        "quotation": _order(handle, first, partner, product, datetime(2025, 2, 5, 15), confirm=False),
        "other_quotation": _order(handle, second, partner, product, datetime(2025, 2, 5, 16), confirm=False),
    }
    handle.sim.clock.set(datetime(2025, 2, 12, 15))
    for name, company, day, post in [
        ("invoice", first, "2025-02-12", True),
        ("draft_invoice", first, DRAFT_INVOICE_DAY.isoformat(), False),
        ("undated_draft", first, None, False),  # no invoice_date yet: its accounting date (today) counts
        ("other_draft_invoice", second, DRAFT_INVOICE_DAY.isoformat(), False),
    ]:
        docs[name] = add_invoice(handle.sim, company, partner, [(product, 2, 10.0, None)], day, post=post)
    return docs


def _sync_february(instance, res, handle) -> None:
    for emp in empreendimentos(handle):
        sync_range(instance, res, emp, FIRST, LAST)


def test_deleted_quotation_and_draft_invoice_request_exactly_their_partitions(db, database_url, simulator):
    handle = simulator(generate_data=False)
    res = resources(handle, database_url)
    docs = _documents(handle)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        _sync_february(instance, res, handle)
        quotation = table_rows(
            db, "SELECT num_pedido FROM odoo_pedido_linha WHERE odoo_order_id = :o", o=docs["quotation"]
        )
        assert len(quotation) == 1
        assert table_rows(db, "SELECT 1 FROM odoo_fatura_linha WHERE odoo_move_id = :m", m=docs["draft_invoice"])

        handle.call("sale.order", "unlink", [docs["quotation"]])
        handle.call("account.move", "unlink", [docs["draft_invoice"]])
        handle.server.reset_stats()
        tick = _tick(instance, res)

        assert sorted(r.partition_key for r in tick.run_requests) == sorted(
            [SyncPartition(emp, QUOTATION_DAY).key, SyncPartition(emp, DRAFT_INVOICE_DAY).key]
        )
        for request in tick.run_requests:
            assert request.tags["sync/empreendimento"] == emp
            assert request.tags["sync/trigger"] == "reconciliation_sensor"
            assert request.run_key.startswith(f"reconciliation_sensor:{request.partition_key}:")
        # the server's version once (auto protocol), counts for the batch (3 read_group), one id
        # search per differing month and model, one search by id per model to tell deleted from moved
        assert _calls(handle) == {
            "version_info": 1,
            "authenticate": 1,
            "sale.order.read_group": 1,
            "account.move.read_group": 2,
            "sale.order.search": 2,
            "account.move.search": 2,
        }

        # Before the runs: the same deletions give the same run keys (Dagster skips them).
        again = _tick(instance, res, tick.cursor)
        assert {r.run_key for r in again.run_requests} == {r.run_key for r in tick.run_requests}

        for request in tick.run_requests:
            p = SyncPartition.parse(request.partition_key)
            sync_partition(instance, res, p.empreendimento, p.day)
        assert not table_rows(db, "SELECT 1 FROM odoo_pedido_linha WHERE odoo_order_id = :o", o=docs["quotation"])
        assert not table_rows(db, "SELECT 1 FROM odoo_fatura_linha WHERE odoo_move_id = :m", m=docs["draft_invoice"])
        removed = table_rows(
            db, "SELECT tipo, qtd_antes FROM carteira_diff WHERE num_pedido = :n", n=quotation[0]["num_pedido"]
        )
        assert [(r["tipo"], float(r["qtd_antes"])) for r in removed if r["tipo"] != "NOVO"] == [("REMOVIDO", 5.0)]
        # the other empreendimento's documents are untouched
        assert table_rows(db, "SELECT 1 FROM odoo_pedido_linha WHERE odoo_order_id = :o", o=docs["other_quotation"])

        handle.server.reset_stats()
        after = _tick(instance, res, again.cursor)
        assert after.run_requests == []
        assert "sale.order.search" not in _calls(handle)

        # A new deletion gives a new run key for its partition.
        handle.call("account.move", "unlink", [docs["other_draft_invoice"]])
        other = empreendimentos(handle)[1]
        latest = _tick(instance, res, after.cursor)
        assert [r.partition_key for r in latest.run_requests] == [SyncPartition(other, DRAFT_INVOICE_DAY).key]
        assert latest.run_requests[0].run_key not in {r.run_key for r in tick.run_requests}


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc", "json2"])
def test_nothing_deleted_costs_three_counts_and_no_run(db, database_url, simulator, protocol):
    handle = simulator(generate_data=False)
    res = resources(handle, database_url, protocol=protocol)
    docs = _documents(handle)
    with instance_for_test() as instance:
        _sync_february(instance, res, handle)
        undated = table_rows(
            db, "SELECT data_fatura FROM odoo_fatura_linha WHERE odoo_move_id = :m", m=docs["undated_draft"]
        )
        assert undated == [{"data_fatura": date(2025, 2, 12)}]
        handle.server.reset_stats()
        tick = _tick(instance, res)
        assert tick.run_requests == []
        calls = _calls(handle)
        assert calls.pop("authenticate", 0) == (0 if protocol == "json2" else 1)
        # a fixed protocol still asks the version once: read_group or formatted_read_group
        assert calls == {"version_info": 1, "sale.order.read_group": 1, "account.move.read_group": 2}


def test_month_boundary_and_unsynced_months_are_not_deletions(db, database_url, simulator):
    """22:30 in São Paulo on Feb 28th is March 1st in UTC: the simulator groups by UTC month, so the
    counts of February and March differ; the id search (local days) finds nothing gone. A month
    Odoo has but staging never synced costs nothing."""
    handle = simulator(generate_data=False)
    res = resources(handle, database_url)
    first = handle.company_ids()[0]
    partner = handle.call("res.partner", "create", {"name": "Cliente", "vat": "11.222.333/0001-81"})
    product = handle.call("product.product", "create", {"name": "Produto", "default_code": "P-1", "weight": 1.0})
    _order(handle, first, partner, product, datetime(2025, 3, 1, 1, 30))
    _order(handle, first, partner, product, datetime(2025, 4, 10, 15))  # April: never synced
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        sync_partition(instance, res, emp, date(2025, 2, 28))
        assert table_rows(db, "SELECT data_pedido FROM odoo_pedido_linha") == [{"data_pedido": date(2025, 2, 28)}]
        handle.server.reset_stats()
        tick = _tick(instance, res)
        assert tick.run_requests == []
        calls = _calls(handle)
        assert calls["sale.order.search"] == 1  # February only: nothing staged in March or April
        assert sum(calls.values()) == 1 + 1 + 3 + 1  # version, authenticate, counts, one id search


def test_batches_follow_the_cursor_and_start_over():
    keys = [f"empresa-{i}" for i in (3, 1, 2, 5, 4)]
    assert next_batch(keys, None, 2) == ["empresa-1", "empresa-2"]
    assert next_batch(keys, "empresa-2", 2) == ["empresa-3", "empresa-4"]
    assert next_batch(keys, "empresa-4", 2) == ["empresa-5"]
    assert next_batch(keys, "empresa-5", 2) == ["empresa-1", "empresa-2"]
