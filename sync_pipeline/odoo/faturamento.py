"""What the faturamento graph reads from Odoo (real field names, DESIGN §4) and how.

One slice = one empreendimento (company) and a range of partition dates. Calls per slice: one
search + one read per page for moves, refunds and lines, then one batched read per related model
(products, partners, states) — never one call per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sync_pipeline.domain.faturamento import StagedInvoices, m2o_id, stage_invoice_lines
from sync_pipeline.odoo.client import OdooClient

MOVE_FIELDS = [
    "name",
    "move_type",
    "state",
    "invoice_date",
    "date",
    "invoice_origin",
    "partner_id",
    "company_id",
    "invoice_user_id",
    "team_id",
    "payment_state",
    "write_date",
]
REFUND_FIELDS = ["reversed_entry_id", "invoice_date", "date", "state"]
LINE_FIELDS = [
    "move_id",
    "product_id",
    "quantity",
    "price_unit",
    "price_subtotal",
    "price_total",
    "company_id",
]
PRODUCT_FIELDS = ["default_code", "name", "weight"]
PARTNER_FIELDS = ["name", "vat", "city", "state_id", "zip"]
STATE_FIELDS = ["code"]


def _date_domain(field: str, first: date | None, last: date) -> list:
    leaves: list = [(field, "<=", last.isoformat())]
    if first is not None:
        leaves = ["&", (field, ">=", first.isoformat()), *leaves]
    return leaves


def invoice_domain(company_id: int, first: date | None, last: date) -> list:
    """Customer invoices of a company whose partition date falls in [first, last].

    A draft has no invoice_date yet: its accounting ``date`` decides. ``first`` None means
    "everything up to ``last``" (the first partition owns older documents).
    """
    return [
        ("company_id", "=", company_id),
        ("move_type", "=", "out_invoice"),
        "|",
        "&",
        ("invoice_date", "=", False),
        *_date_domain("date", first, last),
        *_date_domain("invoice_date", first, last),
    ]


@dataclass
class InvoiceSlice:
    staged: StagedInvoices
    moves: int
    lines: int


def extract_invoices(
    client: OdooClient,
    *,
    empreendimento: str,
    company_id: int,
    first: date | None,
    last: date,
    partition_day_of,
) -> InvoiceSlice:
    moves = client.fetch_all("account.move", invoice_domain(company_id, first, last), MOVE_FIELDS)
    move_ids = [int(m["id"]) for m in moves]
    refunds: list[dict] = []
    lines: list[dict] = []
    if move_ids:
        refunds = client.fetch_all(
            "account.move",
            [
                ("move_type", "=", "out_refund"),
                ("state", "=", "posted"),
                ("reversed_entry_id", "in", move_ids),
            ],
            REFUND_FIELDS,
        )
        lines = client.fetch_all(
            "account.move.line",
            [("move_id", "in", move_ids), ("display_type", "=", "product")],
            LINE_FIELDS,
        )
    products = client.read_related(
        "product.product",
        {m2o_id(x.get("product_id")) for x in lines} - {None},
        PRODUCT_FIELDS,
    )
    partners = client.read_related(
        "res.partner",
        {m2o_id(m.get("partner_id")) for m in moves} - {None},
        PARTNER_FIELDS,
    )
    states = client.read_related(
        "res.country.state",
        {m2o_id(p.get("state_id")) for p in partners.values()} - {None},
        STATE_FIELDS,
    )
    staged = stage_invoice_lines(
        empreendimento=empreendimento,
        company_id=company_id,
        moves=moves,
        lines=lines,
        products=products,
        partners=partners,
        state_codes={sid: s.get("code") or None for sid, s in states.items()},
        refunds=refunds,
        partition_day_of=partition_day_of,
    )
    return InvoiceSlice(staged=staged, moves=len(moves), lines=len(lines))
