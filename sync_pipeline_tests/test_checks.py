"""The asset checks through real Dagster runs (simulator → PostgreSQL): each reports the tables as
they stand, whichever run wrote the rows, with the severity that says who must act."""

from __future__ import annotations

from datetime import date, datetime

from dagster import AssetCheckSeverity, instance_for_test
from sqlalchemy import text

from sync_pipeline.db.checks import acknowledge_alerts
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import empreendimentos, resources, sync_partition, sync_range, table_rows

DAY = date(2025, 1, 6)
NEXT_DAY = date(2025, 1, 7)


class Shop:
    """One company, a customer and two products in the simulator; orders confirmed at the clock's time."""

    def __init__(self, handle):
        self.handle = handle
        self.company = handle.company_ids()[0]
        self.partner = handle.call("res.partner", "create", {"name": "Atacadão Teste", "vat": "11.222.333/0001-81"})
        self.products = {
            code: handle.call("product.product", "create", {"name": f"Produto {code}", "default_code": code})
            for code in ("PROD001", "PROD002")
        }

    def order(self, name: str, lines: list[tuple[str, float]], at: datetime) -> int:
        self.handle.sim.clock.set(at)
        order_id = self.handle.call(
            "sale.order",
            "create",
            {
                "name": name,
                "partner_id": self.partner,
                "company_id": self.company,
                "order_line": [
                    (0, 0, {"product_id": self.products[c], "product_uom_qty": q, "price_unit": 10.0}) for c, q in lines
                ],
            },
        )
        self.handle.call("sale.order", "action_confirm", [order_id])
        return order_id

    def line_id(self, order_id: int, code: str) -> int:
        return next(
            line["id"]
            for line in self.handle.sim.rows("sale.order.line")
            if line["order_id"] == order_id and line["product_id"] == self.products[code]
        )


def evaluation(result, name: str):
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return found


def md(check) -> dict:
    return {k: v.value for k, v in check.metadata.items()}


def test_open_critical_alerts_of_an_earlier_run_stay_reported_until_acknowledged(db, database_url, simulator):
    handle = simulator(generate_data=False)
    shop = Shop(handle)
    shop.order("PED001", [("PROD001", 100)], at=datetime(2025, 1, 6, 13, 0))
    ped002 = shop.order("PED002", [("PROD001", 200)], at=datetime(2025, 1, 6, 13, 5))
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        first = sync_partition(instance, res, emp, DAY)
        check = evaluation(first, "no_critical_alerts")
        assert check.passed and check.severity == AssetCheckSeverity.ERROR
        assert md(check)["critical_alerts"] == 0 and check.description == "no open critical alerts"

        # logistics quoted PED002; then Odoo cancels the order: the COTADO lot is removed (CRITICO)
        with db.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio) "
                    "VALUES ('LOTE-9', 'PED002', 'PROD001', 100, 'COTADO', 'total')"
                )
            )
        handle.sim.clock.set(datetime(2025, 1, 6, 18, 0))
        handle.call("sale.order", "action_cancel", [ped002], context={"disable_cancel_warning": True})
        alerting = sync_partition(instance, res, emp, DAY)
        check = evaluation(alerting, "no_critical_alerts")
        assert not check.passed and check.severity == AssetCheckSeverity.ERROR
        (alert,) = table_rows(db, "SELECT id, run_id FROM alerta_separacao_cotada WHERE nivel = 'CRITICO'")
        assert alert["run_id"] == alerting.run_id

        # a later run of another date writes no alert, and still reports the open one
        later = sync_partition(instance, res, emp, NEXT_DAY)
        assert later.run_id != alert["run_id"]
        check = evaluation(later, "no_critical_alerts")
        assert not check.passed and check.severity == AssetCheckSeverity.ERROR
        found = md(check)
        assert found["critical_alerts"] == 1 and found[f"empreendimento:{emp}"] == 1 and found["tipo:REMOCAO"] == 1
        assert found["alerts"].startswith(f"#{alert['id']} ")  # then when it was written
        assert f"REMOCAO {emp} PED002/PROD001 lote LOTE-9: 100.000 → 0.000" in found["alerts"]
        assert "reconhecido = true" in found["acknowledge"]
        assert check.description.startswith("1 open critical alerts")

        # acknowledged: the next run's check passes, and the alert stays in the table
        assert acknowledge_alerts(db, [alert["id"]]) == [alert["id"]]
        assert acknowledge_alerts(db, [alert["id"]]) == []
        after = sync_partition(instance, res, emp, NEXT_DAY)
        check = evaluation(after, "no_critical_alerts")
        assert check.passed and md(check)["critical_alerts"] == 0 and md(check)["alerts"] == "none"
    assert table_rows(db, "SELECT reconhecido FROM alerta_separacao_cotada") == [{"reconhecido": True}]


def test_carteira_matches_odoo_and_names_a_tampered_line(db, database_url, simulator):
    handle = simulator(generate_data=False)
    shop = Shop(handle)
    ped001 = shop.order("PED001", [("PROD001", 100), ("PROD002", 50)], at=datetime(2025, 1, 6, 13, 0))
    shop.order("PED003", [("PROD001", 30)], at=datetime(2025, 1, 7, 13, 0))
    invoiced_line = shop.line_id(ped001, "PROD001")
    add_invoice(handle.sim, shop.company, shop.partner, [(shop.products["PROD001"], 40, 10.0, invoiced_line)], NEXT_DAY)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        synced = sync_range(instance, res, emp, DAY, NEXT_DAY)
        check = evaluation(synced, "carteira_matches_odoo")
        assert check.passed and check.severity == AssetCheckSeverity.ERROR, md(check)
        found = md(check)
        assert (found["open_lines"], found["compared"], found["of_this_run"], found["odoo_order_lines"]) == (3, 3, 3, 3)
        assert (found["mismatches"], found["pending_sync"], found["odoo_calls"]) == (0, 0, 2)  # login, one search_read
        for name in ("no_rejected_invoice_lines", "relatorio_matches_lines"):
            other = evaluation(synced, name)
            assert other.passed and other.severity == AssetCheckSeverity.WARN

        # Odoo changes a line after the sync (not a disagreement yet: the sensors will sync it); the
        # carteira row of another line is tampered with in PostgreSQL (a disagreement)
        handle.sim.clock.set(datetime(2025, 1, 7, 18, 0))
        handle.call("sale.order.line", "write", [shop.line_id(ped001, "PROD002")], {"product_uom_qty": 55})
        (staged,) = table_rows(db, "SELECT odoo_line_id FROM odoo_fatura_linha")
        with db.begin() as conn:
            conn.execute(
                text(
                    "UPDATE carteira_principal SET qtd_saldo_produto_pedido = 65 "
                    "WHERE num_pedido = 'PED001' AND cod_produto = 'PROD001'"
                )
            )
            # two rejects of an earlier partition: one still set aside, one whose line is staged now
            conn.execute(
                text(
                    "INSERT INTO sync_rejeitado (model, odoo_id, rule, message, asset, partition_key, run_id) VALUES "
                    "('account.move.line', 999999, 'sem_produto', 'no product', 'odoo_fatura_linha', :pk, 'r'),"
                    "('account.move.line', :staged, 'sem_produto', 'no product', 'odoo_fatura_linha', :pk, 'r')"
                ),
                {"pk": SyncPartition(emp, DAY).key, "staged": staged["odoo_line_id"]},
            )

        # a run of the other date (PED003's) does not rewrite PED001's row: the check reads the table
        later = sync_partition(instance, res, emp, NEXT_DAY)
        check = evaluation(later, "carteira_matches_odoo")
        assert not check.passed and check.severity == AssetCheckSeverity.ERROR
        found = md(check)
        assert (found["compared"], found["of_this_run"], found["mismatches"], found["pending_sync"]) == (3, 1, 1, 1)
        assert found["mismatched_lines"] == (
            f"{emp} PED001/PROD001: carteira 65.000, Odoo 60.000 (ordered − invoiced of line {invoiced_line})"
        )
        changed = shop.line_id(ped001, "PROD002")
        assert found["pending_lines"] == f"{emp} PED001/PROD002: line {changed} changed in Odoo since synced"
        assert check.description == "1 of 3 carteira lines differ from Odoo"

        rejects = evaluation(later, "no_rejected_invoice_lines")
        assert not rejects.passed and rejects.severity == AssetCheckSeverity.WARN
        # the line staged again is no longer set aside: only the other is counted and listed
        assert md(rejects)["rejects"] == 1
        assert (
            md(rejects)["latest"]
            == f"account.move.line 999999 [sem_produto] no product ({SyncPartition(emp, DAY).key})"
        )
