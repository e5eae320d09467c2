"""The simulated Odoo models: their fields (real technical names), default orders and display names."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from .fields import Field

F = Field

SALE_STATES = [
    ("draft", "Quotation"),
    ("sent", "Quotation Sent"),
    ("sale", "Sales Order"),
    ("cancel", "Cancelled"),
]
MOVE_TYPES = [
    ("entry", "Journal Entry"),
    ("out_invoice", "Customer Invoice"),
    ("out_refund", "Customer Credit Note"),
    ("in_invoice", "Vendor Bill"),
    ("in_refund", "Vendor Credit Note"),
]
MOVE_STATES = [("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled")]
PAYMENT_STATES = [
    ("not_paid", "Not Paid"),
    ("in_payment", "In Payment"),
    ("paid", "Paid"),
    ("partial", "Partially Paid"),
    ("reversed", "Reversed"),
    ("invoicing_legacy", "Invoicing App Legacy"),
]
PAYMENT_STATES_17 = [("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled")]  # account.payment
PAYMENT_STATES_19 = [
    ("draft", "Draft"),
    ("in_process", "In Process"),
    ("paid", "Paid"),
    ("canceled", "Canceled"),
    ("rejected", "Rejected"),
]
INVOICE_STATUS = [
    ("upselling", "Upselling Opportunity"),
    ("invoiced", "Fully Invoiced"),
    ("to invoice", "To Invoice"),
    ("no", "Nothing to Invoice"),
]
ACCOUNT_TYPES = [
    ("asset_receivable", "Receivable"),
    ("asset_cash", "Bank and Cash"),
    ("asset_current", "Current Assets"),
    ("liability_payable", "Payable"),
    ("liability_current", "Current Liabilities"),
    ("income", "Income"),
    ("expense", "Expenses"),
]
LINE_DISPLAY_TYPES = [
    ("product", "Product"),
    ("cogs", "Cost of Goods Sold"),
    ("tax", "Tax"),
    ("discount", "Discount"),
    ("rounding", "Rounding"),
    ("payment_term", "Payment Term"),
    ("line_section", "Section"),
    ("line_note", "Note"),
    ("epd", "Early Payment Discount"),
]
INVOICE_LINE_TYPES = ("product", "line_section", "line_note")


@dataclass
class ModelSpec:
    name: str
    description: str
    fields: dict[str, Field]
    order: str = "id"
    display: Callable | None = None  # (sim, raw record) -> str
    admin_only: bool = False  # other users get AccessError


def _magic(model: str) -> list[Field]:
    return [
        F("id", "integer", "ID", readonly=True),
        F("display_name", "char", "Display Name", store=False, computed=True),
        F("create_date", "datetime", "Created on", readonly=True),
        F("write_date", "datetime", "Last Updated on", readonly=True),
        F("create_uid", "many2one", "Created by", relation="res.users", readonly=True),
        F("write_uid", "many2one", "Last Updated by", relation="res.users", readonly=True),
    ]


def _spec(name, description, fields, **kw) -> ModelSpec:
    all_fields = {f.name: f for f in _magic(name) + fields}
    return ModelSpec(name, description, all_fields, **kw)


def _by_name(sim, rec):
    return rec.get("name") or ""


def _product_display(sim, rec):
    code = rec.get("default_code")
    return f"[{code}] {rec['name']}" if code else rec["name"]


def _account_display(sim, rec):
    return f"{rec['code']} {rec['name']}"


_DRAFT_LABELS = {
    "out_invoice": "Draft Invoice",
    "out_refund": "Draft Credit Note",
    "in_invoice": "Draft Bill",
    "in_refund": "Draft Vendor Credit Note",
    "entry": "Draft Entry",
}


def _move_display(sim, rec):
    prefix = _DRAFT_LABELS[rec["move_type"]] + " " if rec["state"] == "draft" else ""
    name = rec.get("name")
    return prefix + (f"(* {rec['id']})" if not name or name == "/" else name)


def _move_line_display(sim, rec):
    move = sim.store["account.move"].get(rec["move_id"])
    parts = [move.get("name") if move else None, rec.get("name") or rec.get("ref")]
    return " ".join(p for p in parts if p and p != "/") or ""


def _order_line_display(sim, rec):
    order = sim.store["sale.order"].get(rec["order_id"])
    text = (rec.get("name") or "").split("\n")[0]
    return f"{order['name']} - {text}" if order else text


def _partial_display(sim, rec):
    return f"{rec['amount']:.2f}"


SPECS: dict[str, ModelSpec] = {}


def _register(spec: ModelSpec) -> None:
    SPECS[spec.name] = spec


_register(
    _spec(
        "res.country.state",
        "Country state",
        [F("name", "char", required=True), F("code", "char", required=True)],
        display=lambda sim, rec: f"{rec['name']} (BR)",
    )
)
_register(
    _spec(
        "res.company",
        "Companies",
        [
            F("name", "char", "Company Name", required=True),
            F("vat", "char", "Tax ID"),
            F("partner_id", "many2one", "Partner", relation="res.partner"),
            F("city", "char"),
            F("state_id", "many2one", "Fed. State", relation="res.country.state"),
        ],
        order="sequence, name",
        display=_by_name,
    )
)
SPECS["res.company"].fields["sequence"] = F("sequence", "integer", default=10)
_register(
    _spec(
        "res.partner",
        "Contact",
        [
            F("name", "char"),
            F("vat", "char", "Tax ID"),
            F("street", "char"),
            F("city", "char"),
            F("state_id", "many2one", "State", relation="res.country.state"),
            F("zip", "char"),
            F("email", "char"),
            F("is_company", "boolean", "Is a Company"),
            F("company_id", "many2one", "Company", relation="res.company"),
            F("customer_rank", "integer"),
            F("supplier_rank", "integer"),
            F("active", "boolean", default=True),
        ],
        order="name, id desc",
        display=_by_name,
        admin_only=True,
    )
)
_register(
    _spec(
        "res.users",
        "User",
        [
            F("name", "char", required=True),
            F("login", "char", required=True),
            F("company_id", "many2one", "Company", relation="res.company"),
            F("active", "boolean", default=True),
        ],
        order="name, login",
        display=_by_name,
    )
)
_register(
    _spec(
        "crm.team",
        "Sales Team",
        [
            F("name", "char", required=True),
            F("company_id", "many2one", "Company", relation="res.company"),
            F("user_id", "many2one", "Team Leader", relation="res.users"),
        ],
        order="sequence ASC, create_date DESC, id DESC",
        display=_by_name,
    )
)
SPECS["crm.team"].fields["sequence"] = F("sequence", "integer", default=10)
_register(
    _spec(
        "account.tax",
        "Tax",
        [
            F("name", "char", required=True),
            F("amount", "float"),
            F(
                "amount_type",
                "selection",
                selection=[("percent", "Percentage of Price")],
                default="percent",
            ),
            F(
                "type_tax_use",
                "selection",
                selection=[("sale", "Sales"), ("purchase", "Purchases"), ("none", "None")],
                default="sale",
            ),
            F("company_id", "many2one", "Company", relation="res.company"),
        ],
        order="sequence,id",
        display=_by_name,
        admin_only=True,
    )
)
SPECS["account.tax"].fields["sequence"] = F("sequence", "integer", default=1)
_register(
    _spec(
        "uom.uom",
        "Product Unit of Measure",
        [F("name", "char", "Unit", required=True), F("active", "boolean", default=True)],
        order="sequence, id",
        display=_by_name,
    )
)
SPECS["uom.uom"].fields["sequence"] = F("sequence", "integer", default=10)
_register(
    _spec(
        "product.product",
        "Product Variant",
        [
            F("default_code", "char", "Internal Reference"),
            F("name", "char", required=True),
            F("weight", "float"),
            F("list_price", "float", "Sales Price"),
            F("taxes_id", "many2many", "Customer Taxes", relation="account.tax"),
            F("type", "selection", selection=[("consu", "Goods"), ("service", "Service")]),
            F("barcode", "char"),
            F("uom_id", "many2one", "Unit", relation="uom.uom", default=1),
            F("active", "boolean", default=True),
        ],
        order="default_code, name, id",
        display=_product_display,
    )
)
_register(
    _spec(
        "account.payment.term",
        "Payment Terms",
        [
            F("name", "char", required=True),
            F(
                "line_ids",
                "one2many",
                "Terms",
                relation="account.payment.term.line",
                inverse_name="payment_id",
            ),
        ],
        order="sequence, id",
        display=_by_name,
    )
)
SPECS["account.payment.term"].fields["sequence"] = F("sequence", "integer", default=10)
_register(
    _spec(
        "account.payment.term.line",
        "Payment Terms Line",
        [
            F("payment_id", "many2one", "Payment Terms", relation="account.payment.term"),
            F("value", "selection", selection=[("percent", "Percent")], default="percent"),
            F("value_amount", "float", "Value"),
            F("nb_days", "integer", "Days"),
        ],
        order="id",
        display=lambda sim, rec: f"{rec['value_amount']}% {rec['nb_days']}d",
    )
)
_register(
    _spec(
        "account.account",
        "Account",
        [
            F("code", "char", required=True),
            F("name", "char", required=True),
            F("account_type", "selection", "Type", selection=ACCOUNT_TYPES, required=True),
            F("reconcile", "boolean", "Allow Reconciliation"),
            F("company_id", "many2one", "Company", relation="res.company"),
        ],
        order="code, company_id",
        display=_account_display,
        admin_only=True,
    )
)
_register(
    _spec(
        "account.journal",
        "Journal",
        [
            F("name", "char", "Journal Name", required=True),
            F("code", "char", "Short Code", required=True),
            F(
                "type",
                "selection",
                selection=[
                    ("sale", "Sales"),
                    ("purchase", "Purchase"),
                    ("cash", "Cash"),
                    ("bank", "Bank"),
                    ("general", "Miscellaneous"),
                ],
                required=True,
            ),
            F("company_id", "many2one", "Company", relation="res.company"),
            F("default_account_id", "many2one", relation="account.account"),
        ],
        order="sequence, type, code",
        display=_by_name,
        admin_only=True,
    )
)
SPECS["account.journal"].fields["sequence"] = F("sequence", "integer", default=10)

from . import documents, payments, wizards  # noqa: E402,F401  (register the documents, payments and wizards)

# Fields a later Odoo renamed: (model, name up to 17) -> (first major version with the new name,
# new name, new label). A simulator of that version has the new field only, as the real one.
RENAMED = {
    ("sale.order.line", "product_uom"): (19, "product_uom_id", "Unit"),
    ("sale.order.line", "tax_id"): (19, "tax_ids", "Taxes"),
    ("account.move", "reversal_move_id"): (19, "reversal_move_ids", "Reversal Move"),
    ("account.move", "payment_id"): (19, "origin_payment_id", "Payment"),
    ("account.payment", "ref"): (19, "memo", "Memo"),
}
# Selections a later Odoo changed: (model, field) -> (first major version, its selection).
RESELECTED = {("account.payment", "state"): (19, PAYMENT_STATES_19)}
_SPECS_BY_MAJOR: dict[int, dict[str, ModelSpec]] = {}


def major_version(version: str) -> int:
    """17 for "17.0", 19 for "saas~19.1" or "19.0+e"."""
    match = re.search(r"\d+", str(version))
    return int(match.group()) if match else 17


def renames_for(version: str) -> dict[tuple[str, str], str]:
    """(model, 17 name) -> this version's name, for the fields ``version`` renamed."""
    major = major_version(version)
    return {key: new for key, (since, new, _label) in RENAMED.items() if major >= since}


def specs_for(version: str) -> dict[str, ModelSpec]:
    """The models of an Odoo ``version``: SPECS (Odoo 17) with the later renames applied."""
    major = major_version(version)
    if not any(major >= since for since, _new, _label in RENAMED.values()):
        return SPECS
    specs = _SPECS_BY_MAJOR.get(major)
    if specs is None:
        specs = dict(SPECS)
        for (model, old), (since, new, label) in RENAMED.items():
            if major < since:
                continue
            spec = specs[model]
            fields = {}
            for name, fld in spec.fields.items():
                if name == old:
                    name, fld = new, dataclasses.replace(fld, name=new, string=label)
                fields[name] = fld
            specs[model] = dataclasses.replace(spec, fields=fields)
        for (model, name), (since, selection) in RESELECTED.items():
            if major >= since:
                fields = dict(specs[model].fields)
                fields[name] = dataclasses.replace(fields[name], selection=selection)
                specs[model] = dataclasses.replace(specs[model], fields=fields)
        _SPECS_BY_MAJOR[major] = specs
    return specs
