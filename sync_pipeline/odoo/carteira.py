"""What the carteira graph reads from Odoo: sale orders of one empreendimento and order dates.

Calls per slice: one search + one read per page for orders and their lines, then one batched
read per related model. Section and note lines are filtered out by the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sync_pipeline.db.schema import odoo_pedido_linha
from sync_pipeline.domain.carteira import StagedOrders, stage_order_lines, utc_bounds
from sync_pipeline.domain.values import column_limits
from sync_pipeline.odoo.client import OdooClient
from sync_pipeline.odoo.related import read_related_records

ORDER_FIELDS = [
    "name",
    "state",
    "partner_id",
    "company_id",
    "date_order",
    "commitment_date",
    "user_id",
    "team_id",
    "client_order_ref",
    "payment_term_id",
    "write_date",
]
ORDER_LINE_FIELDS = [
    "order_id",
    "product_id",
    "display_type",
    "product_uom_qty",
    "qty_delivered",
    "qty_invoiced",
    "price_unit",
    "price_subtotal",
    "write_date",
]
# What the staging table's columns hold: a line that does not fit is set aside, never truncated.
ORDER_LINE_LIMITS = column_limits(odoo_pedido_linha)


def order_domain(company_id: int, first: date | None, last: date | None, tz: str) -> list:
    """Orders of a company whose local order date is in [first, last] (None: unbounded that side)."""
    start, end = utc_bounds(first, last, tz)
    domain: list = [("company_id", "=", company_id)]
    if end is not None:
        domain.append(("date_order", "<", end))
    if start is not None:
        domain.append(("date_order", ">=", start))
    return domain


@dataclass
class OrderSlice:
    staged: StagedOrders
    documents: set[int]  # the orders read
    lines: int


def extract_orders(
    client: OdooClient,
    *,
    empreendimento: str,
    company_id: int,
    first: date | None,
    last: date | None,
    partition_day_of,
    tz: str,
    ids: list[int] | None = None,
) -> OrderSlice:
    """The orders of ``company_id`` dated in [first, last]; or, with ``ids``, those orders."""
    domain = [("id", "in", ids)] if ids is not None else order_domain(company_id, first, last, tz)
    orders = client.fetch_all("sale.order", domain, ORDER_FIELDS)
    lines: list[dict] = []
    if orders:
        lines = client.fetch_all(
            "sale.order.line",
            [("order_id", "in", [int(o["id"]) for o in orders]), ("display_type", "=", False)],
            ORDER_LINE_FIELDS,
        )
    related = read_related_records(client, lines=lines, headers=orders)
    staged = stage_order_lines(
        empreendimento=empreendimento,
        company_id=company_id,
        orders=orders,
        lines=lines,
        products=related.products,
        partners=related.partners,
        state_codes=related.state_codes,
        partition_day_of=partition_day_of,
        tz=tz,
        limits=ORDER_LINE_LIMITS,
        unplaced_day=partition_day_of(first or date.min),
    )
    return OrderSlice(staged=staged, documents={int(o["id"]) for o in orders}, lines=len(lines))
