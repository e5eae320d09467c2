"""Carteira rules (DESIGN §5.2) as plain code: from Odoo sale orders to staged order lines.

The partition date of an order is its ``date_order`` in the company's time zone (Odoo sends UTC:
an order placed at 22:00 in São Paulo is the next day in UTC). Section and note lines are not
products and never reach this module; a product line that breaks a rule is set aside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sync_pipeline.domain.values import (
    RULE_AMBIGUOUS_NUMBER,
    RULE_BAD_DATE,
    RULE_BAD_RELATION,
    RULE_NEGATIVE_QTY,
    RULE_NO_DOCUMENT,
    RULE_NO_PRODUCT,
    RULE_TEXT_TOO_LONG,
    RULE_UNKNOWN_COMPANY,
    RULE_UNKNOWN_PRODUCT,
    BadValue,
    ColumnLimit,
    Reject,
    cod_produto,
    is_m2o,
    line_payload,
    m2o_id,
    m2o_name,
    number,
    parse_datetime,
    text_or_none,
    text_over_width,
)

# What a reject's payload keeps of the line's order.
ORDER_PAYLOAD_KEYS = ("id", "name", "state", "company_id", "date_order")
STATUS_PEDIDO = {
    "draft": "Cotação",
    "sent": "Cotação",
    "sale": "Pedido de venda",
    "done": "Pedido de venda",  # Odoo ≤ 16; 17 keeps `sale` with `locked`
    "cancel": "Cancelado",
}
STATUS_PEDIDO_DEFAULT = "Pedido de venda"  # any other state a server adds (Odoo 17 keeps `sale` + `locked`)
CANCELLED_STATE = "cancel"
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"


def local_day(odoo_datetime: object, tz: str) -> date:
    """The business date of an Odoo datetime (naive UTC) in the company's time zone."""
    if not isinstance(odoo_datetime, str):
        raise ValueError(f"not a datetime: {odoo_datetime!r}")
    moment = datetime.strptime(odoo_datetime[:19], ODOO_DATETIME).replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz)).date()


def utc_bounds(first: date | None, last: date | None, tz: str) -> tuple[str | None, str | None]:
    """[start, end) in Odoo's UTC strings covering local days ``first``..``last`` (None: unbounded)."""
    zone = ZoneInfo(tz)

    def utc(day: date) -> str:
        local = datetime.combine(day, time.min, tzinfo=zone)
        return local.astimezone(UTC).strftime(ODOO_DATETIME)

    return (utc(first) if first else None), (utc(last + timedelta(days=1)) if last else None)


@dataclass
class StagedOrders:
    """Rows for ``odoo_pedido_linha`` by partition date, plus what was set aside."""

    rows_by_day: dict[date, list[dict]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)


def stage_order_lines(
    *,
    empreendimento: str,
    company_id: int,
    orders: Iterable[Mapping[str, object]],
    lines: Iterable[Mapping[str, object]],
    products: Mapping[int, Mapping[str, object]],
    partners: Mapping[int, Mapping[str, object]],
    state_codes: Mapping[int, str],
    partition_day_of: Callable[[date], date],
    tz: str,
    limits: Mapping[str, ColumnLimit] | None = None,
    unplaced_day: date | None = None,
) -> StagedOrders:
    """Map sale order product lines to staged rows; set aside each line that breaks a rule.

    ``limits`` are the staging table's column limits (``column_limits``): a line whose text or
    number does not fit is set aside rather than truncated or failing the partition;
    ``unplaced_day`` is the partition of the rejects whose own date is unknown (the slice's first).
    """
    out = StagedOrders()
    limits = limits or {}
    order_by_id = {int(o["id"]): o for o in orders}  # type: ignore[arg-type]
    for line in lines:
        line_id = int(line["id"])  # type: ignore[arg-type]
        if line.get("display_type"):
            continue  # a section/note line
        order_id = m2o_id(line.get("order_id"))
        order = order_by_id.get(order_id) if order_id is not None else None

        def reject(rule: str, message: str, day: date | None = None, _id=line_id, _o=order_id, _l=line, _ord=order):
            payload = line_payload(_l, "order", _ord, ORDER_PAYLOAD_KEYS)
            out.rejects.append(Reject("sale.order.line", _id, rule, message, payload, day or unplaced_day, _o))

        bad_relation = next((f for f in ("order_id", "product_id") if not is_m2o(line.get(f))), None)
        if bad_relation:
            reject(
                RULE_BAD_RELATION,
                f"order line {line_id}: {bad_relation} {line.get(bad_relation)!r} is not a many2one [id, display_name]",
            )
            continue
        if order is None:
            # Lines are read by the ids of the orders read: one pointing elsewhere (or nowhere) is a
            # broken answer for that line, not a line of another slice.
            reject(
                RULE_NO_DOCUMENT,
                f"order line {line_id}: its order (sale.order {order_id or 'none'}) is not among the orders "
                "read for this empreendimento and dates",
            )
            continue
        name = order.get("name")
        try:
            day = partition_day_of(local_day(order.get("date_order"), tz))
        except ValueError:
            reject(
                RULE_BAD_DATE,
                f"order line {line_id} of {name}: date_order {order.get('date_order')!r} is not a datetime",
            )
            continue
        if m2o_id(order.get("company_id")) != company_id:
            reject(
                RULE_UNKNOWN_COMPANY,
                f"order line {line_id} of {name}: company {order.get('company_id')!r} is not "
                f"empreendimento {empreendimento} (company {company_id})",
                day,
            )
            continue
        product_id = m2o_id(line.get("product_id"))
        if product_id is None:
            reject(RULE_NO_PRODUCT, f"order line {line_id} of {name} has no product", day)
            continue
        product = products.get(product_id)
        if product is None:
            reject(
                RULE_UNKNOWN_PRODUCT,
                f"order line {line_id} of {name}: product.product {product_id} does not exist in Odoo",
                day,
            )
            continue
        try:
            qty = number(
                line.get("product_uom_qty"), "product_uom_qty", "0.001", limits.get("qtd_produto_pedido"), exact=True
            )
            delivered = number(
                line.get("qty_delivered") or 0, "qty_delivered", "0.001", limits.get("qtd_entregue"), exact=True
            )
            invoiced = number(
                line.get("qty_invoiced") or 0, "qty_invoiced", "0.001", limits.get("qtd_faturada_odoo"), exact=True
            )
            price = number(line.get("price_unit"), "price_unit", "0.0001", limits.get("preco_produto_pedido"))
        except BadValue as bad:
            reject(bad.rule, f"order line {line_id} of {name}: {bad}", day)
            continue
        if qty < 0:
            reject(RULE_NEGATIVE_QTY, f"order line {line_id} of {name} has negative quantity {qty}", day)
            continue
        partner_id = m2o_id(order.get("partner_id"))
        partner = partners.get(partner_id, {}) if partner_id else {}
        state_id = m2o_id(partner.get("state_id")) if partner else None
        commitment = order.get("commitment_date")
        try:
            delivery_day = local_day(commitment, tz) if isinstance(commitment, str) else None
        except ValueError:
            reject(
                RULE_BAD_DATE,
                f"order line {line_id} of {name}: commitment_date {commitment!r} is not a datetime",
                day,
            )
            continue
        row = {
            "odoo_line_id": line_id,
            "odoo_order_id": order_id,
            "empreendimento": empreendimento,
            "partition_date": day,
            "num_pedido": str(name),
            "order_state": str(order.get("state")),
            "data_pedido": local_day(order.get("date_order"), tz),
            "data_entrega_pedido": delivery_day,
            "cnpj_cpf": text_or_none(partner.get("vat")) if partner else None,
            "raz_social": text_or_none(partner.get("name")) if partner else m2o_name(order.get("partner_id")),
            "municipio": text_or_none(partner.get("city")) if partner else None,
            "estado": state_codes.get(state_id) if state_id else None,
            "vendedor": m2o_name(order.get("user_id")),
            "equipe_vendas": m2o_name(order.get("team_id")),
            "pedido_cliente": text_or_none(order.get("client_order_ref")),
            "cod_produto": cod_produto(product, product_id),
            "nome_produto": text_or_none(product.get("name")) or m2o_name(line.get("product_id")),
            "qtd_produto_pedido": qty,
            "qtd_entregue": delivered,
            "qtd_faturada_odoo": invoiced,
            "preco_produto_pedido": price,
            "odoo_write_date": parse_datetime(line.get("write_date")),
        }
        too_long = text_over_width(row, limits)
        if too_long:
            reject(RULE_TEXT_TOO_LONG, f"order line {line_id} of {name}: {too_long}", day)
            continue
        out.rows_by_day.setdefault(day, []).append(row)
    return out


def ambiguous_order_reject(empreendimento: str, num_pedido: str, order_id: int) -> Reject:
    """An order whose number another empreendimento also has: the operational tables (separacao,
    pre_separacao_item, embarque_itens) key decisions by num_pedido alone, so its decisions are not
    adjusted (never merged with the other order's) and the order is reported."""
    return Reject(
        "sale.order",
        order_id,
        RULE_AMBIGUOUS_NUMBER,
        f"num_pedido {num_pedido} of {empreendimento} (sale.order {order_id}) also exists in another "
        "empreendimento: separação/pré-separação rows have no empreendimento column and cannot be told "
        "apart, so the sync leaves them unadjusted; number orders per company uniquely in Odoo or "
        "give those tables an empreendimento",
        {"num_pedido": num_pedido, "empreendimento": empreendimento},
    )
