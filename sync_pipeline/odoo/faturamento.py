"""What the faturamento graph reads from Odoo (real field names, DESIGN §4) and how.

One slice = one empreendimento (company) and a range of partition dates. Calls per slice: one
search + one read per page for moves, refunds and lines, then one batched read per related model
(products, partners, states) — never one call per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sync_pipeline.db.schema import odoo_fatura_linha
from sync_pipeline.domain.faturamento import MOVE_TYPES, REFUND, StagedInvoices, stage_invoice_lines
from sync_pipeline.domain.values import column_limits, m2o_id, m2o_name
from sync_pipeline.odoo.client import OdooClient
from sync_pipeline.odoo.related import read_related_records

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
    "reversed_entry_id",
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
    "sale_line_ids",
]
REFUND_LINE_FIELDS = ["move_id", "product_id", "quantity"]
# The localisation's fiscal number, where the server has one (else the move's ``name``).
NF_NUMBER_FIELDS = ("l10n_latam_document_number", "document_number")
# Fields some versions or installations lack; every other field is required.
OPTIONAL_MOVE_FIELDS = {"invoice_user_id", "team_id", "payment_state", "reversed_entry_id"}
# What the staging table's columns hold: a line that does not fit is set aside, never truncated.
INVOICE_LINE_LIMITS = column_limits(odoo_fatura_linha)


def date_domain(field: str, first: date | None, last: date | None) -> list:
    """Odoo domain leaves for ``field`` within [first, last] (either open)."""
    leaves: list = []
    if first is not None:
        leaves.append((field, ">=", first.isoformat()))
    if last is not None:
        leaves.append((field, "<=", last.isoformat()))
    if not leaves:
        return [(field, "!=", False)] if field == "invoice_date" else [(1, "=", 1)]
    return ["&", *leaves] if len(leaves) == 2 else leaves


def invoice_domain(company_id: int, first: date | None, last: date | None) -> list:
    """Customer invoices and credit notes of a company whose partition date falls in [first, last].

    A draft has no invoice_date yet: its accounting ``date`` decides. ``first`` None means
    "everything up to ``last``" (the first partition owns older documents); ``last`` None means
    "everything from ``first`` on" (the last partition owns documents dated after today).
    """
    return [
        ("company_id", "=", company_id),
        ("move_type", "in", list(MOVE_TYPES)),
        "|",
        "&",
        ("invoice_date", "=", False),
        *date_domain("date", first, last),
        *date_domain("invoice_date", first, last),
    ]


class MissingOdooField(RuntimeError):
    """The server lacks a field the sync cannot do without."""


@dataclass(frozen=True)
class MoveFieldPlan:
    fields: list[str]
    nf_number_field: str | None


def plan_move_fields(client: OdooClient) -> MoveFieldPlan:
    """Check the server's account.move fields (``fields_get``, cached per client: once a run)."""
    available = client.fields_get("account.move")
    missing = [f for f in MOVE_FIELDS if f not in available and f not in OPTIONAL_MOVE_FIELDS]
    if missing:
        raise MissingOdooField(
            f"account.move on this Odoo server has no field(s) {', '.join(missing)}: "
            "the faturamento sync needs them (DESIGN §4)"
        )
    fields = [f for f in MOVE_FIELDS if f in available]
    nf_field = next((f for f in NF_NUMBER_FIELDS if f in available), None)
    if nf_field:
        fields.append(nf_field)
    return MoveFieldPlan(fields=fields, nf_number_field=nf_field)


@dataclass
class InvoiceSlice:
    staged: StagedInvoices
    documents: set[int]  # the invoices read
    lines: int


def extract_invoices(
    client: OdooClient,
    *,
    empreendimento: str,
    company_id: int,
    first: date | None,
    last: date | None,
    partition_day_of,
    ids: list[int] | None = None,
) -> InvoiceSlice:
    """The customer invoices and credit notes of ``company_id`` dated in [first, last]; or, with
    ``ids``, those. Also read: the posted credit notes reversing these invoices (and their lines, to
    tell a full reversal from a partial one) and the orders of the order lines each line invoices."""
    plan = plan_move_fields(client)
    domain = [("id", "in", ids), ("move_type", "in", list(MOVE_TYPES))] if ids is not None else None
    moves = client.fetch_all("account.move", domain or invoice_domain(company_id, first, last), plan.fields)
    move_ids = [int(m["id"]) for m in moves]
    invoice_ids = [int(m["id"]) for m in moves if m.get("move_type") != REFUND]
    refunds: list[dict] = []
    lines: list[dict] = []
    refund_lines: list[dict] = []
    if invoice_ids:
        refunds = client.fetch_all(
            "account.move",
            [("move_type", "=", REFUND), ("state", "=", "posted"), ("reversed_entry_id", "in", invoice_ids)],
            REFUND_FIELDS,
        )
    if move_ids:
        lines = client.fetch_all(
            "account.move.line",
            [("move_id", "in", move_ids), ("display_type", "=", "product")],
            LINE_FIELDS,
        )
    in_slice = set(move_ids)
    refund_ids = {int(r["id"]) for r in refunds}
    refund_lines = [ln for ln in lines if m2o_id(ln.get("move_id")) in refund_ids]
    outside = sorted(refund_ids - in_slice)
    if outside:
        refund_lines += client.fetch_all(
            "account.move.line",
            [("move_id", "in", outside), ("display_type", "=", "product")],
            REFUND_LINE_FIELDS,
        )
    sale_line_ids = {int(i) for ln in lines for i in (ln.get("sale_line_ids") or [])}
    sale_lines = client.read_related("sale.order.line", sale_line_ids, ["order_id"])
    order_of_sale_line = {
        sid: name for sid, sl in sale_lines.items() if (name := m2o_name(sl.get("order_id"))) is not None
    }
    related = read_related_records(client, lines=lines, headers=moves)
    # Credit notes of the slice reversing an invoice outside it: does Odoo have that invoice?
    reversed_outside = sorted(
        {m2o_id(m.get("reversed_entry_id")) for m in moves if m.get("move_type") == REFUND} - {None} - in_slice
    )
    existing_invoices: list[int] = []
    if reversed_outside:
        existing_invoices = client.search(
            "account.move", [("id", "in", reversed_outside)], context={"active_test": False}
        )
    staged = stage_invoice_lines(
        empreendimento=empreendimento,
        company_id=company_id,
        moves=moves,
        lines=lines,
        products=related.products,
        partners=related.partners,
        state_codes=related.state_codes,
        refunds=refunds,
        partition_day_of=partition_day_of,
        nf_number_field=plan.nf_number_field,
        order_of_sale_line=order_of_sale_line,
        refund_lines=refund_lines,
        limits=INVOICE_LINE_LIMITS,
        unplaced_day=partition_day_of(first or date.min),
        existing_invoices=existing_invoices if "reversed_entry_id" in plan.fields else None,
    )
    return InvoiceSlice(staged=staged, documents={int(m["id"]) for m in moves}, lines=len(lines))
