"""The simulator's finance side behaves as a real Odoo 17 / 19 for what the finance tables read:
account.payment and its entry, the Register Payment wizard (partial and full, oldest due first),
unmatched customer payments, vendor bills on several expense accounts and their payments, the
generated data set's kinds and residuals; and hand-checked values of the finance oracle. Every call
goes over HTTP (XML-RPC; JSON-RPC and JSON-2 where the protocols are compared) to a real server."""

from __future__ import annotations

import xmlrpc.client
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest
import requests

from sync_pipeline import partitions
from sync_pipeline.simulator.core import OdooSimulator, SimClock
from sync_pipeline.simulator.generator import generate
from sync_pipeline.simulator.server import SimulatorServer
from sync_pipeline_tests.oracle_financeiro import expected_financeiro

T0 = datetime(2025, 1, 10, 15, 0, 0)  # UTC; noon in São Paulo
DB, KEY = "odoo", "admin"
PAYMENT_FIELDS = ["state", "payment_type", "partner_type", "partner_id", "amount", "date", "move_id"]


class Odoo:
    """A client of one running simulator over XML-RPC (JSON-RPC and JSON-2 on request)."""

    def __init__(self, sim: OdooSimulator, server: SimulatorServer):
        self.sim, self.server = sim, server
        self.proxy = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/object", allow_none=True)

    def __call__(self, model, method, *args, **kwargs):
        return self.proxy.execute_kw(DB, 2, KEY, model, method, list(args), kwargs)

    def jsonrpc(self, model, method, *args, **kwargs):
        params = [DB, 2, KEY, model, method, list(args), kwargs]
        payload = {"jsonrpc": "2.0", "method": "call", "params": {"service": "object", "method": "execute_kw"}}
        payload["params"]["args"] = params
        reply = requests.post(f"{self.server.url}/jsonrpc", json=payload).json()
        assert "error" not in reply, reply
        return reply["result"]

    def json2(self, model, method, **named):
        response = requests.post(
            f"{self.server.url}/json/2/{model}/{method}",
            json=named,
            headers={"Authorization": f"bearer {KEY}", "X-Odoo-Database": DB},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def one(self, model, rec_id, fields):
        row = self(model, "read", [rec_id], fields)[0]
        row.pop("id")
        return row

    def at(self, day: str, hour: int = 15):
        """Move the simulator's clock (UTC) to ``day``, as the day a user does the next thing."""
        self.sim.clock.set(datetime.fromisoformat(day).replace(hour=hour))


def _serve(**options) -> Odoo:
    sim = OdooSimulator(clock=SimClock(T0), **options)
    return Odoo(sim, SimulatorServer(sim).start())


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


def _term(odoo, name, shares):
    lines = [(0, 0, {"value_amount": pct, "nb_days": days}) for pct, days in shares]
    return odoo("account.payment.term", "create", {"name": name, "line_ids": lines})


def _contract(odoo, shares=((25, 30), (25, 60), (50, 90)), price=400.0, invoice_date="2025-01-10"):
    """A posted customer invoice of ``price`` (no tax) with the given payment term; its instalments."""
    customer = odoo("res.partner", "create", {"name": "Construtora Horizonte", "customer_rank": 1})
    product = odoo("product.product", "create", {"name": "CESTA BÁSICA", "list_price": price})
    term = _term(odoo, "Contrato", shares)
    move = odoo(
        "account.move",
        "create",
        {
            "move_type": "out_invoice",
            "partner_id": customer,
            "invoice_date": invoice_date,
            "invoice_origin": "S00001",
            "invoice_payment_term_id": term,
            "invoice_line_ids": [(0, 0, {"product_id": product, "quantity": 1, "price_unit": price})],
        },
    )
    odoo("account.move", "action_post", [move])
    return move, customer, _instalments(odoo, move)


def _instalments(odoo, move):
    return odoo(
        "account.move.line",
        "search_read",
        [("move_id", "=", move), ("display_type", "=", "payment_term")],
        ["date_maturity", "balance", "amount_residual", "account_type", "write_date"],
        order="date_maturity, id",
    )


def _register(odoo, move, amount, day):
    context = {"active_model": "account.move", "active_ids": [move]}
    wizard = odoo("account.payment.register", "create", {"amount": amount, "payment_date": day}, context=context)
    action = odoo("account.payment.register", "action_create_payments", [wizard], context=context)
    assert (action["res_model"], action["type"]) == ("account.payment", "ir.actions.act_window")
    return action["res_id"]


def _partials_of(odoo, line_ids):
    return odoo(
        "account.partial.reconcile",
        "search_read",
        ["|", ("debit_move_id", "in", line_ids), ("credit_move_id", "in", line_ids)],
        ["debit_move_id", "credit_move_id", "amount", "max_date"],
        order="id",
    )


# -- fields as the real ones ---------------------------------------------------------------------------
# What real Odoo 17 and 19 servers answer (fields_get; shared/odoo-reference, DESIGN §4) for the
# account.payment fields the simulator has, and the links to a payment: type and relation.
REAL_PAYMENT_FIELDS = {
    "name": "char",
    "state": "selection",
    "payment_type": "selection",
    "partner_type": "selection",
    "partner_id": "many2one res.partner",
    "amount": "monetary",
    "date": "date",
    "journal_id": "many2one account.journal",
    "company_id": "many2one res.company",
    "payment_reference": "char",
    "move_id": "many2one account.move",
    "destination_account_id": "many2one account.account",
    "outstanding_account_id": "many2one account.account",
    "amount_company_currency_signed": "monetary",
    "is_reconciled": "boolean",
    "is_matched": "boolean",
    "reconciled_invoice_ids": "many2many account.move",
    "reconciled_bill_ids": "many2many account.move",
}
REAL = {
    "17.0": dict(
        memo="ref",
        move_link="payment_id",
        states=[["draft", "Draft"], ["posted", "Posted"], ["cancel", "Cancelled"]],
    ),
    "19.0": dict(
        memo="memo",
        move_link="origin_payment_id",
        states=[
            ["draft", "Draft"],
            ["in_process", "In Process"],
            ["paid", "Paid"],
            ["canceled", "Canceled"],
            ["rejected", "Rejected"],
        ],
    ),
}


def _kind(field):
    return field["type"] + (f" {field['relation']}" if field.get("relation") else "")


@pytest.mark.parametrize("version", ["17.0", "19.0"])
def test_payment_fields_are_the_real_odoos(version):
    real = REAL[version]
    odoo = _serve(version=version)
    try:
        ours = odoo("account.payment", "fields_get", attributes=["type", "relation", "selection"])
        expected = dict(REAL_PAYMENT_FIELDS, **{real["memo"]: "char"})
        assert {name: _kind(ours[name]) for name in expected} == expected
        assert ours["state"]["selection"] == real["states"]
        assert ours["payment_type"]["selection"] == [["outbound", "Send"], ["inbound", "Receive"]]
        assert ours["partner_type"]["selection"] == [["customer", "Customer"], ["supplier", "Vendor"]]
        assert {"ref", "memo"} - {real["memo"]} <= {"ref", "memo"} - set(ours)  # the other version's name is gone
        moves = odoo("account.move", "fields_get", attributes=["type", "relation"])
        assert _kind(moves[real["move_link"]]) == "many2one account.payment"
        assert {"payment_id", "origin_payment_id"} & set(moves) == {real["move_link"]}
        lines = odoo("account.move.line", "fields_get", attributes=["type", "relation"])
        assert _kind(lines["payment_id"]) == "many2one account.payment"
    finally:
        odoo.server.stop()


# -- Register Payment ---------------------------------------------------------------------------------
def test_register_payment_partial_then_full_reconciles_oldest_due_first(odoo):
    move, customer, lines = _contract(odoo)
    assert [(ln["date_maturity"], ln["balance"], ln["account_type"]) for ln in lines] == [
        ("2025-02-09", 100.0, "asset_receivable"),
        ("2025-03-11", 100.0, "asset_receivable"),
        ("2025-04-10", 200.0, "asset_receivable"),
    ]
    context = {"active_model": "account.move", "active_ids": [move]}
    odoo.at("2025-02-05")
    wizard = odoo("account.payment.register", "create", {"amount": 60.0}, context=context)
    defaults = odoo.one(
        "account.payment.register",
        wizard,
        ["payment_date", "amount", "source_amount", "payment_difference", "payment_type", "partner_type", "partner_id"],
    )
    assert defaults == {
        "payment_date": "2025-02-05",
        "amount": 60.0,
        "source_amount": 400.0,
        "payment_difference": 340.0,
        "payment_type": "inbound",
        "partner_type": "customer",
        "partner_id": [customer, "Construtora Horizonte"],
    }
    first = odoo("account.payment.register", "action_create_payments", [wizard], context=context)["res_id"]
    payment = odoo.one("account.payment", first, PAYMENT_FIELDS + ["ref", "is_reconciled", "reconciled_invoice_ids"])
    entry = payment.pop("move_id")[0]
    assert payment == {
        "state": "posted",
        "payment_type": "inbound",
        "partner_type": "customer",
        "partner_id": [customer, "Construtora Horizonte"],
        "amount": 60.0,
        "date": "2025-02-05",
        "ref": "INV/2025/00001",
        "is_reconciled": True,
        "reconciled_invoice_ids": [move],
    }
    head = odoo.one("account.move", entry, ["move_type", "state", "payment_id", "date"])
    assert head == {
        "move_type": "entry",
        "state": "posted",
        "payment_id": [first, head["payment_id"][1]],
        "date": "2025-02-05",
    }
    entry_lines = odoo(
        "account.move.line", "search_read", [("move_id", "=", entry)], ["account_type", "debit", "credit"], order="id"
    )
    assert [(ln["account_type"], ln["debit"], ln["credit"]) for ln in entry_lines] == [
        ("asset_cash", 60.0, 0.0),
        ("asset_receivable", 0.0, 60.0),
    ]
    after = _instalments(odoo, move)
    assert [ln["amount_residual"] for ln in after] == [40.0, 100.0, 200.0]
    assert after[0]["write_date"] == "2025-02-05 15:00:00" and after[1]["write_date"] == lines[1]["write_date"]
    invoice = odoo.one("account.move", move, ["payment_state", "amount_residual", "write_date"])
    assert invoice == {"payment_state": "partial", "amount_residual": 340.0, "write_date": "2025-02-05 15:00:00"}

    odoo.at("2025-03-20")
    second = _register(odoo, move, 340.0, "2025-03-20")
    assert [ln["amount_residual"] for ln in _instalments(odoo, move)] == [0.0, 0.0, 0.0]
    invoice = odoo.one("account.move", move, ["payment_state", "amount_residual", "write_date"])
    assert invoice == {"payment_state": "paid", "amount_residual": 0.0, "write_date": "2025-03-20 15:00:00"}
    partials = _partials_of(odoo, [ln["id"] for ln in lines])
    assert [(p["debit_move_id"][0], p["amount"], p["max_date"]) for p in partials] == [
        (lines[0]["id"], 60.0, "2025-02-05"),
        (lines[0]["id"], 40.0, "2025-03-20"),  # the oldest due first
        (lines[1]["id"], 100.0, "2025-03-20"),
        (lines[2]["id"], 200.0, "2025-03-20"),
    ]
    assert odoo.one("account.payment", second, ["is_reconciled", "amount"]) == {"is_reconciled": True, "amount": 340.0}
    with pytest.raises(xmlrpc.client.Fault, match="nothing left to pay"):
        odoo("account.payment.register", "create", {}, context=context)


def test_a_payment_reset_to_draft_reopens_what_it_paid_and_reposted_stays_outstanding(odoo):
    move, _customer, lines = _contract(odoo)
    odoo.at("2025-02-01")
    payment = _register(odoo, move, 150.0, "2025-02-01")
    assert [ln["amount_residual"] for ln in _instalments(odoo, move)] == [0.0, 50.0, 200.0]
    odoo.at("2025-02-03")
    odoo("account.payment", "action_draft", [payment])
    assert odoo.one("account.payment", payment, ["state", "is_reconciled"]) == {
        "state": "draft",
        "is_reconciled": False,
    }
    reopened = _instalments(odoo, move)
    assert [ln["amount_residual"] for ln in reopened] == [100.0, 100.0, 200.0]
    assert {ln["write_date"] for ln in reopened[:2]} == {"2025-02-03 15:00:00"}
    assert _partials_of(odoo, [ln["id"] for ln in lines]) == []
    invoice = odoo.one("account.move", move, ["payment_state", "write_date"])
    assert invoice == {"payment_state": "not_paid", "write_date": "2025-02-03 15:00:00"}
    odoo("account.payment", "action_post", [payment])  # posted again, matched to nothing
    row = odoo.one("account.payment", payment, ["state", "is_reconciled", "move_id"])
    assert (row["state"], row["is_reconciled"]) == ("posted", False)
    entry = odoo(
        "account.move.line", "search_read", [("move_id", "=", row["move_id"][0])], ["amount_residual"], order="id"
    )
    assert [ln["amount_residual"] for ln in entry] == [0.0, -150.0]
    odoo("account.payment", "action_cancel", [payment])
    assert odoo.one("account.payment", payment, ["state"]) == {"state": "cancel"}
    assert odoo.one("account.move", row["move_id"][0], ["state"]) == {"state": "cancel"}


def test_register_payment_refuses_drafts(odoo):
    customer = odoo("res.partner", "create", {"name": "Mercado Central"})
    draft = odoo(
        "account.move",
        "create",
        {
            "move_type": "out_invoice",
            "partner_id": customer,
            "invoice_line_ids": [(0, 0, {"name": "x", "price_unit": 10})],
        },
    )
    context = {"active_model": "account.move", "active_ids": [draft]}
    with pytest.raises(xmlrpc.client.Fault, match="only register payment for posted journal entries"):
        odoo("account.payment.register", "create", {}, context=context)


# -- unmatched customer payments ---------------------------------------------------------------------
@pytest.mark.parametrize("version", ["17.0", "19.0"])
def test_unmatched_customer_payment_stays_outstanding_on_the_receivable(version):
    odoo = _serve(version=version)
    try:
        move, customer, _lines = _contract(odoo)
        memo = "memo" if version == "19.0" else "ref"
        vals = {"payment_type": "inbound", "partner_type": "customer", "partner_id": customer, "amount": 75.5}
        payment = odoo("account.payment", "create", dict(vals, date="2025-01-20", **{memo: "PIX recebido"}))
        assert odoo.one("account.payment", payment, ["state", "move_id"]) == {"state": "draft", "move_id": False}
        odoo("account.payment", "action_post", [payment])
        posted = "paid" if version == "19.0" else "posted"
        fields = ["state", "amount", "is_reconciled", "is_matched", memo, "move_id"]
        answers = [
            odoo("account.payment", "search_read", [("id", "=", payment)], fields),
            odoo.jsonrpc("account.payment", "search_read", [("id", "=", payment)], fields),
            odoo.json2("account.payment", "search_read", domain=[("id", "=", payment)], fields=fields),
        ]
        assert answers[0] == answers[1] == answers[2]
        row = answers[0][0]
        entry = row["move_id"][0]
        assert (row["state"], row["amount"], row["is_reconciled"], row["is_matched"], row[memo]) == (
            posted,
            75.5,
            False,
            True,
            "PIX recebido",
        )
        link = "origin_payment_id" if version == "19.0" else "payment_id"
        assert odoo.one("account.move", entry, [link, "ref"])[link][0] == payment
        outstanding = odoo(
            "account.move.line",
            "search_read",
            [("move_id", "=", entry), ("account_type", "=", "asset_receivable")],
            ["balance", "amount_residual", "reconciled", "date_maturity", "payment_id"],
        )
        assert [
            (ln["balance"], ln["amount_residual"], ln["reconciled"], ln["date_maturity"]) for ln in outstanding
        ] == [(-75.5, -75.5, False, "2025-01-20")]
        assert outstanding[0]["payment_id"][0] == payment
        assert odoo.one("account.move", move, ["payment_state"]) == {"payment_state": "not_paid"}
        rows = expected_financeiro(odoo.sim, today=date(2025, 1, 31), key_of=lambda c: "e1")["entradas_caixa"]
        assert [r for r in rows if r["categoria"] == "OUTRAS"] == [
            dict(
                empreendimento="e1",
                ref_month=date(2025, 1, 1),
                categoria="OUTRAS",
                previsto=Decimal("0.00"),
                realizado=Decimal("75.50"),
            )
        ]
    finally:
        odoo.server.stop()


# -- vendor bills ------------------------------------------------------------------------------------
def test_vendor_bill_on_several_expense_accounts_and_its_late_partial_payment(odoo):
    supplier = odoo("res.partner", "create", {"name": "Transportadora Rodovia Sul Ltda", "supplier_rank": 1})
    term = _term(odoo, "30/60", [(50, 30), (50, 60)])
    bill = odoo(
        "account.move",
        "create",
        {
            "move_type": "in_invoice",
            "partner_id": supplier,
            "invoice_date": "2025-01-10",
            "invoice_payment_term_id": term,
        },
    )
    accounts = odoo(
        "account.account",
        "search_read",
        [("code", "=like", "4.2.%"), ("company_id", "=", 1)],
        ["code", "name"],
        order="code",
    )
    assert [(a["code"], a["name"]) for a in accounts] == [
        ("4.2.1.01", "Despesas com pessoal"),
        ("4.2.2.01", "Aluguéis"),
        ("4.2.3.01", "Fretes e carretos"),
        ("4.2.4.01", "Energia elétrica"),
        ("4.2.5.01", "Serviços de terceiros"),
    ]
    by_code = {a["code"]: a["id"] for a in accounts}
    lines = [
        ("Frete de entregas", by_code["4.2.3.01"], 700.0),
        ("Carreto", by_code["4.2.3.01"], 100.0),
        ("Aluguel de empilhadeiras", by_code["4.2.2.01"], 500.0),
    ]
    commands = [(0, 0, {"name": n, "account_id": a, "quantity": 1, "price_unit": p}) for n, a, p in lines]
    odoo("account.move", "write", [bill], {"invoice_line_ids": commands})
    odoo("account.move", "action_post", [bill])
    head = odoo.one("account.move", bill, ["name", "state", "amount_total", "amount_residual", "payment_state"])
    assert head == {
        "name": "BILL/2025/01/0001",
        "state": "posted",
        "amount_total": 1300.0,
        "amount_residual": 1300.0,
        "payment_state": "not_paid",
    }
    items = odoo(
        "account.move.line",
        "search_read",
        [("move_id", "=", bill)],
        ["display_type", "account_type", "account_id", "balance", "date_maturity"],
        order="id",
    )
    assert [(i["display_type"], i["account_type"], i["balance"], i["date_maturity"]) for i in items] == [
        ("product", "expense", 700.0, False),
        ("product", "expense", 100.0, False),
        ("product", "expense", 500.0, False),
        ("payment_term", "liability_payable", -650.0, "2025-02-09"),
        ("payment_term", "liability_payable", -650.0, "2025-03-11"),
    ]
    odoo.at("2025-02-20")
    payment = _register(odoo, bill, 400.0, "2025-02-20")  # late, and part of the first instalment
    row = odoo.one("account.payment", payment, PAYMENT_FIELDS + ["reconciled_bill_ids", "is_reconciled"])
    assert (row["payment_type"], row["partner_type"], row["amount"], row["reconciled_bill_ids"]) == (
        "outbound",
        "supplier",
        400.0,
        [bill],
    )
    entry_lines = odoo(
        "account.move.line",
        "search_read",
        [("move_id", "=", row["move_id"][0])],
        ["account_type", "debit", "credit"],
        order="id",
    )
    assert [(ln["account_type"], ln["debit"], ln["credit"]) for ln in entry_lines] == [
        ("asset_cash", 0.0, 400.0),
        ("liability_payable", 400.0, 0.0),
    ]
    terms = [i for i in items if i["display_type"] == "payment_term"]
    partials = _partials_of(odoo, [t["id"] for t in terms])
    assert [(p["credit_move_id"][0], p["amount"], p["max_date"]) for p in partials] == [
        (terms[0]["id"], 400.0, "2025-02-20")
    ]
    residuals = [ln["amount_residual"] for ln in _instalments(odoo, bill)]
    assert residuals == [-250.0, -650.0]
    assert odoo.one("account.move", bill, ["payment_state", "amount_residual"]) == {
        "payment_state": "partial",
        "amount_residual": 900.0,
    }
    saidas = expected_financeiro(odoo.sim, today=date(2025, 3, 31), key_of=lambda c: "e1")["saidas_caixa"]
    assert saidas == [  # the bill's category: freight carries 800.00 of its 1 300.00
        dict(
            empreendimento="e1",
            ref_month=date(2025, 2, 1),
            categoria="4.2.3.01 Fretes e carretos",
            orcamento=Decimal("650.00"),
            realizado=Decimal("400.00"),
        ),
        dict(
            empreendimento="e1",
            ref_month=date(2025, 3, 1),
            categoria="4.2.3.01 Fretes e carretos",
            orcamento=Decimal("650.00"),
            realizado=Decimal("0.00"),
        ),
    ]


# -- the generator -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[False, True], ids=["orm", "bulk"])
def generated(request):
    sim = OdooSimulator(clock=SimClock(datetime(2024, 12, 31)))
    counts = generate(sim, seed=11, scale=0.6, days=150, companies=2, bulk=request.param)
    return sim, counts


def _by_id(sim, model):
    return {r["id"]: r for r in sim.rows(model)}


def test_generated_data_has_every_finance_kind(generated):
    sim, counts = generated
    moves, lines, accounts = (
        _by_id(sim, "account.move"),
        _by_id(sim, "account.move.line"),
        _by_id(sim, "account.account"),
    )
    partials, payments = sim.rows("account.partial.reconcile"), _by_id(sim, "account.payment")
    terms_of = defaultdict(list)
    for line in lines.values():
        if line["display_type"] == "payment_term" and moves[line["move_id"]]["state"] == "posted":
            terms_of[line["move_id"]].append(line)
    bills = [m for m in moves.values() if m["move_type"] == "in_invoice" and m["state"] == "posted"]
    invoices = [m for m in moves.values() if m["move_type"] == "out_invoice" and m["state"] == "posted"]
    kinds = Counter()
    kinds["vendor_bills"] = len(bills)
    kinds.update(f"bill_with_{len(terms_of[b['id']])}_instalments" for b in bills)
    kinds["bills_on_several_expense_accounts"] = sum(
        len({ln["account_id"] for ln in lines.values() if ln["move_id"] == b["id"] and ln["display_type"] == "product"})
        > 1
        for b in bills
    )
    for b in bills:
        assert {accounts[ln["account_id"]]["account_type"] for ln in terms_of[b["id"]]} == {"liability_payable"}
    kinds["unpaid_bills"] = sum(b["payment_state"] == "not_paid" for b in bills)
    kinds["partly_paid_bills"] = sum(b["payment_state"] == "partial" for b in bills)
    paid_lines = defaultdict(list)
    for p in partials:
        paid_lines[p["debit_move_id"]].append(p)
        paid_lines[p["credit_move_id"]].append(p)
    for inv in invoices:
        for line in terms_of[inv["id"]]:
            for p in paid_lines[line["id"]]:
                if moves[lines[p["credit_move_id"]]["move_id"]]["move_type"] != "entry":
                    continue
                timing = (
                    "early"
                    if p["max_date"] < line["date_maturity"]
                    else "late"
                    if p["max_date"] > line["date_maturity"]
                    else "on_time"
                )
                kinds[f"{timing}_customer_payments"] += 1
            if len([p for p in paid_lines[line["id"]]]) > 1:
                kinds["customer_instalments_paid_in_parts"] += 1
    overdue_unpaid = [
        inv for inv in invoices if inv["payment_state"] == "not_paid" and inv["invoice_date_due"] < "2025-05-01"
    ]
    kinds["delinquent_invoices"] = len(overdue_unpaid)
    for b in bills:
        for line in terms_of[b["id"]]:
            for p in paid_lines[line["id"]]:
                kinds[
                    "late_vendor_payments" if p["max_date"] > line["date_maturity"] else "vendor_payments_on_time"
                ] += 1
    unmatched = [
        ln
        for ln in lines.values()
        if moves[ln["move_id"]]["move_type"] == "entry"
        and accounts[ln["account_id"]]["account_type"] == "asset_receivable"
        and ln["amount_residual"] < 0
    ]
    kinds["unmatched_customer_payments"] = len(unmatched)
    kinds["customer_payments"] = sum(p["partner_type"] == "customer" for p in payments.values())
    kinds["vendor_payments"] = sum(p["partner_type"] == "supplier" for p in payments.values())
    for name in (
        "vendor_bills",
        "bill_with_1_instalments",
        "bill_with_2_instalments",
        "bill_with_3_instalments",
        "bill_with_4_instalments",
        "bill_with_6_instalments",
        "bills_on_several_expense_accounts",
        "unpaid_bills",
        "early_customer_payments",
        "late_customer_payments",
        "on_time_customer_payments",
        "customer_instalments_paid_in_parts",
        "delinquent_invoices",
        "late_vendor_payments",
        "vendor_payments_on_time",
        "unmatched_customer_payments",
        "vendor_payments",
    ):
        assert kinds[name] >= 1, (name, kinds)
    assert kinds["unmatched_customer_payments"] == counts["unmatched_customer_payments"]
    assert 0.01 <= kinds["unmatched_customer_payments"] / kinds["customer_payments"] <= 0.06, kinds
    # every bank entry of a payment is an account.payment's, and points back to it
    for payment in payments.values():
        entry = moves[payment["move_id"]]
        assert entry["payment_id"] == payment["id"] and entry["move_type"] == "entry" and entry["state"] == "posted"
        assert {ln["payment_id"] for ln in lines.values() if ln["move_id"] == entry["id"]} == {payment["id"]}
    now = sim.clock.now().strftime("%Y-%m-%d %H:%M:%S")  # nothing was written after the clock's time
    for rows in (moves.values(), lines.values(), payments.values(), partials):
        assert max(r["write_date"] for r in rows) <= now
    bank_entries = [
        m for m in moves.values() if m["move_type"] == "entry" and m["journal_id"] and m["name"].startswith("BNK1/")
    ]
    assert len(bank_entries) == len(payments)


def test_generated_residual_is_original_minus_partials_for_every_instalment(generated):
    sim, _counts = generated
    lines, moves, accounts = (
        _by_id(sim, "account.move.line"),
        _by_id(sim, "account.move"),
        _by_id(sim, "account.account"),
    )
    matched = defaultdict(Decimal)
    for p in sim.rows("account.partial.reconcile"):
        matched[p["debit_move_id"]] += Decimal(str(p["amount"]))
        matched[p["credit_move_id"]] -= Decimal(str(p["amount"]))
    checked = 0
    for line in lines.values():
        if not accounts[line["account_id"]]["reconcile"] or moves[line["move_id"]]["state"] != "posted":
            continue
        original = Decimal(str(line["balance"]))
        assert Decimal(str(line["amount_residual"])) == original - matched[line["id"]], line
        assert abs(original - matched[line["id"]]) <= abs(original)  # never paid beyond its value
        checked += 1
    assert checked > 500
    oracle = expected_financeiro(sim, today=date(2025, 5, 31))
    for row in oracle["parcelas"]:
        assert row["valor_residual"] == row["valor_original"] - row["valor_pago"], row


# -- the oracle, hand-checked ---------------------------------------------------------------------------
def test_oracle_on_one_contract_paid_early_late_and_left_open(odoo):
    """400.00 in three instalments (25/25/50 % at 30/60/90 days from 2025-01-10): the first paid
    early (in January), the second late (in April), the third still open on 2025-05-31; and an
    unmatched customer payment of 50.00 in March."""
    move, customer, lines = _contract(odoo)
    odoo.at("2025-01-28")
    _register(odoo, move, 100.0, "2025-01-28")
    odoo.at("2025-03-05")
    stray = odoo(
        "account.payment",
        "create",
        {
            "payment_type": "inbound",
            "partner_type": "customer",
            "partner_id": customer,
            "amount": 50.0,
            "date": "2025-03-05",
        },
    )
    odoo("account.payment", "action_post", [stray])
    odoo.at("2025-04-15")
    _register(odoo, move, 100.0, "2025-04-15")
    got = expected_financeiro(odoo.sim, today=date(2025, 5, 31), key_of=lambda c: f"emp-{c}")

    first_day = partitions.partition_day(date(2025, 1, 10))
    assert [
        (p["numero_parcela"], p["data_vencimento"], p["valor_pago"], p["data_ultimo_pagamento"], p["status"])
        for p in got["parcelas"]
    ] == [
        (1, date(2025, 2, 9), Decimal("100.00"), date(2025, 1, 28), "PAGA"),
        (2, date(2025, 3, 11), Decimal("100.00"), date(2025, 4, 15), "PAGA"),
        (3, date(2025, 4, 10), Decimal("0.00"), None, "VENCIDA"),
    ]
    assert {(p["empreendimento"], p["partition_date"], p["numero_nf"], p["num_pedido"]) for p in got["parcelas"]} == {
        ("emp-1", first_day, "INV/2025/00001", "S00001")
    }
    money = Decimal
    assert [(r["ref_month"], r["categoria"], r["previsto"], r["realizado"]) for r in got["entradas_caixa"]] == [
        (date(2025, 1, 1), "ANTECIPACOES", money("0.00"), money("100.00")),
        (date(2025, 2, 1), "ATIVOS", money("100.00"), money("0.00")),
        (date(2025, 3, 1), "ATIVOS", money("100.00"), money("0.00")),
        (date(2025, 3, 1), "OUTRAS", money("0.00"), money("50.00")),
        (date(2025, 4, 1), "ATIVOS", money("200.00"), money("0.00")),
        (date(2025, 4, 1), "RECUPERACOES", money("0.00"), money("100.00")),
    ]
    overdue = {r["ref_month"]: r for r in got["inadimplencia"]}
    assert sorted(overdue) == [date(2025, m, 1) for m in range(1, 6)]
    zero = money("0.00")
    assert overdue[date(2025, 2, 1)] | {} == dict(
        empreendimento="emp-1", ref_month=date(2025, 2, 1), as_of=date(2025, 2, 28),
        ate_30=zero, de_31_a_60=zero, de_61_a_90=zero, de_91_a_180=zero, acima_180=zero,
        total_vencido=zero, parcelas_vencidas=0, contratos_inadimplentes=0,
    )  # fmt: skip
    march, may = overdue[date(2025, 3, 1)], overdue[date(2025, 5, 1)]
    # on 03-31 the second instalment (due 03-11, paid 04-15) is 20 days late: history keeps it
    assert (march["as_of"], march["ate_30"], march["total_vencido"], march["parcelas_vencidas"]) == (
        date(2025, 3, 31),
        money("100.00"),
        money("100.00"),
        1,
    )
    # on 05-31 only the third (due 04-10) is open: 51 days late
    assert (
        may["ate_30"],
        may["de_31_a_60"],
        may["total_vencido"],
        may["parcelas_vencidas"],
        may["contratos_inadimplentes"],
    ) == (zero, money("200.00"), money("200.00"), 1, 1)
    stats = {r["ref_month"]: r for r in got["estatisticas_portfolio"]}
    # 03-31: 100.00 overdue at face value + 200.00 due in 10 days: 200 × 1.1^(−10/365) = 199.4784
    assert stats[date(2025, 3, 1)] == dict(
        empreendimento="emp-1", ref_month=date(2025, 3, 1), as_of=date(2025, 3, 31),
        valor_presente=money("299.48"), saldo_aberto=money("300.00"), total_contratos=1, contratos_ativos=1,
        prazo_medio_meses=money("0.33"), duration_anos=money("0.0182"),
    )  # fmt: skip
    # 01-31: the first instalment is paid; 100.00 due in 39 days and 200.00 in 69 days:
    # 100 × 1.1^(−39/365) + 200 × 1.1^(−69/365) = 98.9868 + 196.4288; 69 days = 2.27 months
    jan = stats[date(2025, 1, 1)]
    assert (jan["saldo_aberto"], jan["valor_presente"], jan["prazo_medio_meses"], jan["duration_anos"]) == (
        money("300.00"),
        money("295.42"),
        money("2.27"),
        money("0.1615"),
    )
    assert (stats[date(2025, 5, 1)]["valor_presente"], stats[date(2025, 5, 1)]["duration_anos"]) == (
        money("200.00"),
        money("0.0000"),
    )
