"""The simulator behaves as a real Odoo 17 / 19 does for what the sync reads: invoice numbers per
company, the invoicing wizard (sale.advance.payment.inv) and the credit note wizard
(account.move.reversal), future-dated invoices, qty_invoiced, and Odoo 19's renamed fields,
formatted_read_group and JSON-2 errors. Every call goes over HTTP (XML-RPC, JSON-2) to a real server."""

from __future__ import annotations

import xmlrpc.client
from collections import Counter
from datetime import datetime

import pytest
import requests

from sync_pipeline.simulator.core import OdooSimulator, SimClock
from sync_pipeline.simulator.generator import REFUND_REASONS, generate
from sync_pipeline.simulator.server import SimulatorServer

T0 = datetime(2025, 3, 10, 15, 0, 0)  # UTC; noon in São Paulo
TODAY = "2025-03-10"
DB, KEY = "odoo", "admin"
NONE_FAULT = "cannot marshal None unless allow_none is enabled"


class Odoo:
    """A client of one running simulator, over XML-RPC (JSON-2 for what only it answers)."""

    def __init__(self, sim: OdooSimulator, server: SimulatorServer):
        self.sim, self.server = sim, server
        self.proxy = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/object")

    def __call__(self, model, method, *args, **kwargs):
        return self.proxy.execute_kw(DB, 2, KEY, model, method, list(args), kwargs)

    def void(self, model, method, ids):
        """A method answering None: committed, then the XML-RPC marshaller's fault (as Odoo 17)."""
        with pytest.raises(xmlrpc.client.Fault, match=NONE_FAULT):
            self(model, method, ids)

    def json2(self, model, method, key=KEY, **named):
        response = requests.post(
            f"{self.server.url}/json/2/{model}/{method}",
            json=named,
            headers={"Authorization": f"bearer {key}", "X-Odoo-Database": DB},
        )
        return response.status_code, response.json()

    def read(self, model, ids, fields):
        return self(model, "read", ids, fields)

    def one(self, model, rec_id, fields):
        row = self(model, "read", [rec_id], fields)[0]
        row.pop("id")
        return row


def _serve(**options):
    sim = OdooSimulator(clock=SimClock(T0), **options)
    server = SimulatorServer(sim).start()
    return Odoo(sim, server)


@pytest.fixture
def odoo():
    client = _serve()
    yield client
    client.server.stop()


@pytest.fixture
def odoo19():
    client = _serve(version="19.0")
    yield client
    client.server.stop()


def _masters(odoo):
    """Company 2 (Filial), an 18 % tax of company 1, products A (taxed, 50.00) and B (12.50) and
    three customers."""
    filial = odoo("res.company", "create", {"name": "Filial"})
    tax = odoo("account.tax", "create", {"name": "ICMS 18%", "amount": 18.0, "company_id": 1})
    prod_a = odoo(
        "product.product",
        "create",
        {"name": "AZEITONA 2KG", "default_code": "4310001", "list_price": 50.0, "taxes_id": [(6, 0, [tax])]},
    )
    prod_b = odoo("product.product", "create", {"name": "PALMITO 300G", "list_price": 12.5})
    customers = [odoo("res.partner", "create", {"name": name}) for name in ("Mercado Central", "Padaria Sol")]
    return dict(filial=filial, tax=tax, a=prod_a, b=prod_b, c1=customers[0], c2=customers[1])


def _order(odoo, partner, lines, company=1, confirm=True, **extra):
    vals = dict(partner_id=partner, company_id=company, **extra)
    vals["order_line"] = [(0, 0, {"product_id": p, "product_uom_qty": q}) for p, q in lines]
    order = odoo("sale.order", "create", vals)
    if confirm:
        odoo.sim.clock.advance(60)  # action_confirm stamps date_order: later orders sort first
        odoo("sale.order", "action_confirm", [order])
    return order


def _order_lines(odoo, order):
    return odoo.one("sale.order", order, ["order_line"])["order_line"]


def _qty(odoo, line_ids):
    return [r["qty_invoiced"] for r in odoo.read("sale.order.line", line_ids, ["qty_invoiced"])]


def _wizard_invoice(odoo, orders, **vals):
    context = {"active_model": "sale.order", "active_ids": orders}
    wizard = odoo(
        "sale.advance.payment.inv", "create", {"advance_payment_method": "delivered", **vals}, context=context
    )
    return wizard, odoo("sale.advance.payment.inv", "create_invoices", [wizard], context=context)


def _product_lines(odoo, move):
    return odoo(
        "account.move.line",
        "search_read",
        [("move_id", "=", move), ("display_type", "=", "product")],
        ["product_id", "name", "quantity", "price_unit", "tax_ids", "sale_line_ids", "sequence", "price_total"],
        order="id",
    )


def _post(odoo, move):
    assert odoo("account.move", "action_post", [move]) is False


def _reversal(odoo, moves, **vals):
    context = {"active_model": "account.move", "active_ids": moves}
    return odoo("account.move.reversal", "create", {"move_ids": [(6, 0, moves)], **vals}, context=context)


# -- invoice and order numbers ----------------------------------------------------------------------
def test_every_company_numbers_its_invoices_and_credit_notes_from_one(odoo):
    m = _masters(odoo)
    journals = odoo("account.journal", "search_read", [], ["code", "type", "company_id"], order="id")
    assert [(j["company_id"][0], j["type"], j["code"]) for j in journals] == [
        (company, jtype, code)
        for company in (1, m["filial"])
        for jtype, code in (("sale", "INV"), ("purchase", "BILL"), ("bank", "BNK1"), ("general", "MISC"))
    ]

    def invoice(company, move_type="out_invoice", **extra):
        line = {"product_id": m["b"], "quantity": 1, "price_unit": 10.0}
        vals = dict(move_type=move_type, partner_id=m["c1"], company_id=company, invoice_line_ids=[(0, 0, line)])
        move = odoo("account.move", "create", dict(vals, **extra))
        _post(odoo, move)
        return odoo.one("account.move", move, ["name"])["name"], move

    assert invoice(1)[0] == "INV/2025/00001"
    assert invoice(m["filial"])[0] == "INV/2025/00001"  # the same number in another company
    name, first_of_filial = invoice(m["filial"])
    assert name == "INV/2025/00002"
    assert invoice(1)[0] == "INV/2025/00002"
    refund = invoice(m["filial"], "out_refund", reversed_entry_id=first_of_filial)  # made by hand
    assert refund[0] == "RINV/2025/00001"
    assert invoice(1, "out_refund")[0] == "RINV/2025/00001"
    assert invoice(1, invoice_date="2026-01-05")[0] == "INV/2026/00001"  # a year starts from one
    assert invoice(1, "in_invoice")[0] == "BILL/2025/03/0001"  # vendor bills: per month, 4 digits
    assert invoice(m["filial"], "in_invoice")[0] == "BILL/2025/03/0001"
    assert invoice(1, "in_refund")[0] == "RBILL/2025/03/0001"
    names = odoo("account.move", "search_read", [("name", "=", "INV/2025/00001")], ["company_id"], order="id")
    assert [n["company_id"][0] for n in names] == [1, m["filial"]]


@pytest.mark.parametrize(
    ("option", "expected"),
    [("shared", ["S00001", "S00002", "S00003"]), ("per_company", ["S00001", "S00001", "S00002"])],
)
def test_order_sequence_is_shared_by_default_or_per_company(option, expected):
    client = _serve(**({} if option == "shared" else {"order_sequence": option}))
    try:
        m = _masters(client)
        orders = [
            _order(client, m["c1"], [(m["b"], 1)], company=company, confirm=False)
            for company in (1, m["filial"], m["filial"])
        ]
        assert [r["name"] for r in client.read("sale.order", orders, ["name"])] == expected
        assert client.sim.order_sequence == option
    finally:
        client.server.stop()
    with pytest.raises(ValueError, match="order_sequence"):
        OdooSimulator(order_sequence="per_team")


# -- sale.advance.payment.inv ---------------------------------------------------------------------------
def test_invoicing_wizard_fields_as_odoo_17(odoo):
    fields = odoo(
        "sale.advance.payment.inv", "fields_get", attributes=["type", "relation", "selection", "required", "readonly"]
    )
    assert fields["advance_payment_method"] == {
        "type": "selection",
        "required": True,
        "readonly": False,
        "selection": [
            ["delivered", "Regular invoice"],
            ["percentage", "Down payment (percentage)"],
            ["fixed", "Down payment (fixed amount)"],
        ],
    }
    assert fields["sale_order_ids"] == {
        "type": "many2many",
        "relation": "sale.order",
        "required": False,
        "readonly": False,
    }
    assert fields["company_id"]["relation"] == "res.company" and fields["company_id"]["readonly"] is True
    assert (fields["count"]["type"], fields["count"]["readonly"]) == ("integer", True)
    assert fields["consolidated_billing"]["type"] == "boolean"
    reversal = odoo("account.move.reversal", "fields_get", attributes=["type", "relation", "required"])
    assert {name: reversal[name]["type"] for name in ("move_ids", "new_move_ids", "date", "reason", "journal_id")} == {
        "move_ids": "many2many",
        "new_move_ids": "many2many",
        "date": "date",
        "reason": "char",
        "journal_id": "many2one",
    }
    assert reversal["journal_id"]["required"] and reversal["company_id"]["required"]


def test_invoicing_wizard_makes_one_invoice_per_customer_and_company(odoo):
    m = _masters(odoo)
    first = _order(odoo, m["c1"], [(m["a"], 10), (m["b"], 4)], client_order_ref="PC-1")
    second = _order(odoo, m["c1"], [(m["a"], 3)])
    other_customer = _order(odoo, m["c2"], [(m["b"], 2)])
    other_company = _order(odoo, m["c1"], [(m["a"], 1)], company=m["filial"])
    selection = [first, second, other_customer, other_company]
    wizard, action = _wizard_invoice(odoo, selection)
    assert odoo.one(
        "sale.advance.payment.inv", wizard, ["sale_order_ids", "count", "company_id", "consolidated_billing"]
    ) == {
        "sale_order_ids": [other_company, other_customer, second, first],  # as sale.order sorts them
        "count": 4,
        "company_id": False,  # set only for one order
        "consolidated_billing": True,
    }
    moves = odoo("account.move", "search", [("move_type", "=", "out_invoice")], order="id")
    assert len(moves) == 3
    assert action == {
        "name": "Invoices",
        "type": "ir.actions.act_window",
        "res_model": "account.move",
        "view_mode": "tree,kanban,form,activity",
        "target": "current",
        "domain": [["id", "in", moves]],
        "views": [[False, "tree"], [False, "kanban"], [False, "form"], [False, "activity"]],
        "context": {"default_move_type": "out_invoice"},
    }
    heads = odoo.read(
        "account.move",
        moves,
        ["name", "state", "invoice_date", "partner_id", "company_id", "invoice_origin", "ref", "amount_total"],
    )
    assert [(h["company_id"][0], h["partner_id"][0], h["invoice_origin"], h["ref"]) for h in heads] == [
        (1, m["c1"], "S00001, S00002", "PC-1"),
        (1, m["c2"], "S00003", False),
        (m["filial"], m["c1"], "S00004", False),
    ]
    assert {(h["name"], h["state"], h["invoice_date"]) for h in heads} == {("/", "draft", False)}
    assert heads[0]["amount_total"] == 13 * 59.0 + 4 * 12.5
    first_lines, second_lines = _order_lines(odoo, first), _order_lines(odoo, second)
    # one line per order line, the later order first (as the orders sort), the two A lines apart
    assert [
        (ln["product_id"][0], ln["quantity"], ln["price_unit"], ln["tax_ids"], ln["sale_line_ids"], ln["sequence"])
        for ln in _product_lines(odoo, moves[0])
    ] == [
        (m["a"], 3.0, 50.0, [m["tax"]], [second_lines[0]], 1),
        (m["a"], 10.0, 50.0, [m["tax"]], [first_lines[0]], 2),
        (m["b"], 4.0, 12.5, [], [first_lines[1]], 3),
    ]
    assert [ln["name"] for ln in _product_lines(odoo, moves[0])] == [
        "[4310001] AZEITONA 2KG",
        "[4310001] AZEITONA 2KG",
        "PALMITO 300G",
    ]
    # a draft counts as invoiced, as Odoo's qty_invoiced does
    assert _qty(odoo, first_lines + second_lines) == [10.0, 4.0, 3.0]
    rows = odoo.read("sale.order.line", first_lines, ["qty_to_invoice", "invoice_status"])
    assert [(r["qty_to_invoice"], r["invoice_status"]) for r in rows] == [(0.0, "invoiced"), (0.0, "invoiced")]
    assert odoo.one("sale.order", first, ["invoice_ids"])["invoice_ids"] == [moves[0]]
    # nothing left to invoice
    with pytest.raises(xmlrpc.client.Fault, match="No items are available to invoice") as fault:
        _wizard_invoice(odoo, [first, second])
    assert fault.value.faultCode == 2


def test_invoicing_wizard_on_one_order_answers_its_invoice(odoo):
    m = _masters(odoo)
    order = _order(odoo, m["c2"], [(m["a"], 5)])
    line = _order_lines(odoo, order)
    odoo("sale.order.line", "write", line, {"product_uom_qty": 7})
    wizard, action = _wizard_invoice(odoo, [order])
    move = action["res_id"]
    assert action == {
        "name": "Invoices",
        "type": "ir.actions.act_window",
        "res_model": "account.move",
        "view_mode": "tree,kanban,form,activity",
        "target": "current",
        "domain": "[('move_type', '=', 'out_invoice')]",
        "views": [[False, "form"], [False, "tree"], [False, "kanban"], [False, "activity"]],
        "res_id": move,
        "context": {
            "default_move_type": "out_invoice",
            "default_partner_id": m["c2"],
            "default_partner_shipping_id": m["c2"],
            "default_invoice_payment_term_id": False,
            "default_invoice_origin": "S00001",
        },
    }
    assert odoo.one("sale.advance.payment.inv", wizard, ["company_id", "count"]) == {
        "company_id": [1, "My Company"],
        "count": 1,
    }
    lines = _product_lines(odoo, move)
    assert [(ln["quantity"], ln["sale_line_ids"], ln["sequence"]) for ln in lines] == [(7.0, line, 0)]
    _post(odoo, move)
    assert odoo.one("account.move", move, ["name", "invoice_origin", "invoice_date"]) == {
        "name": "INV/2025/00001",
        "invoice_origin": "S00001",
        "invoice_date": TODAY,
    }
    # a cancelled invoice no longer counts: the order line is to invoice again
    odoo.void("account.move", "button_draft", [move])
    odoo.void("account.move", "button_cancel", [move])
    assert _qty(odoo, line) == [0.0]
    _wizard_invoice(odoo, [order])
    assert _qty(odoo, line) == [7.0]


def test_invoicing_wizard_refuses_down_payments_and_other_records(odoo):
    m = _masters(odoo)
    order = _order(odoo, m["c1"], [(m["b"], 1)])
    for method in ("percentage", "fixed"):
        with pytest.raises(xmlrpc.client.Fault, match="Down payments") as fault:
            _wizard_invoice(odoo, [order], advance_payment_method=method)
        assert fault.value.faultCode == 2
    with pytest.raises(xmlrpc.client.Fault, match="does not exist"):
        _wizard_invoice(odoo, [order, 999])
    assert odoo("account.move", "search_count", []) == 0


def test_invoicing_wizard_without_consolidated_billing_makes_one_invoice_per_order(odoo):
    m = _masters(odoo)
    orders = [_order(odoo, m["c1"], [(m["b"], n)]) for n in (1, 2)]
    _wizard, action = _wizard_invoice(odoo, orders, consolidated_billing=False)
    moves = action["domain"][0][2]
    heads = odoo.read("account.move", moves, ["invoice_origin"])
    assert [h["invoice_origin"] for h in heads] == ["S00002", "S00001"]


# -- account.move.reversal ------------------------------------------------------------------------------
@pytest.fixture
def posted(odoo):
    """A posted invoice of an order (10 × A at 59.00 with tax, 4 × B at 12.50): total 640.00."""
    m = _masters(odoo)
    order = _order(odoo, m["c1"], [(m["a"], 10), (m["b"], 4)])
    _wizard, action = _wizard_invoice(odoo, [order])
    _post(odoo, action["res_id"])
    return dict(m, order=order, lines=_order_lines(odoo, order), move=action["res_id"])


def test_refund_moves_makes_a_draft_credit_note_of_the_invoice(odoo, posted):
    move = posted["move"]
    journal = odoo.one("account.move", move, ["journal_id"])["journal_id"][0]
    wizard = _reversal(odoo, [move], date="2025-03-12", reason="Avaria no transporte", journal_id=journal)
    assert odoo.one(
        "account.move.reversal", wizard, ["move_ids", "company_id", "journal_id", "move_type", "residual"]
    ) == {
        "move_ids": [move],
        "company_id": [1, "My Company"],
        "journal_id": [journal, "Faturas de Clientes"],
        "move_type": "out_invoice",
        "residual": 640.0,
    }
    action = odoo("account.move.reversal", "refund_moves", [wizard])
    refund = action["res_id"]
    assert action == {
        "name": "Reverse Moves",
        "type": "ir.actions.act_window",
        "res_model": "account.move",
        "view_mode": "form",
        "res_id": refund,
        "context": {"default_move_type": "out_refund"},
    }
    fields = ["name", "state", "move_type", "reversed_entry_id", "ref", "invoice_origin", "invoice_date", "date"]
    assert odoo.one("account.move", refund, fields + ["partner_id", "amount_total"]) == {
        "name": "/",
        "state": "draft",
        "move_type": "out_refund",
        "reversed_entry_id": [move, "INV/2025/00001"],
        "ref": "Reversal of: INV/2025/00001, Avaria no transporte",
        "invoice_origin": "S00001",
        "invoice_date": "2025-03-12",
        "date": "2025-03-12",
        "partner_id": [posted["c1"], "Mercado Central"],
        "amount_total": 640.0,
    }
    assert odoo.one("account.move.reversal", wizard, ["new_move_ids"])["new_move_ids"] == [refund]
    keep = ["product_id", "quantity", "price_unit", "tax_ids", "sale_line_ids"]
    assert [{k: ln[k] for k in keep} for ln in _product_lines(odoo, refund)] == [
        {k: ln[k] for k in keep} for ln in _product_lines(odoo, move)
    ]
    assert _qty(odoo, posted["lines"]) == [0.0, 0.0]  # the draft credit note counts already
    _post(odoo, refund)
    assert odoo.read("account.move", [refund, move], ["name", "payment_state", "amount_residual"]) == [
        {"id": refund, "name": "RINV/2025/00001", "payment_state": "paid", "amount_residual": 0.0},
        {"id": move, "name": "INV/2025/00001", "payment_state": "reversed", "amount_residual": 0.0},
    ]
    assert _qty(odoo, posted["lines"]) == [0.0, 0.0]
    # the refund cancelled: the invoice counts in full again
    odoo.void("account.move", "button_draft", [refund])
    odoo.void("account.move", "button_cancel", [refund])
    assert _qty(odoo, posted["lines"]) == [10.0, 4.0]
    assert odoo.one("account.move", move, ["payment_state"])["payment_state"] == "not_paid"


def test_partial_credit_note_lowers_qty_invoiced_by_the_refunded_quantity(odoo, posted):
    move = posted["move"]
    refund = odoo("account.move.reversal", "refund_moves", [_reversal(odoo, [move])])["res_id"]
    assert odoo.one("account.move", refund, ["date", "ref"]) == {"date": TODAY, "ref": "Reversal of: INV/2025/00001"}
    line_a, line_b = odoo.one("account.move", refund, ["invoice_line_ids"])["invoice_line_ids"]
    # what a client does to the draft: 2 of the 10 A, none of the B
    odoo("account.move", "write", [refund], {"invoice_line_ids": [(1, line_a, {"quantity": 2}), (2, line_b)]})
    assert _qty(odoo, posted["lines"]) == [8.0, 4.0]
    lines = _product_lines(odoo, refund)
    assert [(ln["quantity"], ln["sale_line_ids"], ln["price_total"]) for ln in lines] == [
        (2.0, [posted["lines"][0]], 118.0)
    ]
    _post(odoo, refund)
    assert odoo.read("account.move", [refund, move], ["name", "state", "payment_state", "amount_residual"]) == [
        {"id": refund, "name": "RINV/2025/00001", "state": "posted", "payment_state": "paid", "amount_residual": 0.0},
        {"id": move, "name": "INV/2025/00001", "state": "posted", "payment_state": "partial", "amount_residual": 522.0},
    ]
    assert _qty(odoo, posted["lines"]) == [8.0, 4.0]
    rows = odoo.read("sale.order.line", posted["lines"], ["qty_to_invoice", "invoice_status"])
    assert [(r["qty_to_invoice"], r["invoice_status"]) for r in rows] == [(2.0, "to invoice"), (0.0, "invoiced")]


def test_modify_moves_cancels_the_invoice_and_gives_a_draft_copy(odoo, posted):
    move = posted["move"]
    action = odoo("account.move.reversal", "modify_moves", [_reversal(odoo, [move])])
    copy = action["res_id"]
    assert action == {
        "name": "Reverse Moves",
        "type": "ir.actions.act_window",
        "res_model": "account.move",
        "view_mode": "form",
        "res_id": copy,
        "context": {"default_move_type": "out_invoice"},
    }
    reversal = odoo("account.move", "search", [("reversed_entry_id", "=", move)])
    assert len(reversal) == 1
    fields = ["name", "state", "move_type", "payment_state", "invoice_origin", "invoice_date", "date", "ref"]
    assert odoo.one("account.move", reversal[0], fields) == {
        "name": "RINV/2025/00001",
        "state": "posted",
        "move_type": "out_refund",
        "payment_state": "paid",
        "invoice_origin": "S00001",
        "invoice_date": TODAY,
        "date": TODAY,
        "ref": "Reversal of: INV/2025/00001",
    }
    assert odoo.one("account.move", move, ["payment_state", "amount_residual"]) == {
        "payment_state": "reversed",
        "amount_residual": 0.0,
    }
    assert odoo.one("account.move", copy, fields) == {
        "name": "/",
        "state": "draft",
        "move_type": "out_invoice",
        "payment_state": "not_paid",
        "invoice_origin": "S00001",
        "invoice_date": False,
        "date": TODAY,
        "ref": False,
    }
    assert [ln["sale_line_ids"] for ln in _product_lines(odoo, copy)] == [[line] for line in posted["lines"]]
    assert _qty(odoo, posted["lines"]) == [10.0, 4.0]  # 10 − 10 + 10 (the draft copy)
    _post(odoo, copy)
    assert odoo.one("account.move", copy, ["name"])["name"] == "INV/2025/00002"


def test_modify_moves_dated_ahead_leaves_the_reversal_in_draft(odoo, posted):
    """Odoo posts such a reversal on its date (auto_post 'at_date'), so it cancels nothing now."""
    move = posted["move"]
    action = odoo("account.move.reversal", "modify_moves", [_reversal(odoo, [move], date="2025-03-14")])
    reversal = odoo("account.move", "search_read", [("reversed_entry_id", "=", move)], ["state", "date"])
    assert [(r["state"], r["date"]) for r in reversal] == [("draft", "2025-03-14")]
    assert odoo.one("account.move", move, ["payment_state"])["payment_state"] == "not_paid"
    assert odoo.one("account.move", action["res_id"], ["state", "date"]) == {"state": "draft", "date": "2025-03-14"}
    assert _qty(odoo, posted["lines"]) == [10.0, 4.0]  # 10 − 10 (draft reversal) + 10 (draft copy)


def test_reversal_wizard_refuses_moves_not_posted(odoo, posted):
    odoo.void("account.move", "button_draft", [posted["move"]])
    with pytest.raises(xmlrpc.client.Fault, match="You can only reverse posted moves.") as fault:
        _reversal(odoo, [posted["move"]])
    assert fault.value.faultCode == 2
    assert odoo("account.move.reversal", "search_count", []) == 0


def test_qty_invoiced_counts_every_state_but_cancel(odoo, posted):
    """Σ invoice lines − Σ credit note lines linked by sale_line_ids, drafts included."""
    m, line_a = posted, posted["lines"][0]

    def note(move_type, qty, post=True):
        line = {"product_id": m["a"], "quantity": qty, "sale_line_ids": [(6, 0, [line_a])]}
        vals = dict(move_type=move_type, partner_id=m["c1"], invoice_line_ids=[(0, 0, line)])
        if move_type == "out_refund":
            vals["reversed_entry_id"] = m["move"]
        move = odoo("account.move", "create", vals)
        if post:
            _post(odoo, move)
        return move

    assert _qty(odoo, [line_a]) == [10.0]
    draft_refund = note("out_refund", 3, post=False)
    assert _qty(odoo, [line_a]) == [7.0]
    posted_refund = note("out_refund", 1)
    assert _qty(odoo, [line_a]) == [6.0]
    odoo.void("account.move", "button_cancel", [draft_refund])
    assert _qty(odoo, [line_a]) == [9.0]
    extra = note("out_invoice", 1)
    assert _qty(odoo, [line_a]) == [10.0]
    odoo.void("account.move", "button_draft", [extra])
    assert _qty(odoo, [line_a]) == [10.0]  # back to draft: still counts
    odoo.void("account.move", "button_cancel", [extra])
    assert _qty(odoo, [line_a]) == [9.0]
    odoo.void("account.move", "button_draft", [posted_refund])
    assert odoo("account.move", "unlink", [posted_refund]) is True
    assert _qty(odoo, [line_a]) == [10.0]


# -- future-dated invoices ------------------------------------------------------------------------------
def test_an_invoice_dated_days_ahead_posts_at_once(odoo):
    m = _masters(odoo)
    order = _order(odoo, m["c1"], [(m["b"], 2)])
    _wizard, action = _wizard_invoice(odoo, [order])
    move = action["res_id"]
    odoo("account.move", "write", [move], {"invoice_date": "2025-03-13"})  # three days after the clock's date
    _post(odoo, move)
    assert odoo.one("account.move", move, ["name", "state", "invoice_date", "date", "invoice_date_due"]) == {
        "name": "INV/2025/00001",
        "state": "posted",
        "invoice_date": "2025-03-13",
        "date": "2025-03-13",
        "invoice_date_due": "2025-03-13",
    }
    assert _qty(odoo, _order_lines(odoo, order)) == [2.0]


# -- Odoo 19 ------------------------------------------------------------------------------------------
def test_version_answers_the_configured_series(odoo, odoo19):
    for client, series in ((odoo, "17.0"), (odoo19, "19.0")):
        common = xmlrpc.client.ServerProxy(f"{client.server.url}/xmlrpc/2/common")
        version = common.version()
        assert (version["server_serie"], version["protocol_version"]) == (series, 1)
        assert version["server_version_info"] == [int(series[:2]), 0, 0, "final", 0, ""]


def test_odoo_19_sale_line_fields_are_renamed(odoo, odoo19):
    for client, present, absent in (
        (odoo, ("tax_id", "product_uom"), ("tax_ids", "product_uom_id")),
        (odoo19, ("tax_ids", "product_uom_id"), ("tax_id", "product_uom")),
    ):
        fields = client("sale.order.line", "fields_get", attributes=["type", "relation"])
        assert [fields[name] for name in present] == [
            {"type": "many2many", "relation": "account.tax"},
            {"type": "many2one", "relation": "uom.uom"},
        ]
        assert not set(absent) & set(fields)
    moves19 = odoo19("account.move", "fields_get", attributes=["type"])
    assert "reversal_move_ids" in moves19 and "reversal_move_id" not in moves19
    m = _masters(odoo19)
    order = _order(odoo19, m["c1"], [(m["a"], 2)])
    line = odoo19.one("sale.order.line", _order_lines(odoo19, order)[0], ["tax_ids", "product_uom_id", "price_total"])
    assert line == {"tax_ids": [m["tax"]], "product_uom_id": [1, "Units"], "price_total": 118.0}
    with pytest.raises(xmlrpc.client.Fault) as fault:
        odoo19("sale.order.line", "search_read", [], fields=["tax_id"])
    assert "ValueError: Invalid field 'tax_id' on model 'sale.order.line'" in fault.value.faultString
    _wizard, action = _wizard_invoice(odoo19, [order])  # the wizard copies tax_ids under 19 too
    assert [ln["tax_ids"] for ln in _product_lines(odoo19, action["res_id"])] == [[m["tax"]]]


def test_odoo_19_formatted_read_group_beside_read_group(odoo, odoo19):
    m = _masters(odoo19)
    for company, qty in ((1, 2), (1, 4), (m["filial"], 1)):
        order = _order(odoo19, m["c1"], [(m["b"], qty)], company=company)
        _wizard, action = _wizard_invoice(odoo19, [order], consolidated_billing=False)
        _post(odoo19, action["res_id"])
    status, groups = odoo19.json2(
        "account.move",
        "formatted_read_group",
        domain=[("move_type", "=", "out_invoice")],
        groupby=["company_id"],
        aggregates=["__count", "amount_total:sum"],
    )
    assert status == 200
    assert groups == [
        {
            "company_id": [m["filial"], "Filial"],
            "__count": 1,
            "amount_total:sum": 12.5,
            "__extra_domain": [["company_id", "=", m["filial"]]],
        },
        {
            "company_id": [1, "My Company"],
            "__count": 2,
            "amount_total:sum": 75.0,
            "__extra_domain": [["company_id", "=", 1]],
        },
    ]  # companies sort by name, as res.company does
    status, by_month = odoo19.json2(
        "account.move",
        "formatted_read_group",
        domain=[],
        groupby=["invoice_date:month", "company_id"],
        aggregates=["amount_total:sum"],
        having=[("amount_total:sum", ">", 20)],
        order="amount_total:sum desc",
    )
    assert (status, by_month) == (
        200,
        [
            {
                "invoice_date:month": ["2025-03-01", "March 2025"],
                "company_id": [1, "My Company"],
                "amount_total:sum": 75.0,
                "__extra_domain": [
                    "&",
                    "&",
                    ["invoice_date", ">=", "2025-03-01"],
                    ["invoice_date", "<", "2025-04-01"],
                    ["company_id", "=", 1],
                ],
            }
        ],
    )
    legacy = odoo19("account.move", "read_group", [], ["amount_total:sum"], ["company_id"])
    assert [(g["company_id"][0], g["company_id_count"], g["amount_total"]) for g in legacy] == [
        (m["filial"], 1, 12.5),
        (1, 2, 75.0),
    ]
    with pytest.raises(xmlrpc.client.Fault) as fault:
        odoo("account.move", "formatted_read_group", [], ["company_id"], ["__count"])  # not in Odoo 17
    assert "AttributeError: The method 'account.move.formatted_read_group' does not exist" in fault.value.faultString


def test_odoo_19_json2_errors_as_the_real_server(odoo19):
    expected = {
        "wrong_key": (
            ("res.partner", "search_read", "wrong", {"domain": [], "fields": ["name"]}),
            401,
            "werkzeug.exceptions.Unauthorized",
            "Invalid apikey",
            ["Invalid apikey", 401],
        ),
        "ids_on_model_method": (
            ("res.partner", "search_read", KEY, {"ids": [1], "domain": []}),
            422,
            "werkzeug.exceptions.UnprocessableEntity",
            "cannot call res.partner.search_read with ids",
            ["cannot call res.partner.search_read with ids", 422],
        ),
        "private_method": (
            ("res.partner", "_compute_display_name", KEY, {"ids": [1]}),
            403,
            "odoo.exceptions.AccessError",
            "Private methods (such as 'res.partner._compute_display_name') cannot be called remotely.",
            ["Private methods (such as 'res.partner._compute_display_name') cannot be called remotely."],
        ),
        "unknown_model": (
            ("no.such.model", "search_read", KEY, {"domain": []}),
            404,
            "werkzeug.exceptions.NotFound",
            "the model 'no.such.model' does not exist",
            ["the model 'no.such.model' does not exist", 404],
        ),
    }
    for case, ((model, method, key, named), status, name, message, arguments) in expected.items():
        got_status, body = odoo19.json2(model, method, key=key, **named)
        assert (got_status, body["name"], body["message"], body["arguments"], body["context"]) == (
            status,
            name,
            message,
            arguments,
            {},
        ), case
    assert odoo19.json2("res.company", "read", fields=["name"]) == (200, [])  # read without ids
    assert odoo19.json2("res.company", "read", ids=[1], fields=["name"]) == (200, [{"id": 1, "name": "My Company"}])


# -- the generator -------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["17.0", "19.0"])
def test_generated_data_has_wizard_invoices_credit_notes_and_per_company_numbers(version):
    sim = OdooSimulator(version=version)
    counts = generate(sim, seed=7, scale=0.5, days=10, companies=2)
    for key in ("grouped_invoices", "credit_notes_full", "credit_notes_partial", "future_dated_invoices", "refunds"):
        assert counts[key] >= 1, key
    assert counts["draft_invoices"] >= 1
    orders = {o["id"]: o for o in sim.rows("sale.order")}
    sale_lines = {ln["id"]: ln for ln in sim.rows("sale.order.line")}
    moves = {m["id"]: m for m in sim.rows("account.move")}
    amls = sim.rows("account.move.line")
    names = Counter((m["name"], m["company_id"]) for m in moves.values() if m["name"] != "/")
    assert max(names.values()) == 1  # unique within a company...
    per_name = Counter(name for name, _company in names)
    assert per_name["INV/2025/00001"] == 2  # ...and repeated across companies
    grouped = [m for m in moves.values() if m["invoice_origin"] and ", " in m["invoice_origin"]]
    assert len([m for m in grouped if m["move_type"] == "out_invoice"]) == counts["grouped_invoices"]
    for move in grouped:
        linked = {sale_lines[s]["order_id"] for a in amls if a["move_id"] == move["id"] for s in a["sale_line_ids"]}
        assert move["invoice_origin"] == ", ".join(orders[o]["name"] for o in sorted(linked))
        assert len({orders[o]["partner_id"] for o in linked}) == 1 == len({orders[o]["company_id"] for o in linked})
    refunds = [m for m in moves.values() if m["move_type"] == "out_refund"]
    assert len(refunds) == counts["credit_notes_full"] + counts["credit_notes_partial"] + counts["refunds"]
    wizard_notes = [m for m in refunds if any(m["ref"].endswith(f", {reason}") for reason in REFUND_REASONS)]
    assert len(wizard_notes) == counts["credit_notes_full"] + counts["credit_notes_partial"]
    for note in refunds:
        original = moves[note["reversed_entry_id"]]
        assert note["ref"].startswith(f"Reversal of: {original['name']}")
        assert (note["invoice_origin"], note["state"]) == (original["invoice_origin"], "posted")
    future = [m for m in moves.values() if m["invoice_date"] and m["invoice_date"] > m["create_date"][:10]]
    assert len([m for m in future if m["move_type"] == "out_invoice"]) >= counts["future_dated_invoices"]
    expected: dict[int, float] = {}
    for aml in amls:
        move = moves[aml["move_id"]]
        sign = {"out_invoice": 1, "out_refund": -1}.get(move["move_type"], 0)
        for sol in aml["sale_line_ids"]:
            if move["state"] != "cancel":
                expected[sol] = expected.get(sol, 0.0) + sign * aml["quantity"]
    assert {i: ln["qty_invoiced"] for i, ln in sale_lines.items()} == pytest.approx(
        {i: expected.get(i, 0.0) for i in sale_lines}
    )
