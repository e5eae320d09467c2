"""The simulated Odoo's models and actions, through ``execute_kw`` as a client calls them."""

import time
from datetime import date, datetime

import pytest

from sync_pipeline.simulator import errors
from sync_pipeline.simulator.brazil import cnpj_is_valid
from sync_pipeline.simulator.core import OdooSimulator, SimClock
from sync_pipeline.simulator.generator import add_invoice, generate

T0 = datetime(2025, 3, 10, 12, 0, 0)


class Client:
    def __init__(self, sim, uid=2):
        self.sim, self.uid = sim, uid

    def __call__(self, model, method, *args, **kwargs):
        return self.sim.execute_kw(self.uid, model, method, list(args), kwargs)


@pytest.fixture
def sim():
    return OdooSimulator(clock=SimClock(T0))


@pytest.fixture
def call(sim):
    return Client(sim)


@pytest.fixture
def order(call):
    """A confirmed order of 10 × product A (18 % tax) and 4 × product B (no tax)."""
    tax = call("account.tax", "create", {"name": "ICMS 18%", "amount": 18.0, "company_id": 1})
    prod_a = call(
        "product.product",
        "create",
        {
            "name": "AZEITONA 2KG",
            "default_code": "4310001",
            "list_price": 50.0,
            "weight": 2.1,
            "taxes_id": [(6, 0, [tax])],
        },
    )
    prod_b = call("product.product", "create", {"name": "PALMITO 300G", "list_price": 12.5})
    partner = call("res.partner", "create", {"name": "Mercado Central Ltda", "vat": "11.222.333/0001-81"})
    order_id = call(
        "sale.order",
        "create",
        {
            "partner_id": partner,
            "order_line": [
                (0, 0, {"product_id": prod_a, "product_uom_qty": 10}),
                (0, 0, {"product_id": prod_b, "product_uom_qty": 4}),
            ],
        },
    )
    call("sale.order", "action_confirm", [order_id])
    lines = call("sale.order", "read", [order_id], ["order_line"])[0]["order_line"]
    return dict(id=order_id, lines=lines, partner=partner, products=(prod_a, prod_b), tax=tax)


def _invoice(call, order, qty_a, qty_b=0.0, **extra):
    commands = [
        (0, 0, {"product_id": order["products"][0], "quantity": qty_a, "sale_line_ids": [(6, 0, [order["lines"][0]])]})
    ]
    if qty_b:
        commands.append(
            (
                0,
                0,
                {"product_id": order["products"][1], "quantity": qty_b, "sale_line_ids": [(6, 0, [order["lines"][1]])]},
            )
        )
    vals = dict(
        move_type="out_invoice",
        partner_id=order["partner"],
        invoice_origin="S00001",
        invoice_line_ids=commands,
        **extra,
    )
    return call("account.move", "create", vals)


def _qty(call, order):
    rows = call("sale.order.line", "read", order["lines"], ["qty_invoiced", "qty_invoiced_posted"])
    return [(r["qty_invoiced"], r["qty_invoiced_posted"]) for r in rows]


# -- values and reads ---------------------------------------------------------------------------
def test_read_returns_api_values_and_only_requested_fields(call, order):
    row = call("sale.order", "read", [order["id"]], ["name", "partner_id", "client_order_ref", "state"])[0]
    assert row == {
        "id": order["id"],
        "name": "S00001",
        "partner_id": [order["partner"], "Mercado Central Ltda"],
        "client_order_ref": False,
        "state": "sale",
    }
    products = call("product.product", "read", list(order["products"]), ["display_name", "default_code"])
    assert [p["display_name"] for p in products] == ["[4310001] AZEITONA 2KG", "PALMITO 300G"]
    assert products[1]["default_code"] is False
    line = call("sale.order.line", "read", [order["lines"][0]], ["price_subtotal", "price_total", "tax_id"])[0]
    assert (line["price_subtotal"], line["price_total"], line["tax_id"]) == (500.0, 590.0, [order["tax"]])
    assert call("sale.order", "read", [order["id"]], ["date_order"])[0]["date_order"] == "2025-03-10 12:00:00"
    with pytest.raises(ValueError, match="Invalid field 'nope' on model 'sale.order'"):
        call("sale.order", "read", [order["id"]], ["nope"])


def test_read_of_a_missing_id_raises_missing_error(call, order):
    with pytest.raises(errors.MissingError, match="does not exist"):
        call("sale.order", "read", [order["id"], 999], ["name"])


def test_search_order_offset_limit_and_count(call, order):
    for n in range(3):
        call("res.partner", "create", {"name": f"Cliente {n}"})
    ids = call("res.partner", "search", [("name", "like", "Cliente")], order="id desc", limit=2, offset=1)
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    assert call("res.partner", "search_count", [("name", "like", "Cliente")]) == 3
    rows = call(
        "res.partner", "search_read", domain=[("name", "=like", "Cliente%")], fields=["name"], order="name desc"
    )
    assert [r["name"] for r in rows] == ["Cliente 2", "Cliente 1", "Cliente 0"]
    with pytest.raises(ValueError, match="Invalid field"):
        call("res.partner", "search", [("nope", "=", 1)])


# -- x2many commands ----------------------------------------------------------------------------
def test_many2many_commands(call):
    taxes = [call("account.tax", "create", {"name": f"T{n}", "amount": n}) for n in range(3)]
    prod = call("product.product", "create", {"name": "P", "taxes_id": [(6, 0, taxes[:2])]})
    read = lambda: call("product.product", "read", [prod], ["taxes_id"])[0]["taxes_id"]  # noqa: E731
    assert read() == taxes[:2]
    call("product.product", "write", [prod], {"taxes_id": [(4, taxes[2]), (3, taxes[0])]})
    assert read() == [taxes[1], taxes[2]]
    call("product.product", "write", [prod], {"taxes_id": [(0, 0, {"name": "New", "amount": 1.0})]})
    new_tax = read()[-1]
    assert call("account.tax", "read", [new_tax], ["name"])[0]["name"] == "New"
    call("product.product", "write", [prod], {"taxes_id": [(2, new_tax)]})
    assert call("account.tax", "search", [("id", "=", new_tax)]) == []
    call("product.product", "write", [prod], {"taxes_id": [(5,)]})
    assert read() == []
    call("product.product", "write", [prod], {"taxes_id": [taxes[0], taxes[2]]})  # plain list of ids
    assert read() == [taxes[0], taxes[2]]


def test_one2many_commands(call):
    term = call(
        "account.payment.term",
        "create",
        {
            "name": "30/60",
            "line_ids": [(0, 0, {"value_amount": 50, "nb_days": 30}), (0, 0, {"value_amount": 50, "nb_days": 60})],
        },
    )
    lines = lambda: call("account.payment.term", "read", [term], ["line_ids"])[0]["line_ids"]  # noqa: E731
    first, second = lines()
    call("account.payment.term", "write", [term], {"line_ids": [(1, first, {"nb_days": 28})]})
    assert call("account.payment.term.line", "read", [first], ["nb_days"])[0]["nb_days"] == 28
    call("account.payment.term", "write", [term], {"line_ids": [(3, second)]})  # unlink from the term
    assert lines() == [first]
    assert call("account.payment.term.line", "read", [second], ["payment_id"])[0]["payment_id"] is False
    call("account.payment.term", "write", [term], {"line_ids": [(4, second)]})
    assert lines() == [first, second]
    call("account.payment.term", "write", [term], {"line_ids": [(2, first)]})
    assert call("account.payment.term.line", "search", [("id", "=", first)]) == []
    call("account.payment.term", "write", [term], {"line_ids": [(6, 0, [])]})
    assert lines() == []
    call("account.payment.term", "write", [term], {"line_ids": [(4, second), (5,)]})
    assert lines() == []


def test_order_lines_created_updated_and_removed_through_the_order(call, order):
    prod_a, prod_b = order["products"]
    draft = call(
        "sale.order",
        "create",
        {
            "partner_id": order["partner"],
            "order_line": [
                (0, 0, {"product_id": prod_a, "product_uom_qty": 1}),
                (0, 0, {"product_id": prod_b, "product_uom_qty": 2}),
            ],
        },
    )
    first, second = call("sale.order", "read", [draft], ["order_line"])[0]["order_line"]
    call("sale.order", "write", [draft], {"order_line": [(1, first, {"product_uom_qty": 3}), (2, second)]})
    row = call("sale.order", "read", [draft], ["order_line", "amount_untaxed", "amount_total"])[0]
    assert row["order_line"] == [first] and (row["amount_untaxed"], row["amount_total"]) == (150.0, 177.0)


# -- write_date ---------------------------------------------------------------------------------
def test_write_date_moves_on_write_and_on_actions(sim, call, order):
    wd = lambda model, i: call(model, "read", [i], ["write_date"])[0]["write_date"]  # noqa: E731
    assert wd("sale.order", order["id"]) == "2025-03-10 12:00:00"
    sim.clock.advance(60)
    call("sale.order", "write", [order["id"]], {"client_order_ref": "PC-1"})
    assert wd("sale.order", order["id"]) == "2025-03-10 12:01:00"
    assert wd("sale.order.line", order["lines"][0]) == "2025-03-10 12:00:00"  # untouched
    sim.clock.advance(60)
    call("sale.order", "action_cancel", [order["id"]], context={"disable_cancel_warning": True})
    assert wd("sale.order.line", order["lines"][0]) == "2025-03-10 12:02:00"  # state is related
    rows = call("sale.order.line", "search_read", [("order_id", "=", order["id"])], ["state"])
    assert {r["state"] for r in rows} == {"cancel"}
    found = call("sale.order.line", "search", [("write_date", ">", "2025-03-10 12:01:00")])
    assert found == sorted(order["lines"])


# -- invoices -----------------------------------------------------------------------------------
def test_action_post_numbers_sets_invoice_date_and_recomputes_sale_lines(sim, call, order):
    move = _invoice(call, order, 4, 2)
    head = call(
        "account.move",
        "read",
        [move],
        ["name", "state", "invoice_date", "date", "display_name", "amount_untaxed", "amount_tax", "amount_total"],
    )[0]
    assert (head["name"], head["state"], head["invoice_date"]) == ("/", "draft", False)
    assert head["display_name"] == f"Draft Invoice (* {move})"
    assert (head["amount_untaxed"], head["amount_tax"], head["amount_total"]) == (225.0, 36.0, 261.0)
    assert _qty(call, order) == [(4.0, 0.0), (2.0, 0.0)]  # Odoo counts non-cancelled invoices
    sim.clock.advance(3600)
    assert call("account.move", "action_post", [move]) is False
    head = call(
        "account.move",
        "read",
        [move],
        ["name", "state", "invoice_date", "date", "payment_state", "amount_residual", "invoice_date_due"],
    )[0]
    assert head == {
        "id": move,
        "name": "INV/2025/00001",
        "state": "posted",
        "invoice_date": "2025-03-10",
        "date": "2025-03-10",
        "payment_state": "not_paid",
        "amount_residual": 261.0,
        "invoice_date_due": "2025-03-10",
    }
    assert _qty(call, order) == [(4.0, 4.0), (2.0, 2.0)]
    lines = call("sale.order.line", "read", order["lines"], ["write_date", "invoice_lines", "invoice_status"])
    assert {ln["write_date"] for ln in lines} == {"2025-03-10 13:00:00"}
    assert call("sale.order", "read", [order["id"]], ["write_date"])[0]["write_date"] == "2025-03-10 13:00:00"
    assert call("sale.order", "read", [order["id"]], ["invoice_ids"])[0]["invoice_ids"] == [move]
    items = call(
        "account.move.line",
        "search_read",
        [("move_id", "=", move)],
        ["display_type", "balance", "price_total", "account_type", "parent_state"],
        order="id",
    )
    assert [(i["display_type"], i["balance"]) for i in items] == [
        ("product", -200.0),
        ("product", -25.0),
        ("tax", -36.0),
        ("payment_term", 261.0),
    ]
    assert items[0]["price_total"] == 236.0 and items[3]["account_type"] == "asset_receivable"
    assert {i["parent_state"] for i in items} == {"posted"}
    second = _invoice(call, order, 6, invoice_date="2025-03-11")
    call("account.move", "action_post", [second])
    assert call("account.move", "read", [second], ["name"])[0]["name"] == "INV/2025/00002"
    statuses = call("sale.order.line", "read", order["lines"], ["invoice_status"])
    assert [s["invoice_status"] for s in statuses] == ["invoiced", "to invoice"]
    with pytest.raises(errors.UserError, match="already posted"):
        call("account.move", "action_post", [second])


def test_numbers_are_per_company_journal(call):
    other = call("res.company", "create", {"name": "Filial"})
    partner = call("res.partner", "create", {"name": "C"})
    prod = call("product.product", "create", {"name": "P", "list_price": 1.0})
    first = add_invoice(call.sim, 1, partner, [(prod, 1, 1.0, None)], "2025-03-01")
    second = add_invoice(call.sim, other, partner, [(prod, 1, 1.0, None)], "2025-03-01")
    third = add_invoice(call.sim, 1, partner, [(prod, 1, 1.0, None)], "2025-03-02")
    names = [r["name"] for r in call("account.move", "read", [first, second, third], ["name"])]
    assert names == ["INV/2025/00001", "INV/2025/00001", "INV/2025/00002"]  # as a real Odoo numbers them


def test_button_draft_and_button_cancel(sim, call, order):
    move = _invoice(call, order, 4)
    call("account.move", "action_post", [move])
    with pytest.raises(errors.UserError, match="Only draft journal entries can be cancelled"):
        call("account.move", "button_cancel", [move])
    assert call("account.move", "button_draft", [move]) is None
    assert call("account.move", "button_cancel", [move]) is None
    head = call("account.move", "read", [move], ["state", "name"])[0]
    assert (head["state"], head["name"]) == ("cancel", "INV/2025/00001")  # the number is kept
    assert _qty(call, order)[0] == (0.0, 0.0)
    call("account.move", "button_draft", [move])
    call("account.move", "action_post", [move])  # posted again: same number
    assert call("account.move", "read", [move], ["name", "state"])[0]["name"] == "INV/2025/00001"
    assert _qty(call, order)[0] == (4.0, 4.0)
    with pytest.raises(errors.UserError):
        call("account.move", "write", [move], {"invoice_line_ids": [(0, 0, {"product_id": order["products"][0]})]})


def test_refund_lowers_qty_invoiced_and_reverses_the_invoice(call, order):
    move = _invoice(call, order, 10, 4)
    call("account.move", "action_post", [move])
    partial = call(
        "account.move",
        "create",
        {
            "move_type": "out_refund",
            "partner_id": order["partner"],
            "reversed_entry_id": move,
            "invoice_line_ids": [
                (
                    0,
                    0,
                    {"product_id": order["products"][1], "quantity": 1, "sale_line_ids": [(6, 0, [order["lines"][1]])]},
                )
            ],
        },
    )
    call("account.move", "action_post", [partial])
    assert _qty(call, order) == [(10.0, 10.0), (3.0, 3.0)]
    head = call("account.move", "read", [move], ["payment_state", "amount_residual", "amount_total"])[0]
    assert (head["payment_state"], head["amount_residual"]) == ("partial", head["amount_total"] - 12.5)
    assert call("account.move", "read", [partial], ["name"])[0]["name"] == "RINV/2025/00001"
    rest = call(
        "account.move",
        "create",
        {
            "move_type": "out_refund",
            "partner_id": order["partner"],
            "reversed_entry_id": move,
            "invoice_line_ids": [
                (
                    0,
                    0,
                    {
                        "product_id": order["products"][0],
                        "quantity": 10,
                        "sale_line_ids": [(6, 0, [order["lines"][0]])],
                    },
                ),
                (
                    0,
                    0,
                    {"product_id": order["products"][1], "quantity": 3, "sale_line_ids": [(6, 0, [order["lines"][1]])]},
                ),
            ],
        },
    )
    call("account.move", "action_post", [rest])
    assert _qty(call, order) == [(0.0, 0.0), (0.0, 0.0)]
    head = call("account.move", "read", [move], ["payment_state", "amount_residual"])[0]
    assert (head["payment_state"], head["amount_residual"]) == ("reversed", 0.0)
    call("account.move", "button_draft", [rest])  # unreconciles
    assert call("account.move", "read", [move], ["payment_state"])[0]["payment_state"] == "partial"


def test_action_cancel_returns_the_wizard_unless_the_context_disables_it(call, order):
    result = call("sale.order", "action_cancel", [order["id"]])
    assert result["type"] == "ir.actions.act_window" and result["res_model"] == "sale.order.cancel"
    assert call("sale.order", "read", [order["id"]], ["state"])[0]["state"] == "sale"
    draft_invoice = _invoice(call, order, 1)
    assert call("sale.order", "action_cancel", [order["id"]], context={"disable_cancel_warning": True}) is True
    assert call("sale.order", "read", [order["id"]], ["state"])[0]["state"] == "cancel"
    assert call("account.move", "read", [draft_invoice], ["state"])[0]["state"] == "cancel"
    call("sale.order", "action_draft", [order["id"]])
    assert call("sale.order", "read", [order["id"]], ["state"])[0]["state"] == "draft"


def test_unlink_rules(call, order):
    with pytest.raises(errors.UserError, match="cancel it"):
        call("sale.order", "unlink", [order["id"]])
    with pytest.raises(errors.UserError, match="confirmed"):
        call("sale.order.line", "unlink", [order["lines"][0]])
    move = _invoice(call, order, 1)
    call("account.move", "action_post", [move])
    with pytest.raises(errors.UserError, match="posted"):
        call("account.move", "unlink", [move])
    call("account.move", "button_draft", [move])
    assert call("account.move", "unlink", [move]) is True
    assert call("account.move.line", "search_count", [("move_id", "=", move)]) == 0
    assert _qty(call, order)[0] == (0.0, 0.0)
    call("sale.order", "action_cancel", [order["id"]], context={"disable_cancel_warning": True})
    assert call("sale.order", "unlink", [order["id"]]) is True
    assert call("sale.order.line", "search", [("id", "in", order["lines"])]) == []


def test_quantity_of_a_confirmed_order_line_can_change(call, order):
    call("sale.order.line", "write", [order["lines"][0]], {"product_uom_qty": 7})
    row = call("sale.order", "read", [order["id"]], ["amount_untaxed", "order_line"])[0]
    assert row["amount_untaxed"] == 7 * 50.0 + 4 * 12.5


def test_read_group_sums_counts_and_refuses_unstored_fields(call, order):
    first = _invoice(call, order, 4, 4, invoice_date="2025-02-20")
    second = _invoice(call, order, 6, invoice_date="2025-03-05")
    call("account.move", "action_post", [first, second])
    groups = call(
        "account.move",
        "read_group",
        [("move_type", "=", "out_invoice")],
        ["amount_total:sum", "amount_untaxed"],
        ["invoice_date:month"],
    )
    assert [
        (g["invoice_date:month"], g["invoice_date_count"], g["amount_total"], g["amount_untaxed"]) for g in groups
    ] == [("February 2025", 1, 286.0, 250.0), ("March 2025", 1, 354.0, 300.0)]
    assert groups[0]["__range"] == {"invoice_date:month": {"from": "2025-02-01", "to": "2025-03-01"}}
    assert call("account.move", "search", groups[1]["__domain"]) == [second]
    by_type = call(
        "account.move.line",
        "read_group",
        [("parent_state", "=", "posted")],
        ["balance:sum", "quantity:sum"],
        ["display_type", "move_id"],
        lazy=False,
    )
    product = [g for g in by_type if g["display_type"] == "product"]
    assert [(g["move_id"][0], g["__count"], g["quantity"]) for g in product] == [(second, 1, 6.0), (first, 2, 8.0)]
    with pytest.raises(ValueError, match="account_type"):
        call("account.move.line", "read_group", [], ["balance:sum"], ["account_type"])
    receivable = call("account.move.line", "search_count", [("account_type", "=", "asset_receivable")])
    assert receivable == 2  # not stored, but searchable


def test_access_and_dispatch_errors(sim, call):
    portal = Client(sim, sim.authenticate("odoo", "portal", "portal"))
    assert sim.authenticate("odoo", "admin", "admin") == 2 == sim.uid_for_api_key("admin")
    assert sim.authenticate("other", "admin", "admin") is False
    assert sim.authenticate("odoo", "admin", "wrong") is False
    with pytest.raises(errors.AccessError):
        portal("account.move", "search_read", [], fields=["name"])
    assert portal("product.product", "search", []) == []
    with pytest.raises(errors.UnknownModel):
        call("no.such.model", "search", [])
    with pytest.raises(errors.UnknownMethod):
        call("sale.order", "no_such_method", [])
    with pytest.raises(errors.AccessError, match="Private methods"):
        call("sale.order", "_private", [])
    with pytest.raises(errors.AccessDenied):
        sim.execute_kw(99, "sale.order", "search", [[]])


# -- generator ----------------------------------------------------------------------------------
def _snapshot(sim):
    return {
        model: sim.rows(model)
        for model in (
            "res.company",
            "res.partner",
            "sale.order",
            "sale.order.line",
            "account.move",
            "account.move.line",
        )
    }


def test_generator_is_deterministic_and_consistent():
    first, second = OdooSimulator(), OdooSimulator()
    counts = generate(first, seed=7, scale=0.5, days=20)
    assert generate(second, seed=7, scale=0.5, days=20)["orders"] == counts["orders"]
    assert _snapshot(first) == _snapshot(second)
    third = OdooSimulator()
    generate(third, seed=8, scale=0.5, days=20)
    assert _snapshot(third) != _snapshot(first)
    companies = first.rows("res.company")
    assert companies[0]["name"] == "Nacom Goya - Matriz" and all(cnpj_is_valid(c["vat"]) for c in companies)
    assert {p["default_code"] for p in first.rows("product.product")} >= {None}
    moves = first.rows("account.move")
    assert {m["state"] for m in moves} == {"draft", "posted", "cancel"}
    assert any(m["move_type"] == "out_refund" and m["reversed_entry_id"] for m in moves)
    # qty_invoiced equals Σ non-cancelled invoice lines − refund lines, as the actions computed it
    by_id = {m["id"]: m for m in moves}
    expected: dict[int, float] = {}
    for aml in first.rows("account.move.line"):
        move = by_id[aml["move_id"]]
        sign = {"out_invoice": 1, "out_refund": -1}.get(move["move_type"], 0)
        for sol in aml["sale_line_ids"]:
            if move["state"] != "cancel":
                expected[sol] = expected.get(sol, 0.0) + sign * aml["quantity"]
    for sol in first.rows("sale.order.line"):
        assert sol["qty_invoiced"] == pytest.approx(expected.get(sol["id"], 0.0))


@pytest.fixture(scope="module")
def big():
    sim = OdooSimulator(clock=SimClock(datetime(2025, 1, 1)))
    started = time.perf_counter()
    counts = generate(sim, seed=3, scale=10, start_date=date(2025, 1, 1), days=60)
    return sim, counts, time.perf_counter() - started


def test_generator_scale_reaches_20k_invoice_lines(big):
    sim, counts, seconds = big
    assert counts["invoice_lines"] >= 20_000
    print(f"generated {counts['invoice_lines']} invoice lines in {seconds:.1f}s")


def test_search_read_on_a_large_table(big):
    sim, _counts, _seconds = big
    call = Client(sim)
    ids = sorted(sim.store["account.move.line"].records)[-1000:]
    started = time.perf_counter()
    rows = call(
        "account.move.line",
        "search_read",
        [("id", "in", ids)],
        ["move_id", "product_id", "quantity", "price_total", "write_date"],
        order="id",
    )
    by_ids = time.perf_counter() - started
    assert [r["id"] for r in rows] == ids
    started = time.perf_counter()
    rows = call(
        "account.move.line",
        "search_read",
        [("move_id.write_date", ">=", "2025-02-25 00:00:00"), ("display_type", "=", "product")],
        ["move_id", "quantity"],
        limit=1000,
        order="id",
    )
    dotted = time.perf_counter() - started
    assert rows
    # speed is a benchmark's business, not a test's: printed here for the curious
    print(f"1000 rows by id in {by_ids:.3f}s, dotted domain in {dotted:.3f}s")
    assert len(rows) == 1000
