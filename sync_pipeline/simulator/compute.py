"""Stored computed fields, recomputed at the end of each call for the records it touched.

Order of recomputation follows the dependencies: journal items -> journal entries (tax and payment
term lines, totals, residuals, payment state) -> sale order lines (amounts, qty_invoiced) -> sale
orders (amounts, invoice_status). A computed value that changes moves the record's write_date,
as Odoo's recompute writes do.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")
# sign of a product line's balance: customer invoices credit income, vendor bills debit expense
PRODUCT_SIGN = {"out_invoice": -1, "in_refund": -1, "out_refund": 1, "in_invoice": 1}


def money(value: float) -> float:
    """Round to cents, half away from zero, as Odoo's float_round does for currency amounts."""
    scaled = abs(value) * 100.0
    cents = math.floor(scaled + 0.5 + 1e-7 * max(1.0, scaled))
    return math.copysign(cents / 100.0, value) if cents else 0.0


def line_amounts(qty, price, discount, tax_pcts):
    subtotal = money(qty * price * (1 - (discount or 0.0) / 100.0))
    taxes = [money(subtotal * pct / 100.0) for pct in tax_pcts]
    return subtotal, money(sum(taxes)), money(subtotal + sum(taxes)), taxes


def tax_pcts(store, tax_ids):
    taxes = store["account.tax"].records
    return [taxes[t]["amount"] for t in tax_ids]


# -- non-stored computed fields, read on demand -------------------------------------------------
def order_invoice_ids(sim, order_id):
    store = sim.store
    lines = store["sale.order.line"].referrers("order_id", order_id)
    amls, moves = store["account.move.line"], store["account.move"].records
    ids = set()
    for line in lines:
        for aml in amls.referrers("sale_line_ids", line):
            move_id = amls.records[aml]["move_id"]
            if moves[move_id]["move_type"] in ("out_invoice", "out_refund"):
                ids.add(move_id)
    return sorted(ids)


NONSTORED = {
    ("sale.order", "invoice_ids"): order_invoice_ids,
    ("sale.order", "invoice_count"): lambda sim, i: len(order_invoice_ids(sim, i)),
}


# -- flush ----------------------------------------------------------------------------------------
def flush(env) -> None:
    for _ in range(200):
        if not any(env.dirty.get(model) for model, _fn in _RECOMPUTE):
            return
        for model, fn in _RECOMPUTE:
            ids = env.dirty.pop(model, None)
            if ids:
                fn(env, sorted(ids))
                break
    raise RuntimeError("computed fields did not converge")


def _write(env, model, rec_id, values):
    from .orm import write_raw

    return write_raw(env, model, rec_id, values)


LINE_SHAPING_FIELDS = {
    "invoice_date",
    "date",
    "invoice_payment_term_id",
    "partner_id",
    "move_type",
    "company_id",
    "journal_id",
}


def _recompute_move_lines(env, ids):
    records = env.sim.store["account.move.line"].records
    moves = {records[i]["move_id"] for i in ids if i in records}
    env.mark("account.move", moves)
    env.resync_moves |= moves


def _recompute_moves(env, ids):
    store = env.sim.store
    for move_id in ids:
        if move_id in store["account.move"].records:
            _recompute_move(env, move_id)


def _recompute_move(env, move_id):
    from .accounting import sync_invoice_lines

    store = env.sim.store
    move = store["account.move"].records[move_id]
    amls = store["account.move.line"]
    line_ids = sorted(amls.referrers("move_id", move_id))
    is_invoice = move["move_type"] in INVOICE_TYPES
    if is_invoice and move_id in env.resync_moves:
        env.resync_moves.discard(move_id)
        sync_invoice_lines(env, move_id)
        line_ids = sorted(amls.referrers("move_id", move_id))
    lines = [amls.records[i] for i in line_ids]
    for line in lines:
        line_vals = {}
        if not is_invoice:
            line_vals["balance"] = money(line["debit"] - line["credit"])
        line_vals["amount_currency"] = line_vals.get("balance", line["balance"])
        if not line["partner_id"] and move["partner_id"]:
            line_vals["partner_id"] = move["partner_id"]
        line_vals.update(_residual(env, line, line_vals["amount_currency"]))
        _write(env, "account.move.line", line["id"], line_vals)
    product = [ln for ln in lines if ln["display_type"] == "product"]
    terms = [ln for ln in lines if ln["display_type"] == "payment_term"]
    vals = {}
    if is_invoice:
        sign = -PRODUCT_SIGN[move["move_type"]]
        untaxed = money(sum(ln["price_subtotal"] for ln in product))
        tax = money(sum(-ln["balance"] * sign for ln in lines if ln["display_type"] == "tax"))
        residual = money(abs(sum(ln["amount_residual"] for ln in terms)))
        out_sign = 1 if move["move_type"] in ("out_invoice", "in_refund") else -1
        vals.update(
            amount_untaxed=untaxed,
            amount_tax=tax,
            amount_total=money(untaxed + tax),
            amount_residual=residual,
            amount_untaxed_signed=money(out_sign * untaxed),
            amount_total_signed=money(out_sign * (untaxed + tax)),
            amount_residual_signed=money(out_sign * residual),
            invoice_date_due=max(
                (ln["date_maturity"] for ln in terms if ln["date_maturity"]),
                default=move["invoice_date"] or move["date"],
            ),
        )
        if move["invoice_date"] and move["date"] != move["invoice_date"]:
            vals["date"] = move["invoice_date"]
        vals["payment_state"] = _payment_state(env, move, vals["amount_total"], residual, terms)
    else:
        total = money(sum(ln["debit"] for ln in lines))
        vals.update(amount_total=total, amount_total_signed=total, amount_untaxed=total)
    vals["commercial_partner_id"] = move["partner_id"]
    _write(env, "account.move", move_id, vals)
    stale = env.dirty.get("account.move.line")
    if stale:
        stale.difference_update(amls.referrers("move_id", move_id))  # just recomputed with the move
    sale_lines = set()
    for line in product:
        sale_lines.update(line["sale_line_ids"])
    env.mark("sale.order.line", sale_lines)


def _residual(env, line, balance) -> dict:
    store = env.sim.store
    account = store["account.account"].records.get(line["account_id"])
    if not account or not account["reconcile"]:
        return {"amount_residual": 0.0, "reconciled": False}
    partials = store["account.partial.reconcile"]
    matched = sum(partials.records[p]["amount"] for p in partials.referrers("debit_move_id", line["id"]))
    matched -= sum(partials.records[p]["amount"] for p in partials.referrers("credit_move_id", line["id"]))
    residual = money(balance - matched)
    return {"amount_residual": residual, "reconciled": residual == 0 and balance != 0}


def _payment_state(env, move, total, residual, terms):
    if move["state"] != "posted" or total == 0:
        return "not_paid"
    if residual >= total:
        return "not_paid"
    if residual > 0:
        return "partial"
    store = env.sim.store
    partials, amls = store["account.partial.reconcile"], store["account.move.line"].records
    counterparts = set()
    for line in terms:
        for p in partials.referrers("debit_move_id", line["id"]):
            counterparts.add(amls[partials.records[p]["credit_move_id"]]["move_id"])
        for p in partials.referrers("credit_move_id", line["id"]):
            counterparts.add(amls[partials.records[p]["debit_move_id"]]["move_id"])
    moves = store["account.move"].records
    # only the reversed document is 'reversed': a credit note settled by its invoice is 'paid'
    if move["move_type"] not in ("out_invoice", "in_invoice", "entry"):
        return "paid"
    reversal = all(moves[m]["reversed_entry_id"] == move["id"] for m in counterparts)
    return "reversed" if counterparts and reversal else "paid"


def _recompute_sale_lines(env, ids):
    store = env.sim.store
    lines, amls = store["sale.order.line"], store["account.move.line"]
    moves = store["account.move"].records
    taxes = env.sim.fname("sale.order.line", "tax_id")
    orders = set()
    for line_id in ids:
        line = lines.records.get(line_id)
        if line is None:
            continue
        qty_inv = qty_posted = 0.0
        for aml_id in amls.referrers("sale_line_ids", line_id):
            aml = amls.records[aml_id]
            move = moves[aml["move_id"]]
            sign = {"out_invoice": 1, "out_refund": -1}.get(move["move_type"], 0)
            if move["state"] != "cancel":
                qty_inv += sign * aml["quantity"]
            if move["state"] == "posted":
                qty_posted += sign * aml["quantity"]
        if line["display_type"]:
            subtotal = tax = total = 0.0
        else:
            pcts = tax_pcts(store, line[taxes])
            subtotal, tax, total, _ = line_amounts(line["product_uom_qty"], line["price_unit"], line["discount"], pcts)
        confirmed = line["state"] == "sale"
        to_invoice = round(line["product_uom_qty"] - qty_inv, 6) if confirmed else 0.0
        if line["display_type"] or not confirmed:
            status = "no"
        elif abs(to_invoice) > 1e-9:
            status = "to invoice"
        elif qty_inv >= line["product_uom_qty"]:
            status = "invoiced"
        else:
            status = "no"
        changed = _write(
            env,
            "sale.order.line",
            line_id,
            dict(
                price_subtotal=subtotal,
                price_tax=tax,
                price_total=total,
                qty_invoiced=round(qty_inv, 6),
                qty_invoiced_posted=round(qty_posted, 6),
                qty_to_invoice=0.0 if line["display_type"] else to_invoice,
                invoice_status=status,
            ),
        )
        orders.add(line["order_id"])
        if "qty_invoiced" in changed or "qty_invoiced_posted" in changed:
            env.touch_orders.add(line["order_id"])
    env.mark("sale.order", orders)


def _recompute_orders(env, ids):
    store = env.sim.store
    lines = store["sale.order.line"]
    touch, env.touch_orders = env.touch_orders, set()
    for order_id in ids:
        order = store["sale.order"].records.get(order_id)
        if order is None:
            continue
        recs = [lines.records[i] for i in lines.referrers("order_id", order_id)]
        untaxed = money(sum(r["price_subtotal"] for r in recs))
        tax = money(sum(r["price_tax"] for r in recs))
        statuses = {r["invoice_status"] for r in recs if not r["display_type"]}
        if order["state"] != "sale":
            status = "no"
        elif "to invoice" in statuses:
            status = "to invoice"
        elif statuses and statuses <= {"invoiced", "no"} and "invoiced" in statuses:
            status = "invoiced"
        elif "upselling" in statuses:
            status = "upselling"
        else:
            status = "no"
        vals = dict(amount_untaxed=untaxed, amount_tax=tax, amount_total=money(untaxed + tax))
        vals["invoice_status"] = status
        changed = _write(env, "sale.order", order_id, vals)
        if order_id in touch and not changed:
            store["sale.order"].update(order_id, {"write_date": env.now, "write_uid": env.uid})


def add_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


_RECOMPUTE = [
    ("account.move.line", _recompute_move_lines),
    ("account.move", _recompute_moves),
    ("sale.order.line", _recompute_sale_lines),
    ("sale.order", _recompute_orders),
]
