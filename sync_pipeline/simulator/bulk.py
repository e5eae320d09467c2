"""The generator's bulk path: a year of ten empreendimentos (a million invoice lines) in minutes.

Same master data as the ORM path (created through the API), then orders, invoices, credit notes
and payments written straight into the store with ``Table.insert``/``Table.update`` (indexes kept),
with every stored computed field set to what the ORM's recomputation gives (compute.py,
accounting.py): line and order amounts, ``qty_invoiced``/``qty_to_invoice``/``invoice_status``,
tax and payment term lines, residuals, ``payment_state``, reconciliations; names from the same
sequences (``sim.sequences``: S00001, INV/2025/00001, RINV/..., BNK1/...); ``write_date`` the time
of each record's last change. Events run in time order, as the ORM path's do, so a record's
``write_date`` is when it last changed; the test checks the result is a fixed point of the ORM's
recomputation. Draws differ from the ORM path's: the same seed gives other (equally valid) data.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime, timedelta

from . import accounting, compute, orm, payments
from .compute import line_amounts, money

SAO_PAULO = timedelta(hours=3)
FMT = "%Y-%m-%d %H:%M:%S"
QTYS = (1.0, 2.0, 3.0, 5.0, 6.0, 10.0, 12.0, 20.0, 24.0, 30.0, 50.0, 100.0)


class BulkGeneration:
    """Orders and their invoicing for ``companies`` over [start, end), into ``sim``'s store."""

    def __init__(self, sim, rng, scale, start, end, companies, terms, products, customers, counts):
        self.sim, self.rng, self.scale = sim, rng, scale
        self.start, self.end = start, end
        self.companies, self.customers, self.counts = companies, customers, counts
        self.env = sim.env(sim.admin_uid)
        store = self.store = sim.store
        self.tables = {name: store[name] for name in ("sale.order", "sale.order.line", "account.move")}
        self.amls, self.partials = store["account.move.line"], store["account.partial.reconcile"]
        self.defaults = {m: orm.default_raw(self.env, m) for m in self.tables | {"account.move.line": 0}}
        for raw in self.defaults.values():
            for key in ("id", "create_date", "write_date"):
                raw.pop(key, None)
        self.tax_field = sim.fname("sale.order.line", "tax_id")
        self.uom_field = sim.fname("sale.order.line", "product_uom")
        taxes = store["account.tax"].records
        self.tax_pct = {t: taxes[t]["amount"] for t in taxes}
        self.tax_name = {t: taxes[t]["name"] for t in taxes}
        prod = store["product.product"].records
        display = sim.display_getter("product.product")
        self.products = [
            (p, display(p), prod[p]["list_price"], prod[p]["uom_id"], prod[p]["taxes_id"]) for p in products
        ]
        term_lines = store["account.payment.term.line"]
        self.terms = {
            t: [
                (term_lines.records[i]["value_amount"], term_lines.records[i]["nb_days"])
                for i in sorted(term_lines.referrers("payment_id", t))
            ]
            for t in terms
        }
        self.per_company = {}
        for company in companies:
            cid = company["id"]
            self.per_company[cid] = dict(
                income=accounting.company_account(self.env, cid, "income"),
                receivable=accounting.company_account(self.env, cid, "asset_receivable"),
                tax=accounting.company_account(self.env, cid, "liability_current"),
                bank=accounting.company_account(self.env, cid, "asset_cash"),
                sale=accounting.company_journal(self.env, cid, "sale"),
                bank_journal=accounting.company_journal(self.env, cid, "bank"),
                taxes={p[0]: [t for t in p[4] if taxes[t]["company_id"] in (None, cid)] for p in self.products},
            )
        self.events: list = []
        self.seq = itertools.count()
        self.waiting: dict[tuple[int, int], list[int]] = {}  # (company, customer) -> confirmed orders

    # -- plumbing -------------------------------------------------------------------------------
    def schedule(self, when: datetime, kind: str, *payload) -> None:
        if when.date() < self.end:
            heapq.heappush(self.events, (when, next(self.seq), kind, payload))

    def _new(self, model: str, now: str, vals: dict) -> int:
        raw = dict(self.defaults[model])
        raw["create_date"] = raw["write_date"] = now
        raw.update(vals)
        table = self.amls if model == "account.move.line" else self.tables[model]
        return table.insert(raw)

    def _set(self, table, rec_id: int, now: str, vals: dict) -> bool:
        if table.update(rec_id, vals):
            table.update(rec_id, {"write_date": now})
            return True
        return False

    def run(self) -> None:
        rng, day = self.rng, self.start
        while day < self.end:
            if day.weekday() < 6:
                for company in self.companies:
                    expected = 4 * self.scale * (0.5 if day.weekday() == 5 else 1.0)
                    for _ in range(int(expected) + (rng.random() < expected - int(expected))):
                        late = rng.random() < 0.08
                        hour = rng.uniform(21, 23.95) if late else rng.uniform(7.5, 18.5)
                        when = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour) + SAO_PAULO
                        self.schedule(when.replace(microsecond=0), "order", company)
            day += timedelta(days=1)
        while self.events:
            when, _seq, kind, payload = heapq.heappop(self.events)
            getattr(self, f"_{kind}")(when, when.strftime(FMT), *payload)
        self.sim.clock.set(datetime.combine(self.end, datetime.min.time()))

    # -- orders ---------------------------------------------------------------------------------
    def _order(self, when, now, company):
        rng, cid = self.rng, company["id"]
        fate = rng.random()
        state = "draft" if fate < 0.05 else "sent" if fate < 0.08 else "cancel" if fate < 0.10 else "sale"
        partner = rng.choice(self.customers)
        per_company = self.sim.order_sequence == "per_company"
        number = self.sim.next_number(("sale.order", cid if per_company else None))
        user, team, term = rng.choice(company["sellers"]), rng.choice(company["teams"]), rng.choice(list(self.terms))
        order = self._new(
            "sale.order",
            now,
            dict(
                name=f"S{number:05d}",
                state=state,
                partner_id=partner,
                partner_invoice_id=partner,
                partner_shipping_id=partner,
                company_id=cid,
                date_order=now,
                user_id=user,
                team_id=team,
                payment_term_id=term,
                client_order_ref=f"PC-{rng.randint(1000, 99999)}" if rng.random() < 0.4 else None,
                commitment_date=(when + timedelta(days=rng.randint(2, 10))).strftime(FMT),
            ),
        )
        untaxed = tax = 0.0
        confirmed = state == "sale"
        for product_id, name, price, uom, _taxes in rng.sample(self.products, rng.randint(1, 8)):
            qty = rng.choice(QTYS)
            taxes = self.per_company[cid]["taxes"][product_id]
            subtotal, line_tax, total, _ = line_amounts(qty, price, 0.0, [self.tax_pct[t] for t in taxes])
            untaxed += subtotal
            tax += line_tax
            self._new(
                "sale.order.line",
                now,
                {
                    "order_id": order,
                    "product_id": product_id,
                    "name": name,
                    "product_uom_qty": qty,
                    self.uom_field: uom,
                    "price_unit": price,
                    self.tax_field: list(taxes),
                    "state": state,
                    "company_id": cid,
                    "order_partner_id": partner,
                    "salesman_id": user,
                    "price_subtotal": subtotal,
                    "price_tax": line_tax,
                    "price_total": total,
                    "qty_to_invoice": qty if confirmed else 0.0,
                    "invoice_status": "to invoice" if confirmed else "no",
                },
            )
            self.counts["order_lines"] += 1
        untaxed, tax = money(untaxed), money(tax)
        orders = self.tables["sale.order"]
        orders.update(
            order,
            dict(
                amount_untaxed=untaxed,
                amount_tax=tax,
                amount_total=money(untaxed + tax),
                invoice_status="to invoice" if confirmed else "no",
            ),
        )
        self.counts["orders"] += 1
        if not confirmed:
            self.counts["quotations" if state != "cancel" else "cancelled_orders"] += 1
            return
        fate = rng.random()
        local_day = (when - SAO_PAULO).date() + timedelta(days=rng.randint(0, 3))
        while local_day.weekday() >= 5:
            local_day += timedelta(days=1)
        first = datetime.combine(local_day, datetime.min.time()) + timedelta(hours=rng.uniform(9, 18)) + SAO_PAULO
        first = max(first.replace(microsecond=0), when + timedelta(minutes=5))
        if fate < 0.03:
            self.schedule(when + timedelta(hours=rng.randint(2, 30)), "cancel_order", order)
        elif fate < 0.10:
            return  # stays open in the carteira
        elif fate < 0.20:
            self.schedule(first, "invoice", order, "partial")
        else:
            self.schedule(first, "invoice", order, "full")
            self.waiting.setdefault((cid, partner), []).append(order)

    def _cancel_order(self, when, now, order):
        orders, lines = self.tables["sale.order"], self.tables["sale.order.line"]
        if orders.records[order]["state"] != "sale":
            return
        line_ids = sorted(lines.referrers("order_id", order))
        if any(lines.records[i]["qty_invoiced"] for i in line_ids):
            return  # invoiced already: the ORM path's cancel would first cancel its draft invoices
        self._set(orders, order, now, {"state": "cancel"})
        for line_id in line_ids:
            self._set(lines, line_id, now, {"state": "cancel", "qty_to_invoice": 0.0, "invoice_status": "no"})
        self._set(orders, order, now, {"invoice_status": "no"})
        self.counts["cancelled_orders"] += 1

    # -- invoices -------------------------------------------------------------------------------
    def _invoice(self, when, now, order, mode):
        rng = self.rng
        orders, lines = self.tables["sale.order"], self.tables["sale.order.line"]
        head = orders.records[order]
        key = (head["company_id"], head["partner_id"])
        waiting = self.waiting.get(key, [])
        if order in waiting:
            waiting.remove(order)
        if head["state"] != "sale":
            return
        group = [order]
        if mode == "full" and waiting and rng.random() < 0.8:
            group += waiting[: rng.randint(1, 2)]
            del waiting[: len(group) - 1]
        if not waiting:
            self.waiting.pop(key, None)
        todo = []
        for member in group:
            for line_id in sorted(lines.referrers("order_id", member)):
                line = lines.records[line_id]
                qty = line["product_uom_qty"] - line["qty_invoiced"]
                if qty > 0:
                    todo.append((line, qty))
        if not todo:
            return
        if mode == "partial":
            todo = [(ln, qty if rng.random() < 0.5 or qty < 2 else float(int(qty / 2))) for ln, qty in todo]
            if len(todo) > 1 and rng.random() < 0.5:
                todo = todo[: rng.randint(1, len(todo) - 1)]
            if rng.random() < 0.6:
                self.schedule(when + timedelta(days=rng.randint(2, 8)), "invoice", order, "full")
        day = (when - SAO_PAULO).date()
        fate = rng.random()
        draft = fate < 0.02
        if 0.02 <= fate < 0.035:
            day += timedelta(days=rng.randint(1, 5))
            self.counts["future_dated_invoices"] += 1
        names = [orders.records[m]["name"] for m in group]
        move = self._make_invoice(
            now,
            "out_invoice",
            head,
            [(ln["product_id"], ln["name"], qty, ln["price_unit"], ln[self.tax_field], ln["id"]) for ln, qty in todo],
            None if draft else day.isoformat(),
            origin=", ".join(names),
        )
        self.counts["invoices"] += 1
        self.counts["grouped_invoices"] += len(group) > 1
        if draft:
            self.counts["draft_invoices"] += 1
            return
        self._post(now, move)
        fate = rng.random()
        if fate < 0.05:
            self.schedule(when + timedelta(hours=rng.randint(1, 48)), "cancel_invoice", move, False)
        elif fate < 0.07:
            self.schedule(when + timedelta(hours=rng.randint(1, 24)), "cancel_invoice", move, True)
        elif fate < 0.11:
            self.schedule(when + timedelta(days=rng.randint(2, 12)), "refund", move, rng.random() < 0.5)
        else:
            self._schedule_payments(when, move)

    def _make_invoice(self, now, move_type, head, lines, invoice_date, origin=None, **extra) -> int:
        """A draft invoice with its product, tax and payment term lines and computed amounts."""
        cid, partner = head["company_id"], head["partner_id"]
        accounts = self.per_company[cid]
        date = invoice_date or now[:10]
        sign = compute.PRODUCT_SIGN[move_type]
        move = self._new(
            "account.move",
            now,
            dict(
                move_type=move_type,
                partner_id=partner,
                commercial_partner_id=partner,
                company_id=cid,
                journal_id=accounts["sale"],
                date=date,
                invoice_date=invoice_date,
                invoice_origin=origin,
                invoice_user_id=head.get("user_id"),
                team_id=head.get("team_id"),
                invoice_payment_term_id=head.get("payment_term_id"),
                ref=head.get("client_order_ref"),
                **extra,
            ),
        )
        journal = accounts["sale"]
        common = dict(move_id=move, company_id=cid, journal_id=journal, date=date, parent_state="draft")
        common.update(move_type=move_type, move_name="/", ref=head.get("client_order_ref"), partner_id=partner)
        tax_totals: dict[int, float] = {}
        untaxed = 0.0
        for product_id, name, qty, price, taxes, sale_line in lines:
            subtotal, _tax, total, amounts = line_amounts(qty, price, 0.0, [self.tax_pct[t] for t in taxes])
            for tax_id, amount in zip(taxes, amounts, strict=True):
                tax_totals[tax_id] = tax_totals.get(tax_id, 0.0) + amount
            untaxed += subtotal
            balance = money(sign * subtotal)
            self._new(
                "account.move.line",
                now,
                dict(
                    common,
                    product_id=product_id,
                    name=name,
                    quantity=qty,
                    price_unit=price,
                    product_uom_id=self.products_uom(product_id),
                    tax_ids=list(taxes),
                    sale_line_ids=[sale_line] if sale_line else [],
                    account_id=accounts["income"],
                    price_subtotal=subtotal,
                    price_total=total,
                    balance=balance,
                    amount_currency=balance,
                    debit=max(balance, 0.0),
                    credit=max(-balance, 0.0),
                ),
            )
            self.counts["invoice_lines"] += 1
        total_tax = 0.0
        for tax_id, amount in sorted(tax_totals.items()):
            amount = money(amount)
            if not amount:
                continue
            total_tax += amount
            balance = money(sign * amount)
            self._new(
                "account.move.line",
                now,
                dict(
                    common,
                    display_type="tax",
                    quantity=0.0,
                    tax_line_id=tax_id,
                    name=self.tax_name[tax_id],
                    balance=balance,
                    amount_currency=balance,
                    debit=max(balance, 0.0),
                    credit=max(-balance, 0.0),
                    account_id=accounts["tax"],
                ),
            )
        total = money(untaxed + total_tax)
        shares = self.terms.get(head.get("payment_term_id")) or [(100.0, 0)]
        left, dues = total, []
        for n, (pct, days) in enumerate(shares):
            amount = left if n == len(shares) - 1 else money(total * pct / 100.0)
            left = money(left - amount)
            due = compute.add_days(date, days)
            dues.append(due)
            balance = money(-sign * amount)
            self._new(
                "account.move.line",
                now,
                dict(
                    common,
                    display_type="payment_term",
                    quantity=0.0,
                    date_maturity=due,
                    balance=balance,
                    amount_currency=balance,
                    debit=max(balance, 0.0),
                    credit=max(-balance, 0.0),
                    name=f"installment #{n + 1}" if len(shares) > 1 else None,
                    account_id=accounts["receivable"],
                    amount_residual=balance,
                    reconciled=False,
                ),
            )
        out_sign = 1 if move_type in ("out_invoice", "in_refund") else -1
        untaxed, total_tax = money(untaxed), money(total_tax)
        self.tables["account.move"].update(
            move,
            dict(
                amount_untaxed=untaxed,
                amount_tax=total_tax,
                amount_total=money(untaxed + total_tax),
                amount_residual=total,
                amount_untaxed_signed=money(out_sign * untaxed),
                amount_total_signed=money(out_sign * (untaxed + total_tax)),
                amount_residual_signed=money(out_sign * total),
                invoice_date_due=max(dues),
            ),
        )
        self._sale_lines(now, {ln[5] for ln in lines if ln[5]})
        return move

    def products_uom(self, product_id):
        return self.store["product.product"].records[product_id]["uom_id"]

    def _post(self, now, move_id) -> None:
        moves = self.tables["account.move"]
        move = moves.records[move_id]
        name = accounting.next_move_name(self.env, move)
        self._set(moves, move_id, now, {"state": "posted", "posted_before": True, "name": name})
        for line_id in self.amls.referrers("move_id", move_id):
            self._set(self.amls, line_id, now, {"parent_state": "posted", "move_name": name})
        self._sale_lines(now, self._sale_lines_of(move_id))

    def _sale_lines_of(self, move_id) -> set[int]:
        found: set[int] = set()
        for line_id in self.amls.referrers("move_id", move_id):
            found.update(self.amls.records[line_id]["sale_line_ids"])
        return found

    def _sale_lines(self, now, line_ids) -> None:
        """qty_invoiced and what follows of it, as compute._recompute_sale_lines/_recompute_orders."""
        lines, amls, moves = self.tables["sale.order.line"], self.amls, self.tables["account.move"].records
        orders, touched = set(), set()
        for line_id in line_ids:
            line = lines.records[line_id]
            qty_inv = qty_posted = 0.0
            for aml_id in amls.referrers("sale_line_ids", line_id):
                aml = amls.records[aml_id]
                move = moves[aml["move_id"]]
                sign = {"out_invoice": 1, "out_refund": -1}.get(move["move_type"], 0)
                if move["state"] != "cancel":
                    qty_inv += sign * aml["quantity"]
                if move["state"] == "posted":
                    qty_posted += sign * aml["quantity"]
            confirmed = line["state"] == "sale"
            to_invoice = round(line["product_uom_qty"] - qty_inv, 6) if confirmed else 0.0
            if not confirmed:
                status = "no"
            elif abs(to_invoice) > 1e-9:
                status = "to invoice"
            elif qty_inv >= line["product_uom_qty"]:
                status = "invoiced"
            else:
                status = "no"
            changed = lines.update(
                line_id,
                dict(
                    qty_invoiced=round(qty_inv, 6),
                    qty_invoiced_posted=round(qty_posted, 6),
                    qty_to_invoice=to_invoice,
                    invoice_status=status,
                ),
            )
            if changed:
                lines.update(line_id, {"write_date": now})
            orders.add(line["order_id"])
            if "qty_invoiced" in changed or "qty_invoiced_posted" in changed:
                touched.add(line["order_id"])
        table = self.tables["sale.order"]
        for order_id in orders:
            statuses = {lines.records[i]["invoice_status"] for i in lines.referrers("order_id", order_id)}
            if table.records[order_id]["state"] != "sale":
                status = "no"
            elif "to invoice" in statuses:
                status = "to invoice"
            elif statuses and statuses <= {"invoiced", "no"} and "invoiced" in statuses:
                status = "invoiced"
            else:
                status = "no"
            if not self._set(table, order_id, now, {"invoice_status": status}) and order_id in touched:
                table.update(order_id, {"write_date": now})

    def _cancel_invoice(self, when, now, move_id, repost):
        moves = self.tables["account.move"]
        if moves.records[move_id]["state"] != "posted":
            return
        self._unreconcile(now, move_id)
        self._set(moves, move_id, now, {"state": "cancel", "payment_state": "not_paid"})
        for line_id in self.amls.referrers("move_id", move_id):
            self._set(self.amls, line_id, now, {"parent_state": "cancel"})
        self._sale_lines(now, self._sale_lines_of(move_id))
        self.counts["cancelled_invoices"] += 1
        if repost:
            self.schedule(when + timedelta(hours=self.rng.randint(2, 48)), "repost", move_id)

    def _repost(self, when, now, move_id):
        moves = self.tables["account.move"]
        self._set(moves, move_id, now, {"state": "posted"})
        for line_id in self.amls.referrers("move_id", move_id):
            self._set(self.amls, line_id, now, {"parent_state": "posted"})
        self._sale_lines(now, self._sale_lines_of(move_id))
        self.counts["reposted_invoices"] += 1
        self._schedule_payments(when, move_id)

    def _refund(self, when, now, move_id, partial):
        """A credit note of the whole invoice or of part of one line, posted and reconciled with it."""
        moves = self.tables["account.move"]
        move = moves.records[move_id]
        if move["state"] != "posted" or move["payment_state"] != "not_paid":
            return
        lines = [
            self.amls.records[i]
            for i in sorted(self.amls.referrers("move_id", move_id))
            if self.amls.records[i]["display_type"] == "product"
        ]
        specs = [
            (ln["product_id"], ln["name"], ln["quantity"], ln["price_unit"], ln["tax_ids"], ln["sale_line_ids"][0])
            for ln in lines
        ]
        if partial:
            spec = self.rng.choice(specs)
            specs = [spec[:2] + (max(1.0, float(int(spec[2] / 2))),) + spec[3:]]
        head = dict(company_id=move["company_id"], partner_id=move["partner_id"])
        refund = self._make_invoice(
            now,
            "out_refund",
            head,
            specs,
            (when - SAO_PAULO).date().isoformat(),
            origin=move["invoice_origin"],
            reversed_entry_id=move_id,
        )
        moves.update(refund, {"ref": f"Reversal of: {move['name']}"})
        for line_id in self.amls.referrers("move_id", refund):
            self.amls.update(line_id, {"ref": f"Reversal of: {move['name']}"})
        self._post(now, refund)
        debits = self._open_terms(move_id)
        credits = self._open_terms(refund)
        self._reconcile(now, debits, credits)
        self.counts["refunds" if not partial else "credit_notes_partial"] += 1

    def _open_terms(self, move_id) -> list[int]:
        amls = self.amls
        return [
            i
            for i in sorted(amls.referrers("move_id", move_id))
            if amls.records[i]["display_type"] == "payment_term" and amls.records[i]["amount_residual"]
        ]

    # -- payments -------------------------------------------------------------------------------
    def _schedule_payments(self, when, move_id):
        rng = self.rng
        habit = rng.random()
        if habit < 0.12:
            return  # delinquent customer
        for line_id in sorted(self._open_terms(move_id), key=lambda i: (self.amls.records[i]["date_maturity"], i)):
            line = self.amls.records[line_id]
            due = datetime.fromisoformat(line["date_maturity"]) + timedelta(hours=14)
            delay = rng.randint(-5, 3) if habit < 0.8 else rng.randint(10, 90)
            pay_at = max(due + timedelta(days=delay), when + timedelta(hours=1))
            if habit > 0.95:
                half = money(line["amount_residual"] / 2)
                self.schedule(pay_at, "payment", move_id, half)
                self.schedule(pay_at + timedelta(days=rng.randint(5, 30)), "payment", move_id, None)
            else:
                self.schedule(pay_at, "payment", move_id, line["amount_residual"])

    def _payment(self, when, now, move_id, amount):
        moves = self.tables["account.move"]
        move = moves.records[move_id]
        if move["state"] != "posted" or move["amount_residual"] <= 0:
            return
        amount = move["amount_residual"] if amount is None else min(amount, move["amount_residual"])
        cid, partner = move["company_id"], move["partner_id"]
        accounts = self.per_company[cid]
        pay_date = when.date().isoformat()
        payment = self._new(
            "account.move",
            now,
            dict(
                move_type="entry",
                journal_id=accounts["bank_journal"],
                company_id=cid,
                date=pay_date,
                partner_id=partner,
                commercial_partner_id=partner,
                ref=move["name"],
                amount_total=amount,
                amount_total_signed=amount,
                amount_untaxed=amount,
            ),
        )
        common = dict(
            move_id=payment,
            company_id=cid,
            journal_id=accounts["bank_journal"],
            date=pay_date,
            parent_state="draft",
            move_type="entry",
            move_name="/",
            ref=move["name"],
            partner_id=partner,
            name=move["name"],
        )
        self._new(
            "account.move.line",
            now,
            dict(common, account_id=accounts["bank"], debit=amount, balance=amount, amount_currency=amount),
        )
        credit = self._new(
            "account.move.line",
            now,
            dict(
                common,
                account_id=accounts["receivable"],
                credit=amount,
                balance=-amount,
                amount_currency=-amount,
                amount_residual=-amount,
                date_maturity=pay_date,
            ),
        )
        self._post(now, payment)
        self._payment_record(now, payment, accounts, partner, amount, pay_date, move["name"])
        self._reconcile(now, self._open_terms(move_id), [credit])
        self.counts["payments"] += 1

    def _payment_record(self, now, move_id, accounts, partner, amount, pay_date, memo) -> None:
        """The account.payment the Register Payment wizard makes for the bank entry (payments.py)."""
        sim = self.sim
        raw = dict(orm.default_raw(self.env, "account.payment"))
        raw.pop("id", None)
        raw.update(
            create_date=now,
            write_date=now,
            name=self.tables["account.move"].records[move_id]["name"],
            state=payments.posted_state(sim),
            payment_type="inbound",
            partner_type="customer",
            partner_id=partner,
            amount=amount,
            date=pay_date,
            journal_id=accounts["bank_journal"],
            company_id=self.amls.records[next(iter(self.amls.referrers("move_id", move_id)))]["company_id"],
            payment_reference=memo,
            move_id=move_id,
            destination_account_id=accounts["receivable"],
            outstanding_account_id=accounts["bank"],
            amount_company_currency_signed=amount,
        )
        raw[sim.fname("account.payment", "ref")] = memo
        payment = self.store["account.payment"].insert(raw)
        self.tables["account.move"].update(move_id, {sim.fname("account.move", "payment_id"): payment})
        for line_id in self.amls.referrers("move_id", move_id):
            self.amls.update(line_id, {"payment_id": payment})

    def _reconcile(self, now, debits, credits) -> None:
        """accounting.reconcile, then the residuals and payment states it changes."""
        amls = self.amls.records
        debits = sorted(debits, key=lambda i: (amls[i]["date_maturity"] or "", i))
        credits = sorted(credits, key=lambda i: (amls[i]["date_maturity"] or "", i))
        open_amount = {i: abs(amls[i]["amount_residual"]) for i in debits + credits}
        for d in debits:
            for c in credits:
                amount = money(min(open_amount[d], open_amount[c]))
                if amount <= 0:
                    continue
                open_amount[d] = money(open_amount[d] - amount)
                open_amount[c] = money(open_amount[c] - amount)
                raw = dict(orm.default_raw(self.env, "account.partial.reconcile"))
                raw.pop("id", None)
                raw.update(
                    create_date=now,
                    write_date=now,
                    debit_move_id=d,
                    credit_move_id=c,
                    amount=amount,
                    max_date=max(amls[d]["date"] or "", amls[c]["date"] or ""),
                    company_id=amls[d]["company_id"],
                )
                self.partials.insert(raw)
                if not open_amount[d]:
                    break
        moves = {amls[i]["move_id"] for i in debits + credits}
        for line_id in debits + credits:
            self._residual(now, line_id)
        for move_id in sorted(moves):
            self._move_residual(now, move_id)

    def _unreconcile(self, now, move_id) -> None:
        partials, amls = self.partials, self.amls
        doomed, lines = set(), set()
        for line_id in amls.referrers("move_id", move_id):
            doomed |= partials.referrers("debit_move_id", line_id)
            doomed |= partials.referrers("credit_move_id", line_id)
        for p in sorted(doomed):
            rec = partials.records[p]
            lines |= {rec["debit_move_id"], rec["credit_move_id"]}
            partials.delete(p)
        for line_id in lines:
            self._residual(now, line_id)
        for other in sorted({amls.records[i]["move_id"] for i in lines}):
            self._move_residual(now, other)

    def _residual(self, now, line_id) -> None:
        line, partials = self.amls.records[line_id], self.partials
        matched = sum(partials.records[p]["amount"] for p in partials.referrers("debit_move_id", line_id))
        matched -= sum(partials.records[p]["amount"] for p in partials.referrers("credit_move_id", line_id))
        residual = money(line["balance"] - matched)
        self._set(
            self.amls, line_id, now, {"amount_residual": residual, "reconciled": residual == 0 and line["balance"] != 0}
        )

    def _move_residual(self, now, move_id) -> None:
        moves = self.tables["account.move"]
        move = moves.records[move_id]
        if move["move_type"] not in compute.INVOICE_TYPES:
            return
        terms = [
            self.amls.records[i]
            for i in self.amls.referrers("move_id", move_id)
            if self.amls.records[i]["display_type"] == "payment_term"
        ]
        residual = money(abs(sum(ln["amount_residual"] for ln in terms)))
        out_sign = 1 if move["move_type"] in ("out_invoice", "in_refund") else -1
        state = compute._payment_state(self.env, move, move["amount_total"], residual, terms)
        vals = dict(amount_residual=residual, amount_residual_signed=money(out_sign * residual), payment_state=state)
        self._set(moves, move_id, now, vals)
