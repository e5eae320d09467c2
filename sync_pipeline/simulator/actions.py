"""Business methods callable through execute_kw (action_confirm, action_post, ...) and the checks
and defaults Odoo applies on create/write/unlink of sale and accounting documents."""

from __future__ import annotations

from . import payments, wizards
from .accounting import (
    company_account,
    company_journal,
    expense_accounts,
    next_move_name,
    reconcile,
    setup_company,
    unreconcile,
)
from .errors import UserError

INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")
JOURNAL_TYPE = {
    "out_invoice": "sale",
    "out_refund": "sale",
    "in_invoice": "purchase",
    "in_refund": "purchase",
    "entry": "general",
}
# computed fields a client may still set (journal entries typed by hand carry their own amounts)
WRITABLE_COMPUTED = {"account.move.line": ("debit", "credit")}
POSTED_MOVE_FIELDS_OK = {
    "ref",
    "invoice_origin",
    "invoice_user_id",
    "team_id",
    "narration",
    "payment_reference",
    "to_check",
}


def _records(env, model):
    return env.sim.store[model].records


def _user_company(env) -> int:
    return _records(env, "res.users")[env.uid]["company_id"] or 1


# -- create / write / unlink hooks --------------------------------------------------------------
def before_create(env, model, vals):
    if model == "sale.order":
        company = vals.setdefault("company_id", _user_company(env))
        vals.setdefault("date_order", env.now)
        for address in ("partner_invoice_id", "partner_shipping_id"):
            if not vals.get(address):
                vals[address] = vals.get("partner_id")
        if vals.get("name") in (None, False, "/", "New"):
            per_company = env.sim.order_sequence == "per_company"
            number = env.sim.next_number(("sale.order", company if per_company else None))
            vals["name"] = f"S{number:05d}"
    elif model == "sale.order.line":
        order = _records(env, "sale.order").get(vals.get("order_id"))
        if order and order["state"] == "cancel":
            raise UserError("You cannot add lines to a cancelled order.")
        sim = env.sim
        _product_defaults(
            env,
            vals,
            sim.fname(model, "tax_id"),
            order["company_id"] if order else None,
            sim.fname(model, "product_uom"),
        )
    elif model == "account.move":
        move_type = vals.setdefault("move_type", "entry")
        if vals.get("journal_id"):
            journal = _records(env, "account.journal")[vals["journal_id"]]
            vals.setdefault("company_id", journal["company_id"])
        company = vals.setdefault("company_id", _user_company(env))
        if not vals.get("journal_id"):
            vals["journal_id"] = company_journal(env, company, JOURNAL_TYPE[move_type])
        vals.setdefault("date", vals.get("invoice_date") or env.now[:10])
        vals["name"] = vals.get("name") or "/"
        if move_type in ("in_invoice", "in_refund"):
            expense_accounts(env, company)  # the chart's expense accounts a bill's lines go to
    elif model == "account.move.line":
        move = _records(env, "account.move").get(vals.get("move_id"))
        if move and move["state"] == "posted":
            raise UserError("You cannot modify a posted journal entry. Reset it to draft first.")
        if move and vals.get("display_type", "product") == "product" and move["move_type"] != "entry":
            _product_defaults(env, vals, "tax_ids", move["company_id"], "product_uom_id")
    elif model in wizards.DEFAULTS:
        wizards.DEFAULTS[model](env, vals)
    elif model in payments.DEFAULTS:
        payments.DEFAULTS[model](env, vals)
    return vals


def _product_defaults(env, vals, taxes_field, company_id, uom_field):
    if vals.get("display_type") in ("line_section", "line_note") or not vals.get("product_id"):
        return
    product = _records(env, "product.product").get(vals["product_id"])
    if product is None:
        return
    display = env.sim.display_getter("product.product")(product["id"])
    vals.setdefault("name", display)
    vals.setdefault("price_unit", product["list_price"])
    if not vals.get(uom_field):
        vals[uom_field] = product["uom_id"]
    if taxes_field not in vals:
        taxes = _records(env, "account.tax")
        own = [t for t in product["taxes_id"] if taxes[t]["company_id"] in (None, company_id)]
        vals[taxes_field] = [(6, 0, own)]


def after_create(env, model, rec_id):
    if model == "res.company":
        setup_company(env, rec_id)


def before_write(env, model, ids, vals):
    if model == "account.move":
        moves = _records(env, "account.move")
        blocked = set(vals) - POSTED_MOVE_FIELDS_OK
        if blocked and any(moves[i]["state"] == "posted" for i in ids):
            raise UserError(
                f"You cannot modify a posted entry (fields: {', '.join(sorted(blocked))}). Reset it to draft first."
            )
    elif model == "account.move.line":
        _check_lines_editable(env, ids)
    elif model == "sale.order.line" and "order_id" in vals:
        raise UserError("You cannot change the order of a sales order line.")


def _check_lines_editable(env, line_ids):
    lines, moves = _records(env, "account.move.line"), _records(env, "account.move")
    if any(moves[lines[i]["move_id"]]["state"] == "posted" for i in line_ids):
        raise UserError("You cannot modify a posted journal entry. Reset it to draft first.")


def before_unlink(env, model, ids):
    if model == "sale.order":
        orders = _records(env, "sale.order")
        if any(orders[i]["state"] not in ("draft", "cancel") for i in ids):
            raise UserError("You can not delete a sent quotation or a confirmed sales order. You must first cancel it.")
    elif model == "sale.order.line":
        lines = _records(env, "sale.order.line")
        if any(lines[i]["state"] == "sale" and not lines[i]["display_type"] for i in ids):
            raise UserError(
                "Once a sales order is confirmed, you can't remove one of its lines "
                "(we need to track if something gets invoiced or delivered).\n"
                "Set the quantity to 0 instead."
            )
    elif model == "account.move":
        moves = _records(env, "account.move")
        if any(moves[i]["state"] == "posted" for i in ids):
            raise UserError(
                "You cannot delete an entry which has been posted once. Reset it to draft first, or cancel it."
            )
    elif model == "account.move.line":
        _check_lines_editable(env, ids)


# -- sale.order actions -------------------------------------------------------------------------
def _write(env, model, ids, vals):
    from .orm import write

    return write(env, model, ids, vals)


def action_confirm(env, ids):
    orders = _records(env, "sale.order")
    if any(orders[i]["state"] not in ("draft", "sent") for i in ids):
        raise UserError("Some orders are not in a state requiring confirmation.")
    _write(env, "sale.order", ids, {"state": "sale", "date_order": env.now})
    return True


def action_quotation_sent(env, ids):
    orders = _records(env, "sale.order")
    if any(orders[i]["state"] != "draft" for i in ids):
        raise UserError("Only draft orders can be marked as sent directly.")
    _write(env, "sale.order", ids, {"state": "sent"})
    return True


def action_cancel(env, ids):
    orders = _records(env, "sale.order")
    if any(orders[i]["locked"] for i in ids):
        raise UserError("You cannot cancel a locked order. Please unlock it first.")
    warn = not env.context.get("disable_cancel_warning")
    if warn and any(orders[i]["state"] != "draft" for i in ids):
        return {
            "name": "Cancel Sales Order",
            "type": "ir.actions.act_window",
            "res_model": "sale.order.cancel",
            "view_mode": "form",
            "views": [[False, "form"]],
            "target": "new",
            "context": {"default_order_id": ids[0]},
        }
    drafts = []
    for order_id in ids:
        drafts += [
            m
            for m in env.sim.getter("sale.order", "invoice_ids")(order_id)
            if _records(env, "account.move")[m]["state"] == "draft"
        ]
    if drafts:
        button_cancel(env, sorted(set(drafts)))
    _write(env, "sale.order", ids, {"state": "cancel"})
    return True


def action_draft(env, ids):
    orders = _records(env, "sale.order")
    todo = [i for i in ids if orders[i]["state"] in ("cancel", "sent")]
    if todo:
        _write(env, "sale.order", todo, {"state": "draft"})
    return True


def action_lock(env, ids):
    _write(env, "sale.order", ids, {"locked": True})
    return True


def action_unlock(env, ids):
    _write(env, "sale.order", ids, {"locked": False})
    return True


# -- account.move actions -----------------------------------------------------------------------
def action_post(env, ids):
    from .compute import flush

    moves, lines = _records(env, "account.move"), env.sim.store["account.move.line"]
    for move_id in ids:
        move = moves[move_id]
        label = move["name"] if move["name"] != "/" else f"id {move_id}"
        if move["state"] == "posted":
            raise UserError(f"The entry {label} (id {move_id}) is already posted.")
        if move["move_type"] in INVOICE_TYPES and not move["partner_id"]:
            raise UserError("The field 'Customer' is required, please complete it to validate the Customer Invoice.")
        if not lines.referrers("move_id", move_id):
            raise UserError("You need to add a line before posting.")
    for move_id in ids:
        move = moves[move_id]
        vals = {"state": "posted", "posted_before": True}
        if move["move_type"] in INVOICE_TYPES and not move["invoice_date"]:
            vals["invoice_date"] = env.now[:10]
            vals["date"] = env.now[:10]
        from .orm import write_raw

        write_raw(env, "account.move", move_id, vals)
        if move["name"] in (None, "/"):
            write_raw(env, "account.move", move_id, {"name": next_move_name(env, move)})
    flush(env)
    for move_id in ids:
        move = moves[move_id]
        if move["reversed_entry_id"] and move["move_type"] in ("out_refund", "in_refund"):
            original = moves[move["reversed_entry_id"]]
            if original["state"] == "posted":
                _reconcile_moves(env, original["id"], move_id)
    return False


def _reconcile_moves(env, first_id, second_id):
    amls = env.sim.store["account.move.line"]

    def open_terms(move_id, debit):
        return [
            i
            for i in sorted(amls.referrers("move_id", move_id))
            if amls.records[i]["display_type"] == "payment_term"
            and amls.records[i]["amount_residual"]
            and (amls.records[i]["balance"] > 0) == debit
        ]

    debits = open_terms(first_id, True) + open_terms(second_id, True)
    credits = open_terms(first_id, False) + open_terms(second_id, False)
    reconcile(env, debits, credits)


def button_draft(env, ids):
    from .orm import write_raw

    moves = _records(env, "account.move")
    if any(moves[i]["state"] not in ("posted", "cancel") for i in ids):
        raise UserError("Only posted/cancelled journal entries can be reset to draft.")
    for move_id in ids:
        unreconcile(env, move_id)
        write_raw(env, "account.move", move_id, {"state": "draft"})
    return None


def button_cancel(env, ids):
    from .orm import write_raw

    moves = _records(env, "account.move")
    if any(moves[i]["state"] != "draft" for i in ids):
        raise UserError("Only draft journal entries can be cancelled.")
    for move_id in ids:
        write_raw(env, "account.move", move_id, {"state": "cancel"})
    return None


ACTIONS = {
    ("sale.order", "action_confirm"): action_confirm,
    ("sale.order", "action_quotation_sent"): action_quotation_sent,
    ("sale.order", "action_cancel"): action_cancel,
    ("sale.order", "action_draft"): action_draft,
    ("sale.order", "action_lock"): action_lock,
    ("sale.order", "action_unlock"): action_unlock,
    ("account.move", "action_post"): action_post,
    ("account.move", "button_draft"): button_draft,
    ("account.move", "button_cancel"): button_cancel,
    **wizards.ACTIONS,
    **payments.ACTIONS,
}

__all__ = ["ACTIONS", "company_account"]
