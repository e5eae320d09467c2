"""The carteira graph end to end: simulator orders → Dagster → carteira_principal, decisions,
diffs and alerts in the real PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from dagster import instance_for_test
from sqlalchemy import text

from sync_pipeline.partitions import SyncPartition
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import (
    START,
    empreendimentos,
    partition_metadata,
    resources,
    sync_partition,
    sync_range,
    table_rows,
)

DAY = date(2025, 1, 6)


def _setup_orders(handle):
    """Seed 05's carteira: PED001 (PROD001 100, PROD002 50), PED002 (PROD001 200)."""
    handle.sim.clock.set(datetime(2025, 1, 6, 13, 0, 0))  # 10:00 in São Paulo
    company = handle.company_ids()[0]
    partner = handle.call(
        "res.partner", "create", {"name": "Atacadão Teste", "vat": "11.222.333/0001-81", "city": "Campinas"}
    )
    products = {
        code: handle.call("product.product", "create", {"name": f"Produto {code}", "default_code": code, "weight": 1.5})
        for code in ("PROD001", "PROD002")
    }

    def order(name, lines):
        oid = handle.call(
            "sale.order",
            "create",
            {
                "name": name,
                "partner_id": partner,
                "company_id": company,
                "order_line": [
                    (0, 0, {"product_id": products[c], "product_uom_qty": q, "price_unit": 10.0}) for c, q in lines
                ],
            },
        )
        handle.call("sale.order", "action_confirm", [oid])
        return oid

    orders = {
        "PED001": order("PED001", [("PROD001", 100), ("PROD002", 50)]),
        "PED002": order("PED002", [("PROD001", 200)]),
    }
    return company, partner, products, orders, order


def _line_id(handle, order_id, product_id):
    return next(
        line["id"]
        for line in handle.sim.rows("sale.order.line")
        if line["order_id"] == order_id and line["product_id"] == product_id
    )


def test_worked_example_of_design_5_3(db, database_url, simulator):
    handle = simulator(generate_data=False)
    company, partner, products, orders, order = _setup_orders(handle)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        assert sync_partition(instance, res, emp, DAY).success
        before = {
            (r["num_pedido"], r["cod_produto"]): r["qtd_saldo_produto_pedido"]
            for r in table_rows(db, "SELECT num_pedido, cod_produto, qtd_saldo_produto_pedido FROM carteira_principal")
        }
        assert before == {("PED001", "PROD001"): 100, ("PED001", "PROD002"): 50, ("PED002", "PROD001"): 200}

        with db.begin() as conn:  # the logistics decisions taken on it
            conn.execute(
                text(
                    "INSERT INTO pre_separacao_item (num_pedido, cod_produto, qtd_selecionada_usuario)"
                    " VALUES ('PED001', 'PROD001', 30)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio) "
                    "VALUES ('LOTE-9', 'PED002', 'PROD001', 100, 'COTADO', 'total')"
                )
            )

        handle.sim.clock.set(datetime(2025, 1, 6, 18, 0, 0))
        handle.call(
            "sale.order.line",
            "write",
            [_line_id(handle, orders["PED001"], products["PROD001"])],
            {"product_uom_qty": 80},
        )
        handle.call(
            "sale.order.line",
            "write",
            [_line_id(handle, orders["PED001"], products["PROD002"])],
            {"product_uom_qty": 70},
        )
        order("PED003", [("PROD001", 30)])
        handle.call("sale.order", "action_cancel", [orders["PED002"]], context={"disable_cancel_warning": True})

        result = sync_partition(instance, res, emp, DAY)
        assert result.success
        md = partition_metadata(instance, "carteira_principal", SyncPartition(emp, DAY).key)
        (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "no_critical_alerts"]
        # open CRITICO alerts in the table (this run's one here) fail the check with ERROR: a human acts
        assert not check.passed and check.severity.value == "ERROR"
        assert check.metadata["critical_alerts"].value == 1
        assert "REMOCAO empresa-1 PED002/PROD001 lote LOTE-9" in check.metadata["alerts"].value

    after = {
        (r["num_pedido"], r["cod_produto"]): r["qtd_saldo_produto_pedido"]
        for r in table_rows(db, "SELECT num_pedido, cod_produto, qtd_saldo_produto_pedido FROM carteira_principal")
    }
    assert after == {("PED001", "PROD001"): 80, ("PED001", "PROD002"): 70, ("PED003", "PROD001"): 30}
    saldos = table_rows(
        db,
        "SELECT num_pedido, cod_produto, qtd_saldo_produto_pedido AS saldo, qtd_em_separacao AS sep,"
        " qtd_pre_separada AS pre, saldo_livre AS livre FROM carteira_saldo ORDER BY 1, 2",
    )
    assert [(r["num_pedido"], r["cod_produto"], r["saldo"], r["sep"], r["pre"], r["livre"]) for r in saldos] == [
        ("PED001", "PROD001", 80, 0, 30, 50),
        ("PED001", "PROD002", 70, 0, 0, 70),
        ("PED003", "PROD001", 30, 0, 0, 30),
    ]
    assert table_rows(db, "SELECT num_pedido, cod_produto, qtd_selecionada_usuario AS q FROM pre_separacao_item") == [
        {"num_pedido": "PED001", "cod_produto": "PROD001", "q": Decimal("30.000")}
    ]
    alerts = table_rows(
        db,
        "SELECT separacao_lote_id, num_pedido, cod_produto, tipo_alteracao, nivel, qtd_anterior, qtd_nova"
        " FROM alerta_separacao_cotada",
    )
    assert alerts == [
        {
            "separacao_lote_id": "LOTE-9",
            "num_pedido": "PED002",
            "cod_produto": "PROD001",
            "tipo_alteracao": "REMOCAO",
            "nivel": "CRITICO",
            "qtd_anterior": Decimal("100.000"),
            "qtd_nova": Decimal("0.000"),
        }
    ]
    kinds = table_rows(
        db,
        "SELECT tipo, count(*) AS n FROM carteira_diff WHERE partition_key = :pk GROUP BY tipo ORDER BY tipo",
        pk=SyncPartition(emp, DAY).key,
    )
    # first sync: three NOVO; second: PED001/PROD001 REDUCAO, PED001/PROD002 AUMENTO, PED003 NOVO,
    # PED002 REMOVIDO (cancelled)
    assert {r["tipo"]: r["n"] for r in kinds} == {"NOVO": 4, "REDUCAO": 1, "AUMENTO": 1, "REMOVIDO": 1}
    assert md["critical_alerts"] == 1 and md["diff_removido"] == 1


def _carteira(db) -> dict:
    return {
        (r["num_pedido"], r["cod_produto"]): r["qtd_saldo_produto_pedido"]
        for r in table_rows(db, "SELECT num_pedido, cod_produto, qtd_saldo_produto_pedido FROM carteira_principal")
    }


def test_nf_invoicing_a_separacao_then_cancelled(db, database_url, simulator):
    handle = simulator(generate_data=False)
    company, partner, products, orders, _ = _setup_orders(handle)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    key = SyncPartition(emp, DAY).key
    with instance_for_test() as instance:
        sync_partition(instance, res, emp, DAY)
        with db.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio)"
                    " VALUES ('LOTE-1', 'PED001', 'PROD001', 40, 'ABERTO', 'parcial')"
                )
            )
        sale_line = _line_id(handle, orders["PED001"], products["PROD001"])
        move = add_invoice(
            handle.sim,
            company,
            partner,
            [(products["PROD001"], 40, 10.0, sale_line)],
            DAY.isoformat(),
            invoice_origin="PED001",
        )
        nf = handle.sim.rows("account.move")[-1]["name"]
        assert sync_partition(instance, res, emp, DAY).success
        fat_md = partition_metadata(instance, "faturamento_produto", key)
        cart_md = partition_metadata(instance, "carteira_principal", key)

        # the separação is invoiced: counted once (as invoiced), the stock movement written
        assert table_rows(db, "SELECT numero_nf, sincronizado_nf, qtd_saldo FROM separacao") == [
            {"numero_nf": nf, "sincronizado_nf": True, "qtd_saldo": Decimal("40.000")}
        ]
        assert table_rows(
            db,
            "SELECT tipo_movimentacao, local_movimentacao, qtd_movimentacao, numero_nf, ativo"
            " FROM movimentacao_estoque",
        ) == [
            {
                "tipo_movimentacao": "FATURAMENTO",
                "local_movimentacao": "VENDA",
                "qtd_movimentacao": Decimal("-40.000"),
                "numero_nf": nf,
                "ativo": True,
            }
        ]
        assert _carteira(db)[("PED001", "PROD001")] == 60
        # saldo livre never counts the invoiced quantity twice: 100 ordered − 40 invoiced, nothing open
        assert table_rows(
            db,
            "SELECT qtd_faturada AS f, qtd_em_separacao AS sep, saldo_livre AS livre FROM carteira_saldo"
            " WHERE num_pedido = 'PED001' AND cod_produto = 'PROD001'",
        ) == [{"f": 40, "sep": 0, "livre": 60}]
        assert (fat_md["separacao_invoiced"], fat_md["movimentacao_written"]) == (1, 1)
        # invoicing is not an operational change: no diff, no alert
        assert cart_md["diffs"] == 0 and cart_md["alerts"] == 0
        assert table_rows(db, "SELECT count(*) AS n FROM alerta_separacao_cotada") == [{"n": 0}]

        # the NF is cancelled in Odoo: the separação is open again, the movement inactive
        handle.call("account.move", "button_draft", [move])
        handle.call("account.move", "button_cancel", [move])
        assert sync_partition(instance, res, emp, DAY).success
        assert table_rows(db, "SELECT numero_nf, sincronizado_nf FROM separacao") == [
            {"numero_nf": None, "sincronizado_nf": False}
        ]
        assert table_rows(db, "SELECT status_nf, ativo FROM movimentacao_estoque") == [
            {"status_nf": "CANCELADO", "ativo": False}
        ]
        assert _carteira(db)[("PED001", "PROD001")] == 100

        # posted again: invoiced again, the same movement re-activated (not duplicated)
        handle.call("account.move", "button_draft", [move])
        handle.call("account.move", "action_post", [move])
        assert sync_partition(instance, res, emp, DAY).success
        assert table_rows(db, "SELECT numero_nf, sincronizado_nf FROM separacao") == [
            {"numero_nf": nf, "sincronizado_nf": True}
        ]
        assert table_rows(db, "SELECT status_nf, ativo FROM movimentacao_estoque") == [
            {"status_nf": "FATURADO", "ativo": True}
        ]
        assert _carteira(db)[("PED001", "PROD001")] == 60


def test_rerun_writes_no_row_and_no_diff(db, database_url, simulator):
    handle = simulator(seed=9, scale=1, days=4, companies=1)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        assert sync_range(instance, res, emp, START, START + timedelta(days=3)).success
        carteira = table_rows(db, "SELECT *, xmin::text AS version FROM carteira_principal ORDER BY id")
        diffs = table_rows(db, "SELECT count(*) AS n FROM carteira_diff")
        assert carteira and diffs[0]["n"] > 0
        assert sync_range(instance, res, emp, START, START + timedelta(days=3)).success
    assert table_rows(db, "SELECT *, xmin::text AS version FROM carteira_principal ORDER BY id") == carteira
    assert table_rows(db, "SELECT count(*) AS n FROM carteira_diff") == diffs


def test_order_confirmed_another_day_moves_with_its_decisions(db, database_url, simulator):
    """Odoo's action_confirm rewrites date_order: the order moves to another partition, and its
    decisions move with it (never a REMOVIDO); a deleted quotation is REMOVIDO."""
    handle = simulator(generate_data=False)
    handle.sim.clock.set(datetime(2025, 1, 6, 13))
    company = handle.company_ids()[0]
    partner = handle.call("res.partner", "create", {"name": "Cliente", "vat": "11.222.333/0001-81"})
    product = handle.call("product.product", "create", {"name": "Produto", "default_code": "P-9", "weight": 1.0})
    quotes = [
        handle.call(
            "sale.order",
            "create",
            {
                "partner_id": partner,
                "company_id": company,
                "order_line": [(0, 0, {"product_id": product, "product_uom_qty": q})],
            },
        )
        for q in (10, 5)
    ]
    moving, deleted = (handle.sim.rows("sale.order")[i]["name"] for i in (0, 1))
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    later = date(2025, 1, 9)
    with instance_for_test() as instance:
        sync_partition(instance, res, emp, DAY)
        with db.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO pre_separacao_item (num_pedido, cod_produto, qtd_selecionada_usuario)"
                    " VALUES (:p, 'P-9', 4)"
                ),
                {"p": moving},
            )
        handle.sim.clock.set(datetime(2025, 1, 9, 14))
        handle.call("sale.order", "action_confirm", [quotes[0]])
        handle.call("sale.order", "unlink", [quotes[1]])
        # the old partition first: the order is read again by id and restaged under its new date
        assert sync_partition(instance, res, emp, DAY).success
        assert sync_partition(instance, res, emp, later).success
    rows = table_rows(
        db, "SELECT num_pedido, data_pedido, status_pedido, qtd_saldo_produto_pedido AS q FROM carteira_principal"
    )
    assert rows == [
        {"num_pedido": moving, "data_pedido": later, "status_pedido": "Pedido de venda", "q": Decimal("10.000")}
    ]
    assert table_rows(db, "SELECT qtd_selecionada_usuario AS q FROM pre_separacao_item") == [{"q": Decimal("4.000")}]
    diffs = table_rows(db, "SELECT num_pedido, tipo FROM carteira_diff ORDER BY id")
    assert diffs == [
        {"num_pedido": moving, "tipo": "NOVO"},
        {"num_pedido": deleted, "tipo": "NOVO"},
        {"num_pedido": deleted, "tipo": "REMOVIDO"},
    ]


def _bulk_orders(handle, company: int, when: datetime, n_lines: int, per_order: int = 50) -> None:
    handle.sim.clock.set(when)
    partner = handle.call("res.partner", "create", {"name": "Cliente Grande", "vat": "11.222.333/0001-81"})
    products = [
        handle.call("product.product", "create", {"name": f"Produto {i}", "default_code": f"B{when.day}-{i}"})
        for i in range(per_order)
    ]
    for start in range(0, n_lines, per_order):
        k = min(per_order, n_lines - start)
        lines = [(0, 0, {"product_id": products[j], "product_uom_qty": 1 + j % 9, "price_unit": 5.0}) for j in range(k)]
        order = handle.call("sale.order", "create", {"partner_id": partner, "company_id": company, "order_line": lines})
        handle.call("sale.order", "action_confirm", [order])


def test_statements_per_partition_do_not_grow_with_lines(db, database_url, simulator):
    handle = simulator(generate_data=False)
    company = handle.company_ids()[0]
    small, large = date(2025, 1, 7), date(2025, 1, 8)
    _bulk_orders(handle, company, datetime(2025, 1, 7, 15), 100)
    _bulk_orders(handle, company, datetime(2025, 1, 8, 15), 10_000)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        for day in (small, large):
            assert sync_partition(instance, res, emp, day).success
        md = {d: partition_metadata(instance, "carteira_principal", SyncPartition(emp, d).key) for d in (small, large)}
        staged = {
            d: partition_metadata(instance, "odoo_pedido_linha", SyncPartition(emp, d).key) for d in (small, large)
        }
    assert (md[small]["rows_inserted"], md[large]["rows_inserted"]) == (100, 10_000)
    # 12: with the query for other dates' orders this partition's NFs made stale (none here) and the
    # one that tells whether the chunk holds anything
    assert md[small]["sql_statements"] == md[large]["sql_statements"] <= 12
    assert md[small]["partitions_replanned"] == md[large]["partitions_replanned"] == 0
    assert staged[small]["sql_statements"] == staged[large]["sql_statements"]
