"""The records documents point at (products, customers, their states), read in batches.

One ``read`` per model (per page of ids) for a whole slice, never one call per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sync_pipeline.domain.values import m2o_id
from sync_pipeline.odoo.client import OdooClient

PRODUCT_FIELDS = ["default_code", "name", "weight"]
PARTNER_FIELDS = ["name", "vat", "city", "state_id", "zip"]
STATE_FIELDS = ["code"]


@dataclass
class Related:
    products: dict[int, dict]
    partners: dict[int, dict]
    state_codes: dict[int, str]


def read_related_records(
    client: OdooClient,
    *,
    lines: Iterable[Mapping[str, object]],
    headers: Iterable[Mapping[str, object]],
) -> Related:
    """Products of ``lines`` and customers (with their state codes) of ``headers``."""
    products = client.read_related(
        "product.product", {m2o_id(x.get("product_id")) for x in lines} - {None}, PRODUCT_FIELDS
    )
    partners = client.read_related(
        "res.partner", {m2o_id(h.get("partner_id")) for h in headers} - {None}, PARTNER_FIELDS
    )
    states = client.read_related(
        "res.country.state", {m2o_id(p.get("state_id")) for p in partners.values()} - {None}, STATE_FIELDS
    )
    return Related(
        products=products,
        partners=partners,
        state_codes={sid: s.get("code") or None for sid, s in states.items()},
    )
