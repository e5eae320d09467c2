"""Deterministic generator of a Brazilian food distributor's Odoo data, built through the same
calls a client or a user makes (create with x2many commands, action_confirm, action_post,
button_draft..., the "Create invoices" wizard on a selection of orders, the credit note wizard,
"Register Payment" on invoices and vendor bills)."""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import random
import time
from datetime import date, datetime, timedelta

from . import accounting, compute
from .core import OdooSimulator
from .masterdata import create_master_data

SAO_PAULO_UTC_OFFSET = timedelta(hours=3)  # UTC = local time + 3 h (no DST since 2019)

# Shares of the invoicing of a fully invoiced order (the rest: an invoice built by the client).
GROUPED_SHARE = 0.8  # another confirmed order of the customer waits: one invoice for both (or three)
WIZARD_SHARE = 0.15  # "Create invoices" on the order alone
REPEAT_CUSTOMER = 0.12  # a new order comes from a customer who has an order waiting for its invoice
FUTURE_DATED = 0.015  # posted with an invoice_date 1-5 days ahead (a real Odoo takes it silently)
LEFT_DRAFT = 0.02
FORCE_AFTER = 3  # invoices made before a missing kind is forced (see _Generation.missing)
# What happens to a posted invoice: cumulative shares, the rest is paid (or not) in instalments.
AFTER_POST = (
    (0.05, "cancel"),
    (0.07, "cancel_repost"),
    (0.09, "refund"),  # a credit note built by the client, full or for part of one line
    (0.105, "credit_note_full"),  # account.move.reversal, refund_moves, posted
    (0.12, "credit_note_partial"),  # the same, one line's quantity lowered (and the others dropped) first
)
REFUND_REASONS = ("Devolução de mercadoria", "Avaria no transporte", "Erro de faturamento", "Desacordo comercial")


class _Client:
    def __init__(self, sim: OdooSimulator):
        self.sim = sim

    def __call__(self, model, method, *args, **kwargs):
        return self.sim.execute_kw(self.sim.admin_uid, model, method, list(args), kwargs)


def add_invoice(sim, company_id, partner_id, lines, invoice_date, post=True, move_type="out_invoice", **extra) -> int:
    """Create (and post) an invoice as a client would; ``lines``: (product_id, qty, price, sale_line_id|None)."""
    call = _Client(sim)
    journal = call("account.journal", "search", [("company_id", "=", company_id), ("type", "=", "sale")], limit=1)
    commands = []
    for product_id, qty, price, sale_line_id in lines:
        vals = {"product_id": product_id, "quantity": qty, "price_unit": price}
        if sale_line_id:
            vals["sale_line_ids"] = [(6, 0, [sale_line_id])]
        commands.append((0, 0, vals))
    vals = dict(
        move_type=move_type,
        partner_id=partner_id,
        journal_id=journal[0],
        invoice_date=str(invoice_date) if invoice_date else False,
        invoice_line_ids=commands,
    )
    vals.update(extra)
    move_id = call("account.move", "create", vals)
    if post:
        call("account.move", "action_post", [move_id])
    return move_id


def add_payment(sim, move_id: int, amount: float, pay_date: str, journal_id: int | None = None) -> int:
    """Register a payment of an invoice or bill as a user does ("Register Payment"): a posted
    account.payment reconciled with its open instalments, oldest due first; its move's id."""
    call = _Client(sim)
    context = {"active_model": "account.move", "active_ids": [move_id]}
    vals = {"amount": amount, "payment_date": pay_date}
    if journal_id:
        vals["journal_id"] = journal_id
    wizard = call("account.payment.register", "create", vals, context=context)
    payment = call("account.payment.register", "action_create_payments", [wizard], context=context)["res_id"]
    return call("account.payment", "read", [payment], ["move_id"])[0]["move_id"][0]


def _utc(day: date, hour: float) -> datetime:
    """The UTC instant of a São Paulo local time on ``day``."""
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour) + SAO_PAULO_UTC_OFFSET


def _business_day(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def generate(
    sim: OdooSimulator,
    *,
    seed: int = 0,
    scale: float = 1.0,
    start_date: date = date(2025, 1, 1),
    days: int = 60,
    companies: int = 3,
    bulk: bool = False,
) -> dict:
    """Fill ``sim`` with master data, orders and invoices over ``days`` from ``start_date``.

    Then the finance side (``_Financeiro``, its own draws): vendor bills every few days per company
    on several expense accounts, paid through Register Payment, and ~3 % unmatched customer
    payments; the sales data a seed gives does not depend on it.

    ``scale`` 1.0 is about 4 orders (18 order lines) per company and working day. ``bulk=True``
    writes orders, invoices and payments straight into the store (see bulk.py): the same kinds of
    records and computed fields, other draws, ~50x faster — for data sets of a million lines
    (``scale_for_order_lines`` gives the scale of a wanted size).
    """
    started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small dicts: the cyclic collector would dominate the run time
    try:
        return _generate(sim, seed, scale, start_date, days, companies, started, bulk)
    finally:
        if gc_was_enabled:
            gc.enable()


ORDER_LINES_PER_ORDER = 4.5  # 1 to 8 products per order


def scale_for_order_lines(order_lines: int, days: int, companies: int) -> float:
    """The ``scale`` that generates about ``order_lines`` order lines over ``days`` × ``companies``."""
    working_days = sum((1.0 if n % 7 < 5 else 0.5 if n % 7 == 5 else 0.0) for n in range(days))
    return order_lines / (4 * ORDER_LINES_PER_ORDER * working_days * companies)


def _generate(sim, seed, scale, start_date, days, companies, started, bulk=False) -> dict:
    rng = random.Random(seed)
    call = _Client(sim)
    was_following_real_time = sim.clock._fixed is None
    sim.clock.set(_utc(start_date, 7) - timedelta(days=1))
    gen = _Generation(sim, call, rng, scale, start_date, days)
    gen.master_data(companies)
    if bulk:
        from .bulk import BulkGeneration

        with sim._lock:
            BulkGeneration(
                sim, rng, scale, gen.start, gen.end, gen.companies, gen.terms, gen.products, gen.customers, gen.counts
            ).run()
    else:
        gen.run()
    clock = sim.clock._fixed  # where the sales events left it: the finance side ends before it
    _Financeiro(sim, call, seed, gen.start, gen.end, gen.companies, gen.customers, gen.counts, until=clock).run()
    sim.clock._fixed = clock
    if was_following_real_time:
        sim.clock._fixed = None
    gen.counts["seconds"] = round(time.perf_counter() - started, 2)
    return gen.counts


# -- the finance side: vendor bills and their payments, customer payments matched to nothing ---------
# Drawn from a generator of its own and created after the sales events, so the orders, invoices and
# lines a seed gave before the finance side existed keep their ids and values.
SUPPLIERS = [  # (name, CNPJ root, the expense accounts its bills go to, typical monthly amount)
    ("Transportadora Rodovia Sul Ltda", "12345678", ("4.2.3.01",), 4_000),
    ("Imobiliária Central Aluguéis S.A.", "23456789", ("4.2.2.01",), 9_000),
    ("Companhia Paulista de Energia", "34567890", ("4.2.4.01",), 3_500),
    ("Contabilidade Exata Serviços Ltda", "45678901", ("4.2.5.01",), 2_500),
    ("RH Total Terceirização de Pessoal Ltda", "56789012", ("4.2.1.01", "4.2.5.01"), 15_000),
    ("Logística Expressa e Armazéns Ltda", "67890123", ("4.2.3.01", "4.2.2.01", "4.2.5.01"), 6_000),
    ("Manutenção Predial Alfa Ltda", "78901234", ("4.2.5.01", "4.2.4.01"), 1_800),
]
BILL_LABELS = {
    "4.2.1.01": ("Folha de pagamento", "Vale-transporte", "Encargos sociais"),
    "4.2.2.01": ("Aluguel do centro de distribuição", "Aluguel de empilhadeiras", "Condomínio"),
    "4.2.3.01": ("Frete de entregas", "Frete de transferência entre filiais", "Carreto"),
    "4.2.4.01": ("Energia elétrica - câmaras frias", "Energia elétrica - escritório"),
    "4.2.5.01": ("Honorários contábeis", "Serviço de limpeza", "Manutenção de equipamentos", "Vigilância"),
}
VENDOR_TERMS = [  # the payment terms vendors give (the sales side keeps masterdata's)
    ("Fornecedor à vista", [(100, 0)]),
    ("Fornecedor 30 dias", [(100, 30)]),
    ("Fornecedor 30/60 dias", [(50, 30), (50, 60)]),
    ("Fornecedor 30/60/90 dias", [(33.33, 30), (33.33, 60), (33.34, 90)]),
    ("Fornecedor 30/60/90/120 dias", [(25, 30), (25, 60), (25, 90), (25, 120)]),
    (
        "Fornecedor 30/60/90/120/150/180 dias",
        [(16.66, 30), (16.66, 60), (16.67, 90), (16.67, 120), (16.67, 150), (16.67, 180)],
    ),
]
BILL_SHARE = 0.35  # a company receives a vendor bill on about one working day in three
UNMATCHED_SHARE = 0.03  # customer payments the bank shows that nobody matched to an invoice


class _Financeiro:
    """Vendor bills on several expense accounts with their payment terms, paid through Register
    Payment (on time, late, in two parts, or not at all), and unmatched customer payments."""

    def __init__(self, sim, call, seed, start, end, companies, customers, counts, until):
        self.sim, self.call, self.until = sim, call, until  # nothing written after the clock's time
        self.rng = random.Random(f"financeiro:{seed}")
        self.start, self.end, self.companies, self.customers, self.counts = start, end, companies, customers, counts
        self.events: list = []
        self.seq = itertools.count()
        counts.update(
            vendor_bills=0, vendor_bill_lines=0, vendor_payments=0, late_vendor_payments=0, unpaid_vendor_bills=0
        )
        counts.update(unmatched_customer_payments=0)

    def schedule(self, when: datetime, kind: str, *payload):
        if when.date() < self.end and when < self.until:
            heapq.heappush(self.events, (when, next(self.seq), kind, payload))

    def run(self):
        rng, call = self.rng, self.call
        self.suppliers = []
        for name, root, codes, monthly in SUPPLIERS:
            vat = f"{root[:2]}.{root[2:5]}.{root[5:8]}/0001-{rng.randint(10, 99)}"
            partner = call("res.partner", "create", dict(name=name, vat=vat, is_company=True, supplier_rank=1))
            self.suppliers.append((partner, codes, monthly))
        self.terms = []
        for name, lines in VENDOR_TERMS:
            commands = [(0, 0, {"value_amount": pct, "nb_days": days}) for pct, days in lines]
            self.terms.append(call("account.payment.term", "create", {"name": name, "line_ids": commands}))
        with self.sim._lock:
            env = self.sim.env(self.sim.admin_uid)
            self.accounts = {c["id"]: accounting.expense_accounts(env, c["id"]) for c in self.companies}
        day = self.start
        while day < self.end:
            for company in self.companies:
                if day.weekday() < 5 and rng.random() < BILL_SHARE:
                    self.schedule(_utc(day, rng.uniform(8, 18)), "bill", company["id"])
            day += timedelta(days=1)
        unmatched = max(1, round(UNMATCHED_SHARE * self.counts["payments"])) if self.counts["payments"] else 0
        span = max((self.end - self.start).days, 1)
        for _ in range(unmatched):
            day = _business_day(self.start + timedelta(days=rng.randrange(span)))
            self.schedule(_utc(day, rng.uniform(9, 17)), "unmatched_payment", rng.choice(self.companies)["id"])
        while self.events:
            when, _seq, kind, payload = heapq.heappop(self.events)
            self.sim.clock.set(when)
            getattr(self, f"_{kind}")(when, *payload)

    def _bill(self, when, company):
        rng, call = self.rng, self.call
        partner, codes, monthly = rng.choice(self.suppliers)
        commands = []
        for code in rng.sample(codes, rng.randint(1, len(codes))):
            for _ in range(rng.choice((1, 1, 1, 2))):
                amount = round(monthly * rng.uniform(0.05, 0.6) / len(codes), 2)
                label = rng.choice(BILL_LABELS[code])
                account = self.accounts[company][code]
                commands.append((0, 0, {"name": label, "account_id": account, "quantity": 1, "price_unit": amount}))
        day = (when - SAO_PAULO_UTC_OFFSET).date().isoformat()
        bill = call(
            "account.move",
            "create",
            dict(
                move_type="in_invoice",
                partner_id=partner,
                company_id=company,
                invoice_date=day,
                invoice_payment_term_id=rng.choices(self.terms, weights=(2, 5, 3, 3, 1, 1))[0],
                ref=f"NF {rng.randint(1000, 999999)}",
                invoice_line_ids=commands,
            ),
        )
        call("account.move", "action_post", [bill])
        self.counts["vendor_bills"] += 1
        self.counts["vendor_bill_lines"] += len(commands)
        terms = call(
            "account.move.line",
            "search_read",
            [("move_id", "=", bill), ("display_type", "=", "payment_term")],
            ["date_maturity", "amount_residual"],
            order="date_maturity, id",
        )
        habit = rng.random()
        if habit < 0.08:
            self.counts["unpaid_vendor_bills"] += 1
            return  # disputed: stays open
        for line in terms:
            due = datetime.fromisoformat(line["date_maturity"]) + timedelta(hours=13)
            late = habit > 0.8
            delay = rng.randint(5, 45) if late else rng.randint(-4, 1)
            pay_at = max(due + timedelta(days=delay), when + timedelta(hours=2))
            owed = -line["amount_residual"]
            if habit > 0.94:  # cash is short: half now, the rest later
                half = compute.money(owed / 2)
                self.schedule(pay_at, "vendor_payment", bill, half, late)
                self.schedule(pay_at + timedelta(days=rng.randint(7, 25)), "vendor_payment", bill, owed - half, True)
            else:
                self.schedule(pay_at, "vendor_payment", bill, owed, late)

    def _vendor_payment(self, when, bill, amount, late):
        state = self.call("account.move", "read", [bill], ["state", "amount_residual"])[0]
        if state["state"] != "posted" or state["amount_residual"] <= 0:
            return
        add_payment(self.sim, bill, compute.money(min(amount, state["amount_residual"])), when.date().isoformat())
        self.counts["vendor_payments"] += 1
        self.counts["late_vendor_payments"] += bool(late)

    def _unmatched_payment(self, when, company):
        rng = self.rng
        vals = dict(
            payment_type="inbound",
            partner_type="customer",
            partner_id=rng.choice(self.customers),
            company_id=company,
            amount=round(rng.uniform(150, 6000), 2),
            date=when.date().isoformat(),
        )
        vals[self.sim.fname("account.payment", "ref")] = rng.choice(
            ("Depósito não identificado", "PIX recebido", "TED")
        )
        payment = self.call("account.payment", "create", vals)
        self.call("account.payment", "action_post", [payment])
        self.counts["unmatched_customer_payments"] += 1


class _Generation:
    def __init__(self, sim, call, rng, scale, start_date, days):
        self.sim, self.call, self.rng, self.scale = sim, call, rng, scale
        self.start, self.end = start_date, start_date + timedelta(days=days)
        self.events: list = []
        self.seq = itertools.count()
        # confirmed orders scheduled for a full invoice that have none yet
        self.awaiting: dict[int, dict[int, list[int]]] = {}  # company -> customer -> orders
        # every data set but the tiniest has one of each: forced on the first occasion once
        # FORCE_AFTER invoices exist (the grouped invoice: as soon as a customer has two orders)
        self.missing = {"grouped_invoices", "future_dated_invoices", "draft_invoices", "refund"}
        self.missing |= {"credit_note_full", "credit_note_partial"}
        self.sale_line_taxes = "tax_id"
        self.counts = dict.fromkeys(
            [
                "companies",
                "customers",
                "products",
                "orders",
                "order_lines",
                "invoices",
                "invoice_lines",
                "refunds",
                "cancelled_invoices",
                "reposted_invoices",
                "draft_invoices",
                "payments",
                "cancelled_orders",
                "quotations",
                "wizard_invoices",
                "grouped_invoices",
                "credit_notes_full",
                "credit_notes_partial",
                "future_dated_invoices",
            ],
            0,
        )

    def master_data(self, n_companies):
        data = create_master_data(self.call, self.rng, n_companies, self.scale)
        self.companies, self.terms = data["companies"], data["terms"]
        self.products, self.customers = data["products"], data["customers"]
        self.counts.update(companies=n_companies, products=len(self.products), customers=len(self.customers))
        fields = self.call("sale.order.line", "fields_get", attributes=["type"])
        self.sale_line_taxes = "tax_ids" if "tax_ids" in fields else "tax_id"  # Odoo 19 renamed it

    # -- the event loop -------------------------------------------------------------------------
    def schedule(self, when: datetime, kind: str, *payload):
        if when.date() < self.end:
            heapq.heappush(self.events, (when, next(self.seq), kind, payload))

    def run(self):
        rng = self.rng
        day = self.start
        while day < self.end:
            if day.weekday() < 6:
                for company in self.companies:
                    expected = 4 * self.scale * (0.5 if day.weekday() == 5 else 1.0)
                    count = int(expected) + (rng.random() < expected - int(expected))
                    for _ in range(count):
                        late = rng.random() < 0.08
                        hour = rng.uniform(21, 23.95) if late else rng.uniform(7.5, 18.5)
                        self.schedule(_utc(day, hour), "order", company)
            day += timedelta(days=1)
        while self.events:
            when, _seq, kind, payload = heapq.heappop(self.events)
            self.sim.clock.set(when)
            getattr(self, f"_{kind}")(when, *payload)

    def _order(self, when, company):
        rng, call = self.rng, self.call
        lines = []
        for product in rng.sample(self.products, rng.randint(1, 8)):
            qty = float(rng.choice([1, 2, 3, 5, 6, 10, 12, 20, 24, 30, 50, 100]))
            lines.append((0, 0, {"product_id": product, "product_uom_qty": qty}))
        partner = self._customer(company["id"])
        order = call(
            "sale.order",
            "create",
            dict(
                partner_id=partner,
                company_id=company["id"],
                user_id=rng.choice(company["sellers"]),
                team_id=rng.choice(company["teams"]),
                payment_term_id=rng.choice(self.terms),
                client_order_ref=f"PC-{rng.randint(1000, 99999)}" if rng.random() < 0.4 else False,
                commitment_date=(when + timedelta(days=rng.randint(2, 10))).strftime("%Y-%m-%d %H:%M:%S"),
                order_line=lines,
            ),
        )
        self.counts["orders"] += 1
        self.counts["order_lines"] += len(lines)
        fate = rng.random()
        if fate < 0.05:
            self.counts["quotations"] += 1
            return
        if fate < 0.08:
            call("sale.order", "action_quotation_sent", [order])
            self.counts["quotations"] += 1
            return
        if fate < 0.10:
            call("sale.order", "action_cancel", [order])
            self.counts["cancelled_orders"] += 1
            return
        call("sale.order", "action_confirm", [order])
        fate = rng.random()
        first = _utc(
            _business_day((when - SAO_PAULO_UTC_OFFSET).date() + timedelta(days=rng.randint(0, 3))), rng.uniform(9, 18)
        )
        first = max(first, when + timedelta(minutes=5))
        if fate < 0.03:
            self.schedule(when + timedelta(hours=rng.randint(2, 30)), "cancel_order", order)
        elif fate < 0.10:
            return  # stays open in the carteira
        elif fate < 0.20:
            self.schedule(first, "invoice", order, "partial")
        else:
            self.schedule(first, "invoice", order, "full")
            self.awaiting.setdefault(company["id"], {}).setdefault(partner, []).append(order)

    def _customer(self, company: int) -> int:
        """A customer for a new order: now and then one who has an order waiting for its invoice
        (always, while no data set has two orders to invoice together yet)."""
        rng = self.rng
        pending = self.awaiting.get(company)
        if pending:
            force = "grouped_invoices" in self.missing and not any(len(o) > 1 for o in pending.values())
            if force or rng.random() < REPEAT_CUSTOMER:
                return rng.choice(sorted(pending))
        return rng.choice(self.customers)

    def _cancel_order(self, when, order):
        self.call("sale.order", "action_cancel", [order], context={"disable_cancel_warning": True})
        self.counts["cancelled_orders"] += 1

    def _invoice(self, when, order, mode):
        rng, call = self.rng, self.call
        head = call(
            "sale.order",
            "read",
            [order],
            [
                "name",
                "state",
                "partner_id",
                "company_id",
                "user_id",
                "team_id",
                "payment_term_id",
                "client_order_ref",
                "order_line",
            ],
        )[0]
        pending = self.awaiting.get(head["company_id"][0], {})
        waiting = pending.get(head["partner_id"][0], [])
        if order in waiting:
            waiting.remove(order)
        if not waiting:
            pending.pop(head["partner_id"][0], None)
        if head["state"] != "sale":
            return
        taxes = self.sale_line_taxes
        sol = call(
            "sale.order.line",
            "read",
            head["order_line"],
            ["product_id", "product_uom_qty", "qty_invoiced", "price_unit", taxes, "name"],
        )
        todo = [(ln, ln["product_uom_qty"] - ln["qty_invoiced"]) for ln in sol]
        todo = [(ln, qty) for ln, qty in todo if qty > 0]
        if not todo:
            return
        if mode == "full":
            grouped = bool(waiting) and ("grouped_invoices" in self.missing or rng.random() < GROUPED_SHARE)
            if grouped:
                others = waiting[: rng.randint(1, 2)]
                del waiting[: len(others)]
                if not waiting:
                    pending.pop(head["partner_id"][0], None)
                self._invoice_with_wizard(when, [order, *others])
                return
            if rng.random() < WIZARD_SHARE:
                self._invoice_with_wizard(when, [order])
                return
        if mode == "partial":
            todo = [(ln, qty if rng.random() < 0.5 or qty < 2 else float(int(qty / 2))) for ln, qty in todo]
            if len(todo) > 1:
                todo = todo[: rng.randint(1, len(todo) - 1)] if rng.random() < 0.5 else todo
            if rng.random() < 0.6:
                self.schedule(when + timedelta(days=rng.randint(2, 8)), "invoice", order, "full")
        commands = []
        for ln, qty in todo:
            parts = [qty / 2, qty - qty / 2] if qty >= 2 and rng.random() < 0.04 else [qty]  # same product twice
            for part in parts:
                commands.append(
                    (
                        0,
                        0,
                        {
                            "product_id": ln["product_id"][0],
                            "name": ln["name"],
                            "quantity": part,
                            "price_unit": ln["price_unit"],
                            "tax_ids": [(6, 0, ln[taxes])],
                            "sale_line_ids": [(6, 0, [ln["id"]])],
                        },
                    )
                )
        invoice_date = self._invoice_date(when)
        move = call(
            "account.move",
            "create",
            dict(
                move_type="out_invoice",
                partner_id=head["partner_id"][0],
                company_id=head["company_id"][0],
                invoice_date=invoice_date or False,
                invoice_origin=head["name"],
                invoice_user_id=head["user_id"] and head["user_id"][0],
                team_id=head["team_id"] and head["team_id"][0],
                invoice_payment_term_id=head["payment_term_id"] and head["payment_term_id"][0],
                ref=head["client_order_ref"],
                invoice_line_ids=commands,
            ),
        )
        self.counts["invoices"] += 1
        self.counts["invoice_lines"] += len(commands)
        self._post(when, move, invoice_date)

    def _invoice_with_wizard(self, when, orders):
        """Odoo's "Create invoices" on a selection: one invoice for the orders of one customer."""
        call = self.call
        context = {"active_model": "sale.order", "active_ids": orders}
        wizard = call("sale.advance.payment.inv", "create", {"advance_payment_method": "delivered"}, context=context)
        action = call("sale.advance.payment.inv", "create_invoices", [wizard], context=context)
        move = action["res_id"]  # orders of one customer and company: one invoice
        lines = call("account.move", "read", [move], ["invoice_line_ids"])[0]["invoice_line_ids"]
        self.counts["invoices"] += 1
        self.counts["wizard_invoices"] += 1
        self.counts["invoice_lines"] += len(lines)
        if len(orders) > 1:
            self.counts["grouped_invoices"] += 1
            self.missing.discard("grouped_invoices")
        invoice_date = self._invoice_date(when)
        if invoice_date and invoice_date != self.sim.clock.now().date().isoformat():
            call("account.move", "write", [move], {"invoice_date": invoice_date})  # else action_post dates it today
        self._post(when, move, invoice_date)

    def _invoice_date(self, when) -> str | None:
        """The date a new invoice is posted with, None for one left in draft."""
        rng = self.rng
        warm = self.counts["invoices"] >= FORCE_AFTER
        if (warm and "draft_invoices" in self.missing) or rng.random() < LEFT_DRAFT:
            self.missing.discard("draft_invoices")
            self.counts["draft_invoices"] += 1
            return None
        day = (when - SAO_PAULO_UTC_OFFSET).date()
        if (warm and "future_dated_invoices" in self.missing) or rng.random() < FUTURE_DATED:
            self.missing.discard("future_dated_invoices")
            self.counts["future_dated_invoices"] += 1
            day = self.sim.clock.now().date() + timedelta(days=rng.randint(1, 5))
        return day.isoformat()

    def _post(self, when, move, invoice_date):
        """Post the invoice (unless left in draft) and schedule what happens to it next."""
        rng = self.rng
        if not invoice_date:
            return
        self.call("account.move", "action_post", [move])
        fate = rng.random()
        what = next((kind for share, kind in AFTER_POST if fate < share), "pay")
        forced = []
        if self.counts["invoices"] >= FORCE_AFTER:
            forced = sorted(self.missing & {"refund", "credit_note_full", "credit_note_partial"})
        if forced and what == "pay":
            what = forced[0]
        self.missing.discard(what)
        if what in ("refund", "credit_note_full", "credit_note_partial"):
            soon = bool(forced)  # forced ones come within the data set's first days
            later = timedelta(hours=rng.randint(2, 30)) if soon else timedelta(days=rng.randint(2, 12))
            self.schedule(when + later + timedelta(hours=rng.randint(0, 5)), what, move)
        elif what == "cancel":
            self.schedule(when + timedelta(hours=rng.randint(1, 48)), "cancel_invoice", move, False)
        elif what == "cancel_repost":
            self.schedule(when + timedelta(hours=rng.randint(1, 24)), "cancel_invoice", move, True)
        else:
            self._schedule_payments(move, when)

    def _schedule_payments(self, move, when):
        rng = self.rng
        amls = self.call(
            "account.move.line",
            "search_read",
            [("move_id", "=", move), ("display_type", "=", "payment_term")],
            ["date_maturity", "amount_residual"],
            order="date_maturity, id",
        )
        habit = rng.random()
        for line in amls:
            due = datetime.fromisoformat(line["date_maturity"]) + timedelta(hours=14)
            if habit < 0.12:
                return  # delinquent customer
            delay = rng.randint(-5, 3) if habit < 0.8 else rng.randint(10, 90)
            pay_at = max(due + timedelta(days=delay), when + timedelta(hours=1))
            if habit > 0.95:
                half = compute.money(line["amount_residual"] / 2)
                self.schedule(pay_at, "payment", move, half)
                self.schedule(
                    pay_at + timedelta(days=rng.randint(5, 30)),
                    "payment",
                    move,
                    compute.money(line["amount_residual"] - half),
                )
            else:
                self.schedule(pay_at, "payment", move, line["amount_residual"])

    def _payment(self, when, move, amount):
        state = self.call("account.move", "read", [move], ["state", "amount_residual"])[0]
        if state["state"] != "posted" or state["amount_residual"] <= 0:
            return
        add_payment(self.sim, move, min(amount, state["amount_residual"]), when.date().isoformat())
        self.counts["payments"] += 1

    def _cancel_invoice(self, when, move, repost):
        self.call("account.move", "button_draft", [move])
        self.call("account.move", "button_cancel", [move])
        self.counts["cancelled_invoices"] += 1
        if repost:
            self.schedule(when + timedelta(hours=self.rng.randint(2, 48)), "repost", move)

    def _repost(self, when, move):
        self.call("account.move", "button_draft", [move])
        self.call("account.move", "action_post", [move])
        self.counts["reposted_invoices"] += 1

    def _refund(self, when, move):
        rng, call = self.rng, self.call
        head = call(
            "account.move",
            "read",
            [move],
            ["partner_id", "company_id", "invoice_origin", "name", "state", "invoice_line_ids"],
        )[0]
        if head["state"] != "posted":
            return
        lines = call(
            "account.move.line",
            "read",
            head["invoice_line_ids"],
            ["product_id", "quantity", "price_unit", "tax_ids", "sale_line_ids", "name"],
        )
        full = rng.random() < 0.5
        if not full:
            line = rng.choice(lines)
            lines = [dict(line, quantity=max(1.0, float(int(line["quantity"] / 2))))]
        commands = [
            (
                0,
                0,
                {
                    "product_id": ln["product_id"][0],
                    "name": ln["name"],
                    "quantity": ln["quantity"],
                    "price_unit": ln["price_unit"],
                    "tax_ids": [(6, 0, ln["tax_ids"])],
                    "sale_line_ids": [(6, 0, ln["sale_line_ids"])],
                },
            )
            for ln in lines
        ]
        refund = call(
            "account.move",
            "create",
            dict(
                move_type="out_refund",
                partner_id=head["partner_id"][0],
                company_id=head["company_id"][0],
                reversed_entry_id=move,
                invoice_origin=head["invoice_origin"],
                ref=f"Reversal of: {head['name']}",
                invoice_date=(when - SAO_PAULO_UTC_OFFSET).date().isoformat(),
                invoice_line_ids=commands,
            ),
        )
        call("account.move", "action_post", [refund])
        self.counts["refunds"] += 1
        self.counts["invoice_lines"] += len(commands)

    def _credit_note_full(self, when, move):
        self._credit_note(when, move, partial=False)

    def _credit_note_partial(self, when, move):
        self._credit_note(when, move, partial=True)

    def _credit_note(self, when, move, partial):
        """A credit note through account.move.reversal (refund_moves), posted; a partial one has its
        lines cut down to part of one line's quantity before posting, as a user edits the draft."""
        rng, call = self.rng, self.call
        head = call("account.move", "read", [move], ["state", "journal_id"])[0]
        if head["state"] != "posted":
            return
        context = {"active_model": "account.move", "active_ids": [move]}
        vals = {
            "move_ids": [(6, 0, [move])],
            "date": (when - SAO_PAULO_UTC_OFFSET).date().isoformat(),
            "reason": rng.choice(REFUND_REASONS),
            "journal_id": head["journal_id"][0],
        }
        wizard = call("account.move.reversal", "create", vals, context=context)
        refund = call("account.move.reversal", "refund_moves", [wizard], context=context)["res_id"]
        line_ids = call("account.move", "read", [refund], ["invoice_line_ids"])[0]["invoice_line_ids"]
        lines = call("account.move.line", "read", line_ids, ["quantity"])
        kept = len(lines)
        if partial:
            divisible = [ln for ln in lines if ln["quantity"] > 1]
            keep = rng.choice(divisible or lines)
            commands = [(2, ln["id"]) for ln in lines if ln["id"] != keep["id"]]
            if divisible:
                quantity = float(rng.randint(1, max(1, math.ceil(keep["quantity"]) - 1)))
                commands.insert(0, (1, keep["id"], {"quantity": quantity}))
            partial = bool(commands)  # one line of one unit: nothing to cut, a full credit note
            if commands:
                call("account.move", "write", [refund], {"invoice_line_ids": commands})
                kept = 1
        call("account.move", "action_post", [refund])
        self.counts["credit_notes_partial" if partial else "credit_notes_full"] += 1
        self.counts["invoice_lines"] += kept
