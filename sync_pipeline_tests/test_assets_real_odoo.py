"""Real Odoo, as it is (DESIGN §4, §5.1, §5.2): per-company numbers, one invoice for several orders,
partial and full credit notes, numbers taken over by another document, invoices dated ahead.

Data is built through the simulator's API exactly as a client does against a real server (the
``sale.advance.payment.inv`` and ``account.move.reversal`` wizards included), and Odoo's own figure
is the oracle: the simulator's ``qty_invoiced`` per order line, summed per (empreendimento, order,
product), must equal what the sync wrote — in faturamento_produto and in the carteira.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
from dagster import build_sensor_context, instance_for_test

from sync_pipeline.odoo.changes import Cursor
from sync_pipeline.partitions import SyncPartition, empreendimento_key, last_day, sync_partitions
from sync_pipeline.sensors import invoice_sensor
from sync_pipeline_tests.oracle import expected_faturamento, expected_qty_invoiced
from sync_pipeline_tests.support import (
    START,
    empreendimentos,
    partition_metadata,
    resources,
    sync_partition,
    sync_range,
    table_rows,
)


def _customer_and_products(handle, company_id: int, n: int = 3) -> tuple[int, list[int]]:
    partners = [p for p in handle.sim.rows("res.partner") if p.get("vat") and p.get("customer_rank", 1)]
    products = [p["id"] for p in handle.sim.rows("product.product") if p.get("default_code")][:n]
    return partners[company_id % len(partners)]["id"], products


def _order(handle, company_id: int, partner_id: int, lines: list[tuple[int, float]]) -> int:
    order = handle.call(
        "sale.order",
        "create",
        {
            "partner_id": partner_id,
            "company_id": company_id,
            "order_line": [(0, 0, {"product_id": p, "product_uom_qty": q}) for p, q in lines],
        },
    )
    handle.call("sale.order", "action_confirm", [order])
    return order


def _invoice_orders(handle, order_ids: list[int]) -> int:
    """Odoo's "Create invoices" wizard on a selection of orders; returns the (draft) invoice."""
    ctx = {"active_model": "sale.order", "active_ids": order_ids, "active_id": order_ids[0]}
    wizard = handle.call("sale.advance.payment.inv", "create", {"advance_payment_method": "delivered"}, context=ctx)
    handle.call("sale.advance.payment.inv", "create_invoices", [wizard], context=ctx)
    (move,) = {
        line["move_id"]
        for line in handle.sim.rows("account.move.line")
        if set(line.get("sale_line_ids") or [])
        & {sl["id"] for sl in handle.sim.rows("sale.order.line") if sl["order_id"] in order_ids}
    }
    return move


def _credit_note(handle, move_id: int, quantity: float | None = None) -> int:
    """The credit-note wizard; ``quantity`` lowers the credit note's first line before posting."""
    ctx = {"active_model": "account.move", "active_ids": [move_id]}
    wizard = handle.call(
        "account.move.reversal",
        "create",
        {"move_ids": [(6, 0, [move_id])], "reason": "devolução", "journal_id": _sale_journal(handle, move_id)},
        context=ctx,
    )
    handle.call("account.move.reversal", "refund_moves", [wizard], context=ctx)
    refund = max(m["id"] for m in handle.sim.rows("account.move") if m.get("reversed_entry_id") == move_id)
    if quantity is not None:
        first = min(
            ln["id"]
            for ln in handle.sim.rows("account.move.line")
            if ln["move_id"] == refund and ln.get("display_type") == "product"
        )
        handle.call("account.move", "write", [refund], {"invoice_line_ids": [(1, first, {"quantity": quantity})]})
    handle.call("account.move", "action_post", [refund])
    return refund


def _sale_journal(handle, move_id: int) -> int:
    return handle.sim.store["account.move"].records[move_id]["journal_id"]


def _move(handle, move_id: int) -> dict:
    return handle.call(
        "account.move", "read", [move_id], ["name", "invoice_origin", "invoice_date", "state", "company_id"]
    )[0]


def _today() -> date:
    return last_day()


def _invoiced_by_us(db, emp: str) -> dict[tuple[str, str, str], Decimal]:
    rows = table_rows(
        db,
        "SELECT empreendimento, origem, cod_produto, sum(qtd_produto_faturado) AS q FROM faturamento_produto "
        "WHERE empreendimento = :emp AND status_nf <> 'Cancelado' AND origem IS NOT NULL GROUP BY 1, 2, 3",
        emp=emp,
    )
    return {(r["empreendimento"], r["origem"], r["cod_produto"]): r["q"] for r in rows}


def _assert_odoo_figures(db, handle, emp: str, orders: list[int]) -> None:
    """Ours equals Odoo's qty_invoiced per (empreendimento, order, product), and the carteira's
    ordered and saldo equal the order lines' own figures."""
    names = {o["id"]: o["name"] for o in handle.sim.rows("sale.order") if o["id"] in orders}
    odoo = {k: v for k, v in expected_qty_invoiced(handle.sim).items() if k[0] == emp and k[1] in names.values()}
    ours = _invoiced_by_us(db, emp)
    assert {k: v for k, v in ours.items() if k[1] in names.values() and v} == {k: v for k, v in odoo.items() if v}
    saldo = {
        (r["num_pedido"], r["cod_produto"]): (r["qtd_faturada"], r["qtd_saldo_produto_pedido"])
        for r in table_rows(
            db,
            "SELECT num_pedido, cod_produto, qtd_faturada, qtd_saldo_produto_pedido FROM carteira_saldo "
            "WHERE empreendimento = :emp",
            emp=emp,
        )
    }
    products = {p["id"]: p["default_code"] for p in handle.sim.rows("product.product")}
    for line in handle.sim.rows("sale.order.line"):
        if line["order_id"] not in names:
            continue
        key = (names[line["order_id"]], products[line["product_id"]])
        left = Decimal(str(line["product_uom_qty"])) - Decimal(str(line["qty_invoiced"]))
        if left > 0:
            assert saldo[key] == (Decimal(str(line["qty_invoiced"])).quantize(Decimal("0.001")), left), key
        else:
            assert key not in saldo, key


def test_one_invoice_for_two_orders_counts_for_each(db, database_url, simulator):
    handle = simulator(seed=21, scale=0.2, days=2, companies=2)
    company = handle.company_ids()[0]
    emp = empreendimento_key(company)
    partner, (p1, p2, p3) = _customer_and_products(handle, company)
    first = _order(handle, company, partner, [(p1, 5), (p2, 4)])
    second = _order(handle, company, partner, [(p1, 3), (p3, 2)])
    move = _invoice_orders(handle, [first, second])
    handle.call("account.move", "action_post", [move])
    head = _move(handle, move)
    names = [o["name"] for o in handle.sim.rows("sale.order") if o["id"] in (first, second)]
    assert head["invoice_origin"] == ", ".join(names)  # the invoice-level field names no single order

    res = resources(handle, database_url)
    with instance_for_test() as instance:
        result = sync_partition(instance, res, emp, _today())
        assert result.success
    rows = table_rows(
        db,
        "SELECT origem, cod_produto, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m "
        "ORDER BY origem, cod_produto",
        m=move,
    )
    codes = {p["id"]: p["default_code"] for p in handle.sim.rows("product.product")}
    assert rows == sorted(
        [
            {"origem": names[0], "cod_produto": codes[p1], "qtd_produto_faturado": Decimal("5.000")},
            {"origem": names[0], "cod_produto": codes[p2], "qtd_produto_faturado": Decimal("4.000")},
            {"origem": names[1], "cod_produto": codes[p1], "qtd_produto_faturado": Decimal("3.000")},
            {"origem": names[1], "cod_produto": codes[p3], "qtd_produto_faturado": Decimal("2.000")},
        ],
        key=lambda r: (r["origem"], r["cod_produto"]),
    )
    rel = table_rows(db, "SELECT origem FROM relatorio_faturamento_importado WHERE odoo_move_id = :m", m=move)
    assert rel == [{"origem": ", ".join(sorted(names))}]
    _assert_odoo_figures(db, handle, emp, [first, second])
    # fully invoiced: neither order is open in the carteira any more
    assert table_rows(db, "SELECT 1 FROM carteira_principal WHERE num_pedido = ANY(:n)", n=names) == []


def test_partial_credit_note_leaves_the_rest_invoiced_full_one_reverts(db, database_url, simulator):
    handle = simulator(seed=22, scale=0.2, days=2, companies=1)
    company = handle.company_ids()[0]
    emp = empreendimento_key(company)
    partner, (p1, p2, _) = _customer_and_products(handle, company)
    partial_order = _order(handle, company, partner, [(p1, 5)])
    full_order = _order(handle, company, partner, [(p2, 4)])
    partial_inv = _invoice_orders(handle, [partial_order])
    full_inv = _invoice_orders(handle, [full_order])
    handle.call("account.move", "action_post", [partial_inv, full_inv])
    partial_refund = _credit_note(handle, partial_inv, quantity=2)
    full_refund = _credit_note(handle, full_inv)
    qty = {sl["order_id"]: sl["qty_invoiced"] for sl in handle.sim.rows("sale.order.line")}
    assert (qty[partial_order], qty[full_order]) == (3.0, 0.0)  # Odoo: invoices minus refunds

    res = resources(handle, database_url)
    with instance_for_test() as instance:
        assert sync_partition(instance, res, emp, _today()).success
        md = partition_metadata(instance, "faturamento_produto", SyncPartition(emp, _today()).key)
    flags = {
        r["odoo_move_id"]: (r["revertida"], r["nota_credito_id"])
        for r in table_rows(db, "SELECT odoo_move_id, revertida, nota_credito_id FROM faturamento_produto")
    }
    assert flags[partial_inv] == (False, None)  # 2 of 5 refunded: no reversal
    assert flags[full_inv] == (True, full_refund)
    refunds = table_rows(
        db,
        "SELECT odoo_move_id, move_type, status_nf, qtd_produto_faturado FROM faturamento_produto "
        "WHERE move_type = 'out_refund' ORDER BY odoo_move_id",
    )
    assert refunds == [
        {"odoo_move_id": partial_refund, "move_type": "out_refund", "status_nf": "Lançado",
         "qtd_produto_faturado": Decimal("-2.000")},
        {"odoo_move_id": full_refund, "move_type": "out_refund", "status_nf": "Lançado",
         "qtd_produto_faturado": Decimal("-4.000")},
    ]  # fmt: skip
    assert md["rows_inserted"] == 4
    _assert_odoo_figures(db, handle, emp, [partial_order, full_order])
    # the whole oracle, every column, for this partition (its documents: between 21:00 and 24:00 in
    # São Paulo Odoo's date, in UTC, is already tomorrow's, so they are picked by id, not by date)
    ours = {partial_inv, full_inv, partial_refund, full_refund}
    expected = {k: v for k, v in expected_faturamento(handle.sim).items() if v["odoo_move_id"] in ours}
    assert len(expected) == 4


def test_numbers_repeat_across_companies(db, database_url, simulator):
    handle = simulator(seed=23, scale=0.2, days=2, companies=3)
    moves = []
    for company in handle.company_ids():
        partner, (p1, _, _) = _customer_and_products(handle, company)
        order = _order(handle, company, partner, [(p1, 1)])
        move = _invoice_orders(handle, [order])
        handle.call("account.move", "action_post", [move])
        moves.append(move)
    numbers = {_move(handle, m)["name"] for m in moves}
    assert len(numbers) == 1, numbers  # a real Odoo numbers invoices per company

    res = resources(handle, database_url)
    with instance_for_test() as instance:
        for emp in empreendimentos(handle):
            assert sync_partition(instance, res, emp, _today()).success
    (nf,) = numbers
    rows = table_rows(
        db, "SELECT empreendimento, odoo_move_id FROM relatorio_faturamento_importado WHERE numero_nf = :nf", nf=nf
    )
    assert sorted(r["odoo_move_id"] for r in rows) == sorted(moves)
    assert sorted(r["empreendimento"] for r in rows) == sorted(empreendimentos(handle))


def test_a_number_taken_over_by_another_document_moves_to_it(db, database_url, simulator):
    """The same database synced from one Odoo, then from another whose numbers belong to other moves
    (the failure seen as relatorio_faturamento_importado_numero_nf_key): every partition commits and
    the tables end equal to the second source. The first source is synced in one range run per
    empreendimento (a backfill), the second partition by partition: a number moves to a document of
    a partition not synced yet."""
    first = simulator(seed=24, scale=0.5, days=4, companies=2)
    second = simulator(seed=25, scale=0.5, days=4, companies=2)
    with instance_for_test() as instance:
        res = resources(first, database_url)
        for emp in empreendimentos(first):
            assert sync_range(instance, res, emp, START, START + timedelta(days=3)).success
        res = resources(second, database_url)
        for emp in empreendimentos(second):
            for day in range(4):
                assert sync_partition(instance, res, emp, START + timedelta(days=day)).success
    old = {(v["empreendimento"], v["numero_nf"]): v["odoo_move_id"] for v in expected_faturamento(first.sim).values()}
    new = {(v["empreendimento"], v["numero_nf"]): v["odoo_move_id"] for v in expected_faturamento(second.sim).values()}
    assert any(old[k] != new[k] for k in old.keys() & new.keys())  # numbers did move to other documents
    dated = {(START + timedelta(days=d)).isoformat() for d in range(4)}
    expected = {k: v for k, v in expected_faturamento(second.sim).items() if v["data_fatura"] in dated}
    got = table_rows(
        db, "SELECT odoo_move_id, cod_produto, origem, numero_nf, qtd_produto_faturado FROM faturamento_produto"
    )
    assert {(r["odoo_move_id"], r["cod_produto"], r["origem"]) for r in got} == set(expected)
    for r in got:
        exp = expected[(r["odoo_move_id"], r["cod_produto"], r["origem"])]
        assert (r["numero_nf"], r["qtd_produto_faturado"]) == (exp["numero_nf"], exp["qtd_produto_faturado"])


def test_invoice_dated_ahead_is_synced_today_and_moves_when_its_date_comes(db, database_url, simulator):
    handle = simulator(seed=26, scale=0.2, days=2, companies=1)
    company = handle.company_ids()[0]
    emp = empreendimento_key(company)
    partner, (p1, _, _) = _customer_and_products(handle, company)
    order = _order(handle, company, partner, [(p1, 7)])
    move = _invoice_orders(handle, [order])
    today = _today()
    ahead = today + timedelta(days=3)
    handle.call("account.move", "write", [move], {"invoice_date": ahead.isoformat()})
    handle.call("account.move", "action_post", [move])
    assert _move(handle, move)["invoice_date"] == ahead.isoformat()  # Odoo posts it without a word

    res = resources(handle, database_url)
    with instance_for_test() as instance:
        assert sync_partition(instance, res, emp, _today()).success
        staged = table_rows(db, "SELECT DISTINCT partition_date FROM odoo_fatura_linha WHERE odoo_move_id = :m", m=move)
        assert staged == [{"partition_date": _today()}]  # owned by the last partition for now
        fat = table_rows(
            db, "SELECT data_fatura, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m", m=move
        )
        assert fat == [{"data_fatura": ahead, "qtd_produto_faturado": Decimal("7.000")}]
        _assert_odoo_figures(db, handle, emp, [order])

        # four days later its own partition exists: syncing it (or the old one) moves the document there
        # (the old partition is the one synced above: "four days from now" may be five days of
        # São Paulo's calendar later when UTC has already passed midnight)
        later = datetime.now(UTC) + timedelta(days=4)
        with dg.partition_loading_context(effective_dt=later):
            assert last_day() > ahead
            assert sync_partition(instance, res, emp, today).success
            staged = table_rows(
                db, "SELECT DISTINCT partition_date FROM odoo_fatura_linha WHERE odoo_move_id = :m", m=move
            )
            assert staged == [{"partition_date": ahead}]
            assert sync_partition(instance, res, emp, ahead).success
        fat = table_rows(
            db, "SELECT data_fatura, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m", m=move
        )
        assert fat == [{"data_fatura": ahead, "qtd_produto_faturado": Decimal("7.000")}]


def test_sensor_never_requests_a_partition_that_does_not_exist(db, database_url, simulator):
    handle = simulator(seed=27, scale=0.2, days=2, companies=2)
    company = handle.company_ids()[0]
    emp = empreendimento_key(company)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))
        first = invoice_sensor(build_sensor_context(instance=instance, cursor=None, resources=res))
        cursor = first.cursor
        partner, (p1, _, _) = _customer_and_products(handle, company)
        order = _order(handle, company, partner, [(p1, 2)])
        move = _invoice_orders(handle, [order])
        handle.call("account.move", "write", [move], {"invoice_date": (_today() + timedelta(days=3)).isoformat()})
        handle.call("account.move", "action_post", [move])

        tick = invoice_sensor(build_sensor_context(instance=instance, cursor=cursor, resources=res))
        keys = [r.partition_key for r in tick.run_requests if r.partition_key]
        assert SyncPartition(emp, _today()).key in keys  # the last partition owns it
        # every key requested exists (the daemon validates each request's key during the tick)
        existing = set(sync_partitions.get_partition_keys(dynamic_partitions_store=instance))
        assert keys and set(keys) <= existing
        assert Cursor.parse(tick.cursor).id == move
        # the next tick moves on: its request for the same change carries the same run key
        again = invoice_sensor(build_sensor_context(instance=instance, cursor=tick.cursor, resources=res))
        assert {r.run_key for r in again.run_requests} <= {r.run_key for r in tick.run_requests}


def test_an_order_number_in_two_empreendimentos_is_reported_and_its_decisions_left_alone(db, database_url, simulator):
    """Odoo numbering orders per company: S00001 exists in both companies. separacao has no
    empreendimento column, so the sync cannot tell whose lot it is: it reports the order (a reject
    per order and the asset check) and does not adjust the lot when one of the orders is cancelled."""
    handle = simulator(seed=28, scale=0.5, days=3, companies=2, order_sequence="per_company")
    orders = handle.sim.rows("sale.order")
    by_name: dict[str, list[dict]] = {}
    for o in orders:
        by_name.setdefault(o["name"], []).append(o)
    name, pair = next(
        (n, sorted(p, key=lambda o: o["company_id"]))
        for n, p in sorted(by_name.items())
        if len(p) == 2 and all(o["state"] == "sale" for o in p)
    )
    first = pair[0]
    line = next(sl for sl in handle.sim.rows("sale.order.line") if sl["order_id"] == first["id"])
    code = next(p["default_code"] for p in handle.sim.rows("product.product") if p["id"] == line["product_id"])
    res = resources(handle, database_url)

    def sync_orders() -> None:
        for o in pair:
            emp = empreendimento_key(o["company_id"])
            day = datetime.strptime(o["date_order"], "%Y-%m-%d %H:%M:%S") - timedelta(hours=3)
            assert sync_partition(instance, res, emp, max(day.date(), START)).success

    with instance_for_test() as instance:
        sync_orders()
        with db.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio) "
                f"VALUES ('LOTE-AMB', '{name}', '{code}', 1, 'COTADO', 'total')"
            )
        handle.call("sale.order", "action_cancel", [first["id"]], context={"disable_cancel_warning": True})
        sync_orders()
        rejects = table_rows(
            db, "SELECT model, odoo_id, message FROM sync_rejeitado WHERE rule = 'numero_ambiguo' ORDER BY odoo_id"
        )
        assert {(r["model"], r["odoo_id"]) for r in rejects} >= {("sale.order", o["id"]) for o in pair}
        assert all(name in r["message"] for r in rejects if r["odoo_id"] in {o["id"] for o in pair})
        # the COTADO lot is neither reduced nor alerted on: it might be the other company's
        assert table_rows(db, "SELECT qtd_saldo, status FROM separacao WHERE separacao_lote_id = 'LOTE-AMB'") == [
            {"qtd_saldo": Decimal("1.000"), "status": "COTADO"}
        ]
        assert table_rows(db, "SELECT 1 FROM alerta_separacao_cotada WHERE separacao_lote_id = 'LOTE-AMB'") == []
        # and the cancelled order left its empreendimento's carteira only
        emps = table_rows(db, "SELECT DISTINCT empreendimento FROM carteira_principal WHERE num_pedido = :n", n=name)
        assert empreendimento_key(first["company_id"]) not in {r["empreendimento"] for r in emps}
        from sync_pipeline.checks import no_ambiguous_order_numbers

        check = no_ambiguous_order_numbers(dg.build_asset_check_context(resources={"postgres": res["postgres"]}))
        assert not check.passed and check.metadata["ambiguous_orders"].value >= 2
