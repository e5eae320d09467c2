"""Payments as a real Odoo 17 / 19 makes them:

- ``account.payment``: ``create`` (payment_type inbound/outbound, partner_type customer/supplier,
  partner, amount, date, bank journal, memo), then ``action_post`` creates and posts its journal
  entry (``move_id``, move_type ``entry``): the liquidity line on the journal's bank account and the
  counterpart on the partner's receivable (customer) or payable (supplier) account, dated the
  payment's date. Nothing is reconciled: an unmatched customer payment is an outstanding credit on
  the receivable account until something matches it.
- ``account.payment.register`` ("Register Payment" on posted invoices or bills): ``create`` with
  the moves in the context (``active_model='account.move'``, ``active_ids``), then
  ``action_create_payments``: one posted payment for the selected open instalments, reconciled with
  them oldest due first; an amount below what is open leaves the rest open (``payment_difference_
  handling='open'``, Odoo's default).

Odoo 17 names the memo ``ref`` and a payment's state is its move's (draft/posted/cancel); Odoo 19
names it ``memo``, links the move back through ``origin_payment_id`` and posts a payment whose
outstanding account is the bank account straight to ``paid``.
"""

from __future__ import annotations

from . import compute
from .errors import UserError
from .models import PAYMENT_STATES_17, SPECS, F, _register, _spec

PAYMENT_TYPES = [("outbound", "Send"), ("inbound", "Receive")]
PARTNER_TYPES = [("customer", "Customer"), ("supplier", "Vendor")]
DIFFERENCE_HANDLING = [("open", "Keep open"), ("reconcile", "Mark as fully paid")]
COUNTERPART_TYPE = {"customer": "asset_receivable", "supplier": "liability_payable"}


def _payment_display(sim, rec):
    name = rec.get("name")
    return name if name and name != "/" else "Draft Payment"


_register(
    _spec(
        "account.payment",
        "Payments",
        [
            F("name", "char", "Number", readonly=True),
            F("state", "selection", "Status", selection=PAYMENT_STATES_17, default="draft", readonly=True),
            F("payment_type", "selection", "Payment Type", selection=PAYMENT_TYPES, default="inbound", required=True),
            F("partner_type", "selection", selection=PARTNER_TYPES, default="customer"),
            F("partner_id", "many2one", "Customer/Vendor", relation="res.partner"),
            F("amount", "monetary", "Amount"),
            F("date", "date", "Date", required=True),
            F("journal_id", "many2one", "Journal", relation="account.journal"),
            F("company_id", "many2one", "Company", relation="res.company"),
            F("ref", "char", "Memo"),
            F("payment_reference", "char", "Payment Reference"),
            F("move_id", "many2one", "Journal Entry", relation="account.move", readonly=True),
            F("destination_account_id", "many2one", "Destination Account", relation="account.account"),
            F(
                "outstanding_account_id",
                "many2one",
                "Outstanding Account",
                relation="account.account",
                computed=True,
            ),
            F("amount_company_currency_signed", "monetary", computed=True),
            F("is_reconciled", "boolean", "Is Reconciled", store=False, computed=True),
            F("is_matched", "boolean", "Is Matched With a Bank Statement", store=False, computed=True),
            F("reconciled_invoice_ids", "many2many", "Reconciled Invoices", relation="account.move", store=False),
            F("reconciled_bill_ids", "many2many", "Reconciled Bills", relation="account.move", store=False),
        ],
        order="date desc, name desc",
        display=_payment_display,
        admin_only=True,
    )
)
_register(
    _spec(
        "account.payment.register",
        "Pay",
        [
            F("payment_date", "date", "Payment Date", required=True),
            F("amount", "monetary", "Amount"),
            F("communication", "char", "Memo"),
            F("group_payment", "boolean", "Group Payments", default=True),
            F("journal_id", "many2one", "Journal", relation="account.journal", required=True),
            F("company_id", "many2one", "Company", relation="res.company", readonly=True),
            F("partner_id", "many2one", "Customer/Vendor", relation="res.partner", readonly=True),
            F("payment_type", "selection", "Payment Type", selection=PAYMENT_TYPES, readonly=True),
            F("partner_type", "selection", selection=PARTNER_TYPES, readonly=True),
            F("source_amount", "monetary", "Amount to Pay (company currency)", readonly=True),
            F("payment_difference", "monetary", store=False, computed=True),
            F(
                "payment_difference_handling",
                "selection",
                "Payment Difference Handling",
                selection=DIFFERENCE_HANDLING,
                default="open",
            ),
            F("line_ids", "many2many", "Journal items", relation="account.move.line", readonly=True),
        ],
        order="id",
        display=lambda sim, rec: f"account.payment.register,{rec['id']}",
    )
)


# the entry a payment posted and its journal items point back to it
SPECS["account.move"].fields["payment_id"] = F("payment_id", "many2one", "Payment", relation="account.payment")
SPECS["account.move.line"].fields["payment_id"] = F(
    "payment_id", "many2one", "Originator Payment", relation="account.payment"
)


def _records(env, model):
    return env.sim.store[model].records


def posted_state(sim) -> str:
    """A posted payment's state: its move's in Odoo 17, 'paid' in Odoo 19 (bank outstanding account)."""
    return "paid" if sim.major >= 19 else "posted"


# -- non-stored computed fields -------------------------------------------------------------------
def counterpart_lines(sim, payment_id) -> list[int]:
    """The payment's journal items on its receivable/payable account."""
    payment = sim.store["account.payment"].records[payment_id]
    if not payment["move_id"]:
        return []
    amls = sim.store["account.move.line"]
    account = payment["destination_account_id"]
    return sorted(i for i in amls.referrers("move_id", payment["move_id"]) if amls.records[i]["account_id"] == account)


def _is_reconciled(sim, payment_id) -> bool:
    lines = counterpart_lines(sim, payment_id)
    amls = sim.store["account.move.line"].records
    return bool(lines) and all(compute.money(amls[i]["amount_residual"]) == 0 for i in lines)


def _is_matched(sim, payment_id) -> bool:
    """Liquidity on the bank account itself: nothing left to match with a bank statement."""
    payment = sim.store["account.payment"].records[payment_id]
    return bool(payment["move_id"]) and payment["outstanding_account_id"] is not None


def _matched_moves(sim, payment_id, types) -> list[int]:
    store = sim.store
    partials, amls = store["account.partial.reconcile"], store["account.move.line"].records
    moves = store["account.move"].records
    found = set()
    for line_id in counterpart_lines(sim, payment_id):
        for p in partials.referrers("debit_move_id", line_id):
            found.add(amls[partials.records[p]["credit_move_id"]]["move_id"])
        for p in partials.referrers("credit_move_id", line_id):
            found.add(amls[partials.records[p]["debit_move_id"]]["move_id"])
    return sorted(m for m in found if moves[m]["move_type"] in types)


def _payment_difference(sim, wizard_id) -> float:
    wizard = sim.store["account.payment.register"].records[wizard_id]
    return compute.money(wizard["source_amount"] - wizard["amount"])


compute.NONSTORED.update(
    {
        ("account.payment", "is_reconciled"): _is_reconciled,
        ("account.payment", "is_matched"): _is_matched,
        ("account.payment", "reconciled_invoice_ids"): lambda sim, i: _matched_moves(
            sim, i, ("out_invoice", "out_refund")
        ),
        ("account.payment", "reconciled_bill_ids"): lambda sim, i: _matched_moves(sim, i, ("in_invoice", "in_refund")),
        ("account.payment.register", "payment_difference"): _payment_difference,
    }
)


# -- defaults -------------------------------------------------------------------------------------
def _payment_defaults(env, vals) -> None:
    from .accounting import company_account, company_journal

    journals = _records(env, "account.journal")
    if vals.get("journal_id"):
        vals.setdefault("company_id", journals[vals["journal_id"]]["company_id"])
    company = vals.get("company_id") or _records(env, "res.users")[env.uid]["company_id"] or 1
    vals["company_id"] = company
    if not vals.get("journal_id"):
        vals["journal_id"] = company_journal(env, company, "bank")
    vals.setdefault("date", env.now[:10])
    vals.setdefault("payment_type", "inbound")
    vals.setdefault("partner_type", "customer")
    if not vals.get("destination_account_id"):
        vals["destination_account_id"] = company_account(env, company, COUNTERPART_TYPE[vals["partner_type"]])
    vals["name"] = "/"


def _register_defaults(env, vals) -> None:
    """``default_get`` of the Register Payment wizard: the open instalments of the selected moves."""
    from .accounting import company_journal
    from .orm import check_exist
    from .wizards import _active_ids, _command_ids

    amls, moves = _records(env, "account.move.line"), _records(env, "account.move")
    if "line_ids" in vals:
        lines = _command_ids(vals["line_ids"])
        check_exist(env, "account.move.line", lines)
    elif env.context.get("active_model") == "account.move.line":
        lines = _active_ids(env, "account.move.line")
        check_exist(env, "account.move.line", lines)
    else:
        active = _active_ids(env, "account.move")
        check_exist(env, "account.move", active)
        if not active:
            raise UserError(
                "The register payment wizard should only be called on account.move or account.move.line records."
            )
        if any(moves[m]["state"] != "posted" for m in active):
            raise UserError("You can only register payment for posted journal entries.")
        lines = [
            i
            for m in sorted(active)
            for i in sorted(env.sim.store["account.move.line"].referrers("move_id", m))
            if amls[i]["display_type"] == "payment_term"
        ]
    accounts = _records(env, "account.account")
    lines = [
        i
        for i in lines
        if amls[i]["amount_residual"] and accounts[amls[i]["account_id"]]["account_type"] in COUNTERPART_TYPE.values()
    ]
    if not lines:
        raise UserError(
            "You can't register a payment because there is nothing left to pay on the selected journal items."
        )
    companies = {amls[i]["company_id"] for i in lines}
    if len(companies) > 1:
        raise UserError("You can't create payments for entries belonging to different companies.")
    partners = {moves[amls[i]["move_id"]]["commercial_partner_id"] or amls[i]["partner_id"] for i in lines}
    if len(partners) > 1:
        raise UserError("The simulator registers one payment at a time: select the entries of one partner.")
    types = {accounts[amls[i]["account_id"]]["account_type"] for i in lines}
    if len(types) > 1:
        raise UserError("You can't register payments for both inbound and outbound moves at the same time.")
    residual = compute.money(sum(amls[i]["amount_residual"] for i in lines))
    company = companies.pop()
    vals["line_ids"] = [(6, 0, sorted(lines))]
    vals["company_id"] = company
    vals["partner_id"] = partners.pop()
    vals["payment_type"] = "inbound" if residual > 0 else "outbound"
    vals["partner_type"] = "customer" if types.pop() == "asset_receivable" else "supplier"
    vals["source_amount"] = abs(residual)
    if not vals.get("amount"):
        vals["amount"] = abs(residual)
    vals.setdefault("payment_date", env.now[:10])
    if not vals.get("journal_id"):
        vals["journal_id"] = company_journal(env, company, "bank")
    if "communication" not in vals:
        names = dict.fromkeys(moves[amls[i]["move_id"]]["name"] for i in sorted(lines))
        vals["communication"] = " ".join(names)


DEFAULTS = {"account.payment": _payment_defaults, "account.payment.register": _register_defaults}


# -- account.payment actions ----------------------------------------------------------------------
def action_post(env, ids):
    """Create and post each draft payment's journal entry (liquidity line, then counterpart)."""
    from . import actions
    from .orm import create, write_raw

    sim = env.sim
    payments = _records(env, "account.payment")
    accounts, journals = _records(env, "account.account"), _records(env, "account.journal")
    for payment_id in ids:
        payment = payments[payment_id]
        if payment["state"] != "draft":
            raise UserError("Only a draft payment can be posted.")
        if compute.money(payment["amount"]) <= 0:
            raise UserError("The payment amount must be strictly positive.")
        if not payment["partner_id"]:
            raise UserError("A payment needs a customer or vendor to be posted.")
        if journals[payment["journal_id"]]["type"] not in ("bank", "cash"):
            raise UserError("A payment must always belong to a bank or cash journal.")
    memo_field = sim.fname("account.payment", "ref")
    link_field = sim.fname("account.move", "payment_id")
    for payment_id in ids:
        payment = payments[payment_id]
        if payment["move_id"]:  # reset to draft before: its entry is posted again
            actions.action_post(env, [payment["move_id"]])
            write_raw(env, "account.payment", payment_id, {"state": posted_state(sim)})
            continue
        amount = compute.money(payment["amount"])
        liquidity = journals[payment["journal_id"]]["default_account_id"]
        counterpart = payment["destination_account_id"]
        if accounts[counterpart]["account_type"] not in COUNTERPART_TYPE.values():
            raise UserError("The destination account of a payment must be a receivable or payable account.")
        inbound = payment["payment_type"] == "inbound"
        label = payment["payment_reference"] or payment[memo_field] or None
        partner = payment["partner_id"]
        side, other = ("debit", "credit") if inbound else ("credit", "debit")
        lines = [
            (0, 0, {"account_id": liquidity, side: amount, "partner_id": partner, "name": label}),
            (
                0,
                0,
                {
                    "account_id": counterpart,
                    other: amount,
                    "partner_id": partner,
                    "name": label,
                    "date_maturity": payment["date"],
                },
            ),
        ]
        move = create(
            env,
            "account.move",
            {
                "move_type": "entry",
                "journal_id": payment["journal_id"],
                "date": payment["date"],
                "partner_id": partner,
                "ref": payment[memo_field] or False,
                "line_ids": lines,
                link_field: payment_id,
            },
        )
        amls = sim.store["account.move.line"]
        for line_id in sorted(amls.referrers("move_id", move)):
            write_raw(env, "account.move.line", line_id, {"payment_id": payment_id})
        actions.action_post(env, [move])
        write_raw(
            env,
            "account.payment",
            payment_id,
            {
                "move_id": move,
                "state": posted_state(sim),
                "name": _records(env, "account.move")[move]["name"],
                "outstanding_account_id": liquidity,
                "amount_company_currency_signed": amount if inbound else -amount,
            },
        )
    return True


def action_draft(env, ids):
    """Back to draft: its entry too, unmatched from what it paid (which is open again)."""
    from . import actions
    from .orm import write_raw

    payments = _records(env, "account.payment")
    moves = _records(env, "account.move")
    for payment_id in ids:
        move_id = payments[payment_id]["move_id"]
        if move_id and moves[move_id]["state"] != "draft":
            actions.button_draft(env, [move_id])
        write_raw(env, "account.payment", payment_id, {"state": "draft"})
    return True


def action_cancel(env, ids):
    from . import actions
    from .orm import write_raw

    payments = _records(env, "account.payment")
    moves = _records(env, "account.move")
    cancelled = "canceled" if env.sim.major >= 19 else "cancel"
    for payment_id in ids:
        move_id = payments[payment_id]["move_id"]
        if move_id and moves[move_id]["state"] == "posted":
            actions.button_draft(env, [move_id])
        if move_id:
            actions.button_cancel(env, [move_id])
        write_raw(env, "account.payment", payment_id, {"state": cancelled})
    return True


# -- account.payment.register ---------------------------------------------------------------------
def action_create_payments(env, ids):
    """One posted payment of the wizard's amount, reconciled with its open lines oldest due first."""
    from .accounting import reconcile
    from .orm import create
    from .wizards import _one

    wizard = _one(env, "account.payment.register", ids)
    amls = _records(env, "account.move.line")
    amount = compute.money(wizard["amount"])
    if amount <= 0:
        raise UserError("The payment amount must be strictly positive.")
    if wizard["payment_difference_handling"] != "open":
        raise UserError("Write-offs are not simulated: keep the difference open (payment_difference_handling 'open').")
    vals = {
        "payment_type": wizard["payment_type"],
        "partner_type": wizard["partner_type"],
        "partner_id": wizard["partner_id"],
        "amount": amount,
        "date": wizard["payment_date"],
        "journal_id": wizard["journal_id"],
        "company_id": wizard["company_id"],
        "payment_reference": wizard["communication"] or False,
        env.sim.fname("account.payment", "ref"): wizard["communication"] or False,
        "destination_account_id": amls[wizard["line_ids"][0]]["account_id"],
    }
    payment = create(env, "account.payment", vals)
    action_post(env, [payment])
    compute.flush(env)  # the payment's lines get their residuals before matching
    ours = counterpart_lines(env.sim, payment)
    open_lines = [i for i in wizard["line_ids"] if amls[i]["amount_residual"]]
    if wizard["payment_type"] == "inbound":
        reconcile(env, open_lines, ours)
    else:
        reconcile(env, ours, open_lines)
    if env.context.get("dont_redirect_to_payments"):
        return True
    return {
        "name": "Payments",
        "type": "ir.actions.act_window",
        "res_model": "account.payment",
        "context": {"create": False},
        "view_mode": "form",
        "res_id": payment,
    }


ACTIONS = {
    ("account.payment", "action_post"): action_post,
    ("account.payment", "action_draft"): action_draft,
    ("account.payment", "action_cancel"): action_cancel,
    ("account.payment.register", "action_create_payments"): action_create_payments,
}
