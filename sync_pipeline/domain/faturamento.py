"""Faturamento rules (DESIGN §5.1) as plain code: from Odoo invoices to staged invoice lines.

No Dagster and no I/O here: the extract asset passes in what it read from Odoo, gets back the rows
to stage and the records set aside (rejects) with the rule each one broke.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sync_pipeline.domain.values import (
    RULE_BAD_DATE,
    RULE_BAD_RELATION,
    RULE_MISSING_REVERSED,
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
    decimal,
    is_m2o,
    line_payload,
    m2o_id,
    m2o_name,
    number,
    parse_datetime,
    parse_day,
    text_or_none,
    text_over_width,
)

# What a reject's payload keeps of the line's invoice.
MOVE_PAYLOAD_KEYS = ("id", "name", "state", "company_id", "invoice_date", "date")
STATUS_NF = {"draft": "Provisório", "posted": "Lançado", "cancel": "Cancelado"}
CANCELADO = "Cancelado"
LANCADO = "Lançado"
INVOICE = "out_invoice"
REFUND = "out_refund"
# Customer documents the faturamento holds; a credit note counts against the orders it refunds
# (Odoo's qty_invoiced adds invoice lines and subtracts refund lines, any state but cancel).
MOVE_TYPES = (INVOICE, REFUND)
QUANTITY_SIGN = {INVOICE: 1, REFUND: -1}


@dataclass
class StagedInvoices:
    """Rows for ``odoo_fatura_linha`` grouped by partition date, plus what was set aside."""

    rows_by_day: dict[date, list[dict]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows_by_day.values())


def numero_nf(move: Mapping[str, object], nf_number_field: str | None = None) -> str:
    """The NF number (the localisation's fiscal number where the server has one, else ``name``);
    a draft without one gets the provisional ``RASCUNHO-<move id>``."""
    name = text_or_none(move.get(nf_number_field)) if nf_number_field else None
    name = name or text_or_none(move.get("name"))
    if move.get("state") == "draft" and (not name or name == "/"):
        return f"RASCUNHO-{move['id']}"
    return name if name and name != "/" else f"RASCUNHO-{move['id']}"


def document_day(move: Mapping[str, object]) -> date:
    """Invoice date; a draft has none yet, so its accounting date."""
    return parse_day(move.get("invoice_date") or move.get("date"))


def stage_invoice_lines(
    *,
    empreendimento: str,
    company_id: int,
    moves: Iterable[Mapping[str, object]],
    lines: Iterable[Mapping[str, object]],
    products: Mapping[int, Mapping[str, object]],
    partners: Mapping[int, Mapping[str, object]],
    state_codes: Mapping[int, str],
    refunds: Iterable[Mapping[str, object]],
    partition_day_of,
    nf_number_field: str | None = None,
    order_of_sale_line: Mapping[int, str] | None = None,
    refund_lines: Iterable[Mapping[str, object]] = (),
    limits: Mapping[str, ColumnLimit] | None = None,
    unplaced_day: date | None = None,
    existing_invoices: Collection[int] | None = None,
) -> StagedInvoices:
    """Map invoice and credit-note product lines to staged rows; set aside each line that breaks
    a rule.

    ``order_of_sale_line`` maps a ``sale.order.line`` id to its order's name: a line's origem is the
    order of its ``sale_line_ids`` (one invoice may bill several orders), the invoice's
    ``invoice_origin`` only when the line has no link. ``refunds`` are the posted credit notes
    reversing these invoices and ``refund_lines`` their product lines: an invoice is marked reverted
    only when they refund every product's whole quantity (a partial credit note leaves the rest
    invoiced).

    ``limits`` are the staging table's column limits (``column_limits``): a line whose text or
    number does not fit is set aside rather than truncated or failing the partition.
    ``unplaced_day`` is the partition of the rejects whose own date is unknown (no invoice, no
    date): the first date of the slice. ``existing_invoices``: ids of the invoices outside the
    slice that credit notes of the slice reverse and Odoo has (None: not checked).
    """
    out = StagedInvoices()
    order_of_sale_line = order_of_sale_line or {}
    move_by_id: dict[int, Mapping[str, object]] = {}
    move_day: dict[int, date] = {}
    for move in moves:
        move_id = int(move["id"])  # type: ignore[arg-type]
        move_by_id[move_id] = move
        try:
            move_day[move_id] = document_day(move)
        except ValueError:
            pass

    lines = list(lines)
    reversal = fully_refunded(
        invoice_lines=[
            ln for ln in lines if move_by_id.get(m2o_id(ln.get("move_id")) or 0, {}).get("move_type") != REFUND
        ],
        refunds=refunds,
        refund_lines=refund_lines,
    )

    limits = limits or {}
    for line in lines:
        line_id = int(line["id"])  # type: ignore[arg-type]
        move_id = m2o_id(line.get("move_id"))
        move = move_by_id.get(move_id) if move_id is not None else None

        def reject(rule: str, message: str, day: date | None = None, _line=line_id, _m=move_id, _l=line, _mv=move):
            payload = line_payload(_l, "move", _mv, MOVE_PAYLOAD_KEYS)
            out.rejects.append(Reject("account.move.line", _line, rule, message, payload, day or unplaced_day, _m))

        bad_relation = next((f for f in ("move_id", "product_id", "company_id") if not is_m2o(line.get(f))), None)
        if bad_relation:
            reject(
                RULE_BAD_RELATION,
                f"invoice line {line_id}: {bad_relation} {line.get(bad_relation)!r} is not a many2one "
                "[id, display_name]",
                move_day.get(move_id) and partition_day_of(move_day[move_id]),  # type: ignore[arg-type]
            )
            continue
        if move is None:
            # Lines are read by the ids of the invoices read: one pointing elsewhere (or nowhere) is
            # a broken answer for that line, not a line of another slice.
            reject(
                RULE_NO_DOCUMENT,
                f"invoice line {line_id}: its invoice (account.move {move_id or 'none'}) is not among the "
                "invoices read for this empreendimento and dates",
            )
            continue
        if move_id not in move_day:
            reject(
                RULE_BAD_DATE,
                f"invoice line {line_id} of {move.get('name')} (account.move {move_id}): "
                f"invoice_date/date {move.get('invoice_date') or move.get('date')!r} is not a date",
            )
            continue
        day = partition_day_of(move_day[move_id])
        move_company = m2o_id(move.get("company_id"))
        line_company = m2o_id(line.get("company_id")) if "company_id" in line else move_company
        if move_company != company_id or line_company != company_id:
            reject(
                RULE_UNKNOWN_COMPANY,
                f"invoice line {line_id} of {move.get('name')}: company {line_company or move_company!r} "
                f"is not empreendimento {empreendimento} (company {company_id})",
                day,
            )
            continue
        reversed_id = m2o_id(move.get("reversed_entry_id"))
        if (
            existing_invoices is not None
            and move.get("move_type") == REFUND
            and reversed_id is not None
            and reversed_id not in move_by_id
            and reversed_id not in existing_invoices
        ):
            reject(
                RULE_MISSING_REVERSED,
                f"credit note line {line_id} of {move.get('name')} (account.move {move_id}) reverses "
                f"account.move {reversed_id}, which Odoo does not have",
                day,
            )
            continue
        product_id = m2o_id(line.get("product_id"))
        if product_id is None:
            reject(
                RULE_NO_PRODUCT,
                f"invoice line {line_id} of {move.get('name')} has no product",
                day,
            )
            continue
        product = products.get(product_id)
        if product is None:
            reject(
                RULE_UNKNOWN_PRODUCT,
                f"invoice line {line_id} of {move.get('name')}: product.product {product_id} does not exist in Odoo",
                day,
            )
            continue
        try:
            quantity = number(line.get("quantity"), "quantity", "0.001", limits.get("quantidade"), exact=True)
            price_unit = number(line.get("price_unit"), "price_unit", "0.0001", limits.get("preco_unitario"))
            total = number(line.get("price_total"), "price_total", "0.01", limits.get("valor_total"))
            weight = product.get("weight")
            weight_limit = limits.get("peso_unitario")
            peso = number(weight, "weight", "0.001", weight_limit) if weight not in (None, False) else Decimal("0.000")
            # peso_total = quantity × weight, computed in SQL into a column like peso_unitario's
            number(quantity * peso, "quantity × weight", "0.001", weight_limit)
        except BadValue as bad:
            reject(bad.rule, f"invoice line {line_id} of {move.get('name')}: {bad}", day)
            continue
        if quantity < 0:
            reject(
                RULE_NEGATIVE_QTY,
                f"invoice line {line_id} of {move.get('name')} has negative quantity {quantity}",
                day,
            )
            continue
        partner_id = m2o_id(move.get("partner_id"))
        partner = partners.get(partner_id, {}) if partner_id else {}
        state_id = m2o_id(partner.get("state_id")) if partner else None
        refund_id, refund_day = reversal.get(move_id, (None, None))
        invoice_day = move_day[move_id]
        row = {
            "odoo_line_id": line_id,
            "odoo_move_id": move_id,
            "empreendimento": empreendimento,
            "partition_date": day,
            "numero_nf": numero_nf(move, nf_number_field),
            "move_type": str(move.get("move_type") or INVOICE),
            "move_state": str(move.get("state")),
            "data_fatura": invoice_day,
            "cnpj_cliente": text_or_none(partner.get("vat")) if partner else None,
            "nome_cliente": text_or_none(partner.get("name")) if partner else m2o_name(move.get("partner_id")),
            "municipio": text_or_none(partner.get("city")) if partner else None,
            "estado": state_codes.get(state_id) if state_id else None,
            "vendedor": m2o_name(move.get("invoice_user_id")),
            "equipe_vendas": m2o_name(move.get("team_id")),
            "origem": line_origem(line, move, order_of_sale_line),
            "cod_produto": cod_produto(product, product_id),
            "nome_produto": text_or_none(product.get("name")) or m2o_name(line.get("product_id")),
            "quantidade": quantity,
            "preco_unitario": price_unit,
            "valor_total": total,
            "peso_unitario": peso,
            "nota_credito_id": refund_id,
            "data_reversao": refund_day,
            "odoo_write_date": parse_datetime(move.get("write_date")),
        }
        too_long = text_over_width(row, limits)
        if too_long:
            reject(RULE_TEXT_TOO_LONG, f"invoice line {line_id} of {move.get('name')}: {too_long}", day)
            continue
        out.rows_by_day.setdefault(day, []).append(row)
    return out


def line_origem(
    line: Mapping[str, object], move: Mapping[str, object], order_of_sale_line: Mapping[int, str]
) -> str | None:
    """The order a line invoices: its ``sale_line_ids``' order (the lowest linked line decides),
    else the invoice's ``invoice_origin`` (which, for an invoice of several orders, names them all)."""
    linked = sorted(int(i) for i in (line.get("sale_line_ids") or []) if int(i) in order_of_sale_line)
    if linked:
        return order_of_sale_line[linked[0]]
    return text_or_none(move.get("invoice_origin"))


def _quantities_by_product(lines: Iterable[Mapping[str, object]]) -> dict[int, dict[int, Decimal]]:
    """move id → product id → Σ quantity (lines without product or number are left out)."""
    out: dict[int, dict[int, Decimal]] = {}
    for line in lines:
        move_id, product_id = m2o_id(line.get("move_id")), m2o_id(line.get("product_id"))
        if move_id is None or product_id is None:
            continue
        try:
            qty = decimal(line.get("quantity"), "0.001")
        except InvalidOperation:
            continue
        per_move = out.setdefault(move_id, {})
        per_move[product_id] = per_move.get(product_id, Decimal(0)) + qty
    return out


def fully_refunded(
    *,
    invoice_lines: Iterable[Mapping[str, object]],
    refunds: Iterable[Mapping[str, object]],
    refund_lines: Iterable[Mapping[str, object]],
) -> dict[int, tuple[int, date | None]]:
    """Invoices whose every product is refunded in full by posted credit notes → (the latest credit
    note, its date). Refunds are per line and quantity (DESIGN §5.1): 2 of 5 units is no reversal."""
    invoiced = _quantities_by_product(invoice_lines)
    refunded_by_refund = _quantities_by_product(refund_lines)
    refunded: dict[int, dict[int, Decimal]] = {}
    latest: dict[int, tuple[int, date | None]] = {}
    for refund in sorted(refunds, key=lambda r: int(r["id"])):  # type: ignore[arg-type]
        target = m2o_id(refund.get("reversed_entry_id"))
        if target is None or refund.get("state", "posted") != "posted":
            continue
        for product_id, qty in refunded_by_refund.get(int(refund["id"]), {}).items():  # type: ignore[arg-type]
            per_move = refunded.setdefault(target, {})
            per_move[product_id] = per_move.get(product_id, Decimal(0)) + qty
        try:
            when: date | None = document_day(refund)
        except ValueError:
            when = None
        latest[target] = (int(refund["id"]), when)  # type: ignore[arg-type]
    return {
        move_id: latest[move_id]
        for move_id, products in invoiced.items()
        if move_id in latest
        and products
        and all(refunded.get(move_id, {}).get(pid, Decimal(0)) >= qty for pid, qty in products.items())
    }
