"""The asset checks through real Dagster runs (simulator → PostgreSQL): each reports the tables as
they stand, whichever run wrote the rows, with the severity that says who must act."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from dagster import AssetCheckSeverity, build_asset_check_context, instance_for_test
from sqlalchemy import text

from sync_pipeline.db.checks import acknowledge_alerts
from sync_pipeline.domain.values import RULE_AMBIGUOUS_NUMBER
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.resources.odoo import OdooResource
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


# --- the README's list of checks is the code's --------------------------------------------------------
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_checks() -> dict[str, tuple[str, str]]:
    """``- `name` (on `asset`, SEVERITY)`` items of the README's *Asset checks* paragraph."""
    text_ = README.read_text()
    section = text_[text_.index("- **Asset checks**") : text_.index("- **Automation → sensors**")]
    found = re.findall(r"^  - `(\w+)` \(on `(\w+)`, (ERROR|WARN)\)", section, re.M)
    return {name: (asset, severity) for name, asset, severity in found}


def test_every_check_fails_with_the_severity_the_readme_gives_it(db, database_url, simulator):
    """Each check made to fail on rows in the tables (none written by a run): its result has the
    README's severity, its asset is the README's, its description says it (ERROR: "Fails (ERROR)",
    WARN: "Warns"), and the README lists every check of the definitions and no other."""
    from sync_pipeline.checks import (
        carteira_matches_odoo,
        no_ambiguous_order_numbers,
        no_critical_alerts,
        no_rejected_invoice_lines,
        relatorio_matches_lines,
    )
    from sync_pipeline.definitions import ASSET_CHECKS

    handle = simulator(generate_data=False)
    res = resources(handle, database_url)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alerta_separacao_cotada (nivel, num_pedido, cod_produto, tipo_alteracao, reconhecido) "
                "VALUES ('CRITICO', 'PED9', 'P9', 'REMOCAO', false)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO sync_rejeitado (model, odoo_id, rule, message, asset, partition_key, run_id, payload) "
                "VALUES ('account.move.line', 41, 'sem_produto', 'no product', 'odoo_fatura_linha', 'k', 'r', NULL), "
                "('sale.order', 42, :ambiguous, 'two empreendimentos', 'carteira_principal', 'k', 'r', "
                "CAST(:payload AS jsonb))"
            ),
            {"ambiguous": RULE_AMBIGUOUS_NUMBER, "payload": '{"empreendimento": "empresa-1", "num_pedido": "PED9"}'},
        )
        conn.execute(
            text(
                "INSERT INTO relatorio_faturamento_importado "
                "(numero_nf, odoo_move_id, empreendimento, valor_total, peso_bruto, status_nf) "
                "VALUES ('NF9', 9, 'empresa-1', 100, 0, 'Lançado')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO faturamento_produto (empreendimento, numero_nf, cod_produto, qtd_produto_faturado, "
                "valor_produto_faturado, status_nf, odoo_move_id) "
                "VALUES ('empresa-1', 'NF9', 'P9', 1, 90, 'Lançado', 9)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO carteira_principal (empreendimento, num_pedido, cod_produto, qtd_produto_pedido, "
                "qtd_saldo_produto_pedido) VALUES ('empresa-1', 'PED9', 'P9', 5, 5)"
            )
        )

    def run(check, **resources_):
        return check(build_asset_check_context(resources=resources_))

    postgres = res["postgres"]
    unreachable = OdooResource(url="http://127.0.0.1:9", db="odoo", username="admin", api_key="admin", max_retries=0)
    results = {
        "no_critical_alerts": [run(no_critical_alerts, postgres=postgres)],
        "no_rejected_invoice_lines": [run(no_rejected_invoice_lines, postgres=postgres)],
        "relatorio_matches_lines": [run(relatorio_matches_lines, postgres=postgres)],
        "no_ambiguous_order_numbers": [run(no_ambiguous_order_numbers, postgres=postgres)],
        # a line no staged Odoo line backs: a wrong carteira
        "carteira_matches_odoo": [run(carteira_matches_odoo, postgres=postgres, odoo=res["odoo"])],
    }
    # once an Odoo line backs it, Odoo not answering the comparison: a look, not a wrong carteira
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO odoo_pedido_linha (odoo_line_id, odoo_order_id, empreendimento, partition_date, "
                "num_pedido, order_state, cod_produto, qtd_produto_pedido) "
                "VALUES (777, 77, 'empresa-1', '2025-01-06', 'PED9', 'sale', 'P9', 5)"
            )
        )
    results["carteira_matches_odoo"].append(run(carteira_matches_odoo, postgres=postgres, odoo=unreachable))
    assert all(not r.passed for found in results.values() for r in found), results

    readme = _readme_checks()
    specs = {spec.name: spec for check in ASSET_CHECKS for spec in check.check_specs}
    assert set(readme) == set(specs) == set(results)
    for name, (asset, severity) in readme.items():
        assert specs[name].asset_key.to_user_string() == asset, name
        assert results[name][0].severity == AssetCheckSeverity[severity], name
        description = specs[name].description or ""
        assert description.startswith("Fails (ERROR)" if severity == "ERROR" else "Warns"), (name, description)
    odoo_down = results["carteira_matches_odoo"][1]
    assert odoo_down.severity == AssetCheckSeverity.WARN and "could not compare" in odoo_down.description
    assert "Odoo\n    not answering the comparison is a WARN failure" in README.read_text()
