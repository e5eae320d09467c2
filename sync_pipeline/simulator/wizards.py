"""Odoo's invoicing wizards, transient models a client creates then calls a method on:

- ``sale.advance.payment.inv`` ("Create invoices" on a selection of sale orders): ``create`` with
  the orders in the context (``active_ids``), then ``create_invoices``; one draft invoice per
  customer and company for all the selected orders (``consolidated_billing``, the default).
- ``account.move.reversal`` ("Credit note" on posted moves): ``refund_moves`` makes a draft credit
  note per move; ``modify_moves`` reverses and posts (the original is then fully reconciled) and
  makes a new draft copy of the original to correct.

Both answer the action dict Odoo's web client would open (XML-RPC-marshallable: no None in it).
"""

from __future__ import annotations

from . import compute
from .errors import UserError
from .models import INVOICE_LINE_TYPES, F, _register, _spec

ADVANCE_PAYMENT_METHODS = [
    ("delivered", "Regular invoice"),
    ("percentage", "Down payment (percentage)"),
    ("fixed", "Down payment (fixed amount)"),
]
REVERSE_TYPE = {
    "entry": "entry",
    "out_invoice": "out_refund",
    "out_refund": "out_invoice",
    "in_invoice": "in_refund",
    "in_refund": "in_invoice",
}
INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")
# what copying a move keeps (Odoo's copy=True fields the simulator has); the name, the invoice date
# and the reference are not copied
COPIED_MOVE_FIELDS = (
    "move_type",
    "partner_id",
    "company_id",
    "journal_id",
    "invoice_origin",
    "invoice_user_id",
    "team_id",
    "invoice_payment_term_id",
)
COPIED_LINE_FIELDS = (
    "sequence",
    "display_type",
    "product_id",
    "name",
    "quantity",
    "product_uom_id",
    "price_unit",
    "discount",
    "account_id",
)


_register(
    _spec(
        "sale.advance.payment.inv",
        "Sales Advance Payment Invoice",
        [
            F(
                "advance_payment_method",
                "selection",
                "Create Invoice",
                selection=ADVANCE_PAYMENT_METHODS,
                required=True,
                default="delivered",
            ),
            F("sale_order_ids", "many2many", "Sale Order", relation="sale.order"),
            F("count", "integer", "Order Count", store=False, computed=True),
            F("company_id", "many2one", "Company", relation="res.company", readonly=True),
            F("consolidated_billing", "boolean", "Consolidated Billing", default=True),
            F("deduct_down_payments", "boolean", "Deduct down payments", default=True),
            F("has_down_payments", "boolean", "Has down payments", store=False, computed=True),
            F("amount", "float", "Down Payment Amount"),
            F("fixed_amount", "monetary", "Down Payment Amount (Fixed)"),
        ],
        order="id",
        display=lambda sim, rec: f"sale.advance.payment.inv,{rec['id']}",
    )
)
_register(
    _spec(
        "account.move.reversal",
        "Account Move Reversal",
        [
            F("move_ids", "many2many", "Move", relation="account.move"),
            F("new_move_ids", "many2many", "New Move", relation="account.move"),
            F("date", "date", "Reversal date"),
            F("reason", "char", "Reason displayed on Credit Note"),
            F("journal_id", "many2one", "Journal", relation="account.journal", required=True),
            F("company_id", "many2one", "Company", relation="res.company", required=True, readonly=True),
            F("move_type", "char", "Move Type", store=False, computed=True),
            F("residual", "monetary", "Residual", store=False, computed=True),
        ],
        order="id",
        display=lambda sim, rec: f"account.move.reversal,{rec['id']}",
    )
)


def _records(env, model):
    return env.sim.store[model].records


def _reversal_move_type(sim, wizard_id):
    moves = sim.store["account.move"].records
    types = [moves[m]["move_type"] for m in sim.store["account.move.reversal"].records[wizard_id]["move_ids"]]
    if len(types) == 1:
        return types[0]
    return "some_invoice" if any(t in ("out_invoice", "in_invoice") for t in types) else None


def _reversal_residual(sim, wizard_id):
    ids = sim.store["account.move.reversal"].records[wizard_id]["move_ids"]
    return sim.store["account.move"].records[ids[0]]["amount_residual"] if len(ids) == 1 else 0.0


compute.NONSTORED.update(
    {
        ("sale.advance.payment.inv", "count"): lambda sim, i: len(
            sim.store["sale.advance.payment.inv"].records[i]["sale_order_ids"]
        ),
        ("sale.advance.payment.inv", "has_down_payments"): lambda sim, i: False,
        ("account.move.reversal", "move_type"): _reversal_move_type,
        ("account.move.reversal", "residual"): _reversal_residual,
    }
)


def _command_ids(value) -> list[int]:
    """The ids a many2many of a new record holds after ``value``'s commands (no create/update)."""
    from .commands import _normalize_commands
    from .orm import as_ids

    ids: list[int] = []
    for cmd in _normalize_commands(value):
        code = cmd[0]
        if code == 6:
            ids = list(dict.fromkeys(as_ids(cmd[2])))
        elif code == 4 and cmd[1] not in ids:
            ids.append(int(cmd[1]))
        elif code in (2, 3):
            ids = [i for i in ids if i != cmd[1]]
        elif code == 5:
            ids = []
        elif code in (0, 1):
            raise ValueError(f"Invalid x2many command {cmd!r} on a wizard: link existing records")
    return ids


def _active_ids(env, model) -> list[int]:
    from .orm import as_ids

    context = env.context
    if context.get("active_model") not in (None, model):
        return []
    return as_ids(context.get("active_ids") or context.get("active_id") or [])


def _advance_defaults(env, vals) -> None:
    """``default_get`` and the stored computes of sale.advance.payment.inv."""
    from .orm import check_exist, sort_ids

    if "sale_order_ids" in vals:
        ids = _command_ids(vals["sale_order_ids"])
    else:
        ids = _active_ids(env, "sale.order")
    check_exist(env, "sale.order", ids)
    ids = sort_ids(env.sim, "sale.order", ids, env.sim.specs["sale.order"].order)
    vals["sale_order_ids"] = [(6, 0, ids)]
    orders = _records(env, "sale.order")
    vals["company_id"] = orders[ids[0]]["company_id"] if len(ids) == 1 else False


def _reversal_defaults(env, vals) -> None:
    """``default_get`` and the stored computes of account.move.reversal."""
    from .orm import check_exist, sort_ids

    moves = _records(env, "account.move")
    active = _active_ids(env, "account.move")
    check_exist(env, "account.move", active)
    ids = _command_ids(vals["move_ids"]) if "move_ids" in vals else active
    check_exist(env, "account.move", ids)
    if any(moves[i]["state"] != "posted" for i in set(active) | set(ids)):
        raise UserError("You can only reverse posted moves.")
    companies = sorted({moves[i]["company_id"] for i in ids})
    if len(companies) > 1:
        raise ValueError(f"Expected singleton: res.company({', '.join(map(str, companies))})")
    ids = sort_ids(env.sim, "account.move", ids, env.sim.specs["account.move"].order)
    vals["move_ids"] = [(6, 0, ids)]
    users = _records(env, "res.users")
    vals["company_id"] = companies[0] if companies else users[env.uid]["company_id"] or 1
    vals.setdefault("date", env.now[:10])
    if not vals.get("journal_id") and ids:
        vals["journal_id"] = moves[ids[0]]["journal_id"]


DEFAULTS = {
    "sale.advance.payment.inv": _advance_defaults,
    "account.move.reversal": _reversal_defaults,
}


def _one(env, model, ids) -> dict:
    if len(ids) != 1:
        raise ValueError(f"Expected singleton: {model}({', '.join(map(str, ids))})")
    return _records(env, model)[ids[0]]


# -- sale.advance.payment.inv ---------------------------------------------------------------------
NOTHING_TO_INVOICE = (
    "Cannot create an invoice. No items are available to invoice.\n\n"
    "To resolve this issue, please ensure that:\n"
    "   \u2022 The products have been delivered before attempting to invoice them.\n"
    "   \u2022 The invoicing policy of the product is configured correctly.\n\n"
    "If you want to invoice based on ordered quantities instead:\n"
    "   \u2022 For consumable or storable products, open the product, go to the 'Sales' tab and change "
    "the 'Invoicing Policy' from 'Delivered Quantities' to 'Ordered Quantities'.\n"
    "   \u2022 For services (and other products), change the 'Invoicing Policy' to 'Prepaid/Fixed Price'.\n"
)


def create_invoices(env, ids):
    """Invoice what the selected orders have to invoice; answer the action showing the invoices."""
    wizard = _one(env, "sale.advance.payment.inv", ids)
    if wizard["advance_payment_method"] != "delivered":
        raise UserError(
            f"Down payments ({wizard['advance_payment_method']!r}) are not simulated: "
            "use advance_payment_method 'delivered' (Regular invoice)."
        )
    order_ids = wizard["sale_order_ids"]
    invoices = _create_invoices(env, order_ids, grouped=not wizard["consolidated_billing"])
    return _invoices_action(env, order_ids, invoices)


def _create_invoices(env, order_ids, grouped: bool) -> list[int]:
    """sale.order._create_invoices: invoice values per order, merged per (company, invoice address)
    unless ``grouped`` (one invoice per order), then created as drafts."""
    from .orm import create, sort_ids

    sim = env.sim
    orders = _records(env, "sale.order")
    lines = sim.store["sale.order.line"]
    taxes, uom = sim.fname("sale.order.line", "tax_id"), sim.fname("sale.order.line", "product_uom")
    per_order = []
    sequence = 0
    for order_id in sort_ids(sim, "sale.order", order_ids, sim.specs["sale.order"].order):
        order = orders[order_id]
        commands, pending_section = [], None
        for line_id in sort_ids(sim, "sale.order.line", lines.referrers("order_id", order_id), "sequence, id"):
            line = lines.records[line_id]
            if line["display_type"] == "line_section":
                pending_section = line
                continue
            if line["display_type"] != "line_note" and not line["qty_to_invoice"] > 0:
                continue
            for picked in (pending_section, line) if pending_section else (line,):
                commands.append((0, 0, _invoice_line_vals(picked, sequence, taxes, uom)))
                sequence += 1
            pending_section = None
        if not any(vals["display_type"] == "product" for _c, _i, vals in commands):
            continue
        per_order.append((order, commands))
    if not per_order:
        raise UserError(NOTHING_TO_INVOICE)
    groups: dict[tuple, list] = {}
    for order, commands in per_order:
        key = (order["id"],) if grouped else (order["company_id"], order["partner_invoice_id"] or order["partner_id"])
        groups.setdefault(key, []).append((order, commands))
    if len(groups) < len(order_ids):  # fewer invoices than orders: lines renumbered 1, 2, ... per invoice
        for members in groups.values():
            for n, (_c, _i, vals) in enumerate((c for _o, cmds in members for c in cmds), start=1):
                vals["sequence"] = n
    invoices = []
    for key in groups if grouped else sorted(groups):  # merged ones by company and customer
        members = groups[key]
        first = members[0][0]
        origins = [o["name"] for o in sorted((o for o, _c in members), key=lambda o: o["id"])]
        refs = [o["client_order_ref"] for o, _c in members if o["client_order_ref"]]
        vals = dict(
            move_type="out_invoice",
            partner_id=first["partner_invoice_id"] or first["partner_id"],
            company_id=first["company_id"],
            invoice_origin=", ".join(dict.fromkeys(origins)),
            ref=", ".join(dict.fromkeys(refs)),
            invoice_user_id=first["user_id"],
            team_id=first["team_id"],
            invoice_payment_term_id=first["payment_term_id"],
            invoice_line_ids=[c for _o, cmds in members for c in cmds],
        )
        invoices.append(create(env, "account.move", vals))
    return invoices


def _invoice_line_vals(line, sequence, taxes_field, uom_field) -> dict:
    """sale.order.line._prepare_invoice_line."""
    return {
        "display_type": line["display_type"] or "product",
        "sequence": sequence,
        "name": line["name"],
        "product_id": line["product_id"],
        "product_uom_id": line[uom_field],
        "quantity": line["qty_to_invoice"],
        "discount": line["discount"],
        "price_unit": line["price_unit"],
        "tax_ids": [(6, 0, list(line[taxes_field]))],
        "sale_line_ids": [(4, line["id"])],
    }


def _invoices_action(env, order_ids, invoices) -> dict:
    """sale.order.action_view_invoice(invoices)."""
    list_view = "list" if env.sim.major >= 18 else "tree"
    views = [list_view, "kanban", "form", "activity"]
    action = {
        "name": "Invoices",
        "type": "ir.actions.act_window",
        "res_model": "account.move",
        "view_mode": ",".join(views),
        "target": "current",
        "domain": "[('move_type', '=', 'out_invoice')]",
    }
    if len(invoices) > 1:
        action["domain"] = [("id", "in", list(invoices))]
        action["views"] = [[False, view] for view in views]
    else:
        action["views"] = [[False, "form"]] + [[False, view] for view in views if view != "form"]
        action["res_id"] = invoices[0]
    context = {"default_move_type": "out_invoice"}
    if len(order_ids) == 1:
        order = _records(env, "sale.order")[order_ids[0]]
        context.update(
            default_partner_id=order["partner_id"],
            default_partner_shipping_id=order["partner_shipping_id"] or False,
            default_invoice_payment_term_id=order["payment_term_id"] or False,
            default_invoice_origin=order["name"],
        )
    action["context"] = context
    return action


# -- account.move.reversal ------------------------------------------------------------------------
def refund_moves(env, ids):
    """A draft credit note per selected move (posted at once for journal entries)."""
    return _reverse_moves(env, ids, is_modify=False)


def modify_moves(env, ids):
    """Cancel each move by a posted reversal, then give a new draft copy of it to correct."""
    return _reverse_moves(env, ids, is_modify=True)


def _reverse_moves(env, ids, is_modify: bool) -> dict:
    from .accounting import unreconcile
    from .actions import action_post
    from .orm import write_raw

    wizard = _one(env, "account.move.reversal", ids)
    moves = _records(env, "account.move")
    today = env.now[:10]
    reverse_date = wizard["date"] or today
    redirect = []
    for move_id in list(wizard["move_ids"]):
        move = moves[move_id]
        name = move["name"]
        ref = f"Reversal of: {name}, {wizard['reason']}" if wizard["reason"] else f"Reversal of: {name}"
        is_invoice = move["move_type"] in INVOICE_TYPES
        defaults = dict(
            move_type=REVERSE_TYPE[move["move_type"]],
            reversed_entry_id=move_id,
            partner_id=move["partner_id"],
            ref=ref,
            date=reverse_date,
            invoice_date=(reverse_date or move["date"]) if is_invoice else False,
            journal_id=wizard["journal_id"],
            invoice_payment_term_id=False,
            invoice_user_id=move["invoice_user_id"],
        )
        cancel = reverse_date <= today and (is_modify or move["move_type"] == "entry")
        if cancel:
            unreconcile(env, move_id)  # the original's payments go back to outstanding
        reverse = _copy_move(env, move_id, defaults, reverse=True)
        if cancel:
            action_post(env, [reverse])  # reconciles the reversal with the original
        if is_modify:
            redirect.append(_copy_move(env, move_id, {"date": reverse_date}, reverse=False))
        else:
            redirect.append(reverse)
    write_raw(env, "account.move.reversal", wizard["id"], {"new_move_ids": redirect})
    return _moves_action(env, redirect)


def _copy_move(env, move_id, defaults, reverse: bool) -> int:
    """account.move.copy with include_business_fields: the move's lines with their sale links
    (tax and payment term lines are rebuilt by the new move)."""
    from .orm import create

    sim = env.sim
    move = _records(env, "account.move")[move_id]
    amls = sim.store["account.move.line"]
    vals = {fname: move[fname] for fname in COPIED_MOVE_FIELDS}
    vals.update(defaults)
    is_invoice = move["move_type"] in INVOICE_TYPES
    commands = []
    for line_id in sorted(amls.referrers("move_id", move_id)):
        line = amls.records[line_id]
        if is_invoice and line["display_type"] not in INVOICE_LINE_TYPES:
            continue
        line_vals = {fname: line[fname] for fname in COPIED_LINE_FIELDS}
        line_vals["tax_ids"] = [(6, 0, list(line["tax_ids"]))]
        line_vals["sale_line_ids"] = [(6, 0, list(line["sale_line_ids"]))]
        if line["display_type"] in ("line_section", "line_note"):
            line_vals.pop("account_id")
        if not is_invoice:
            debit, credit = (line["credit"], line["debit"]) if reverse else (line["debit"], line["credit"])
            line_vals.update(debit=debit, credit=credit, partner_id=line["partner_id"])
            line_vals.update(date_maturity=line["date_maturity"])
        commands.append((0, 0, line_vals))
    vals["invoice_line_ids" if is_invoice else "line_ids"] = commands
    return create(env, "account.move", vals)


def _moves_action(env, move_ids) -> dict:
    moves = _records(env, "account.move")
    action = {"name": "Reverse Moves", "type": "ir.actions.act_window", "res_model": "account.move"}
    types = sorted({moves[m]["move_type"] for m in move_ids})
    if len(move_ids) == 1:
        action.update(view_mode="form", res_id=move_ids[0], context={"default_move_type": types[0]})
    else:
        list_view = "list" if env.sim.major >= 18 else "tree"
        action.update(view_mode=f"{list_view},form", domain=[("id", "in", list(move_ids))])
        if len(types) == 1:
            action["context"] = {"default_move_type": types[0]}
    return action


ACTIONS = {
    ("sale.advance.payment.inv", "create_invoices"): create_invoices,
    ("account.move.reversal", "refund_moves"): refund_moves,
    ("account.move.reversal", "modify_moves"): modify_moves,
}
