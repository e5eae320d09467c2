"""Financeiro per empreendimento (DESIGN §5.4, docs/financeiro.md): the rules as plain code.

Words, formulas and rules of the finance tables: how a receivable/payable line and its payments are
staged (and when they are set aside), the category of a cash-in payment, the status of an
instalment, "open as of a date", present value, Macaulay duration, average remaining term and the
delinquency buckets. The SQL of ``db/financeiro.py`` receives the constants as bind parameters; the
functions here are the reference the tests (and the oracle) check it against. No Dagster, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sync_pipeline.domain.values import (
    RULE_BAD_DATE,
    RULE_BAD_NUMBER,
    Reject,
    m2o_id,
    m2o_name,
    parse_datetime,
    parse_day,
    text_or_none,
)

# --- words ---------------------------------------------------------------------------------------
RECEBER, PAGAR, AVULSO = "RECEBER", "PAGAR", "AVULSO"
CUSTOMER_INVOICE, VENDOR_BILL, ENTRY = "out_invoice", "in_invoice", "entry"
RECEIVABLE, PAYABLE = "asset_receivable", "liability_payable"
# the account type each kind of document's instalments must be on
ACCOUNT_TYPE_OF = {CUSTOMER_INVOICE: RECEIVABLE, VENDOR_BILL: PAYABLE}
TIPO_OF = {CUSTOMER_INVOICE: RECEBER, VENDOR_BILL: PAGAR}
# a payment is cash when the other side's move is none of these (a bank entry, an account.payment)
DOCUMENT_MOVE_TYPES = frozenset({"out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt"})
STATES = ("posted", "cancel")
CANCELLED = "cancel"

# cash-in categories
ATIVOS, ANTECIPACOES, RECUPERACOES, OUTRAS = "ATIVOS", "ANTECIPACOES", "RECUPERACOES", "OUTRAS"
SEM_CATEGORIA = "SEM CATEGORIA"  # a bill without expense lines

# instalment statuses
CANCELADA, PAGA, VENCIDA, PARCIAL, ABERTA = "CANCELADA", "PAGA", "VENCIDA", "PARCIAL", "ABERTA"

# delinquency buckets: (column, first day overdue, last day overdue or None)
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("ate_30", 1, 30),
    ("de_31_a_60", 31, 60),
    ("de_61_a_90", 61, 90),
    ("de_91_a_180", 91, 180),
    ("acima_180", 181, None),
)
DAYS_PER_YEAR = 365
DAYS_PER_MONTH = Decimal(DAYS_PER_YEAR) / 12
DEFAULT_DISCOUNT_RATE = Decimal("0.10")

# rules a line or payment can break (the rejects table stores these names)
RULE_NO_DUE_DATE = "parcela_sem_vencimento"
RULE_BAD_RESIDUAL = "residual_invalido"  # larger than the original value, or negative
RULE_UNKNOWN_ACCOUNT_TYPE = "tipo_de_conta_desconhecido"
RULE_PAID_BEFORE_INVOICE = "pagamento_antes_da_fatura"
RULE_BAD_PAYMENT = "pagamento_invalido"  # a partial whose amount is not positive
RULE_NO_DOCUMENT = "documento_ausente"

CENT = Decimal("0.01")


def money(value: Decimal | float | int | str) -> Decimal:
    """Cents, rounded half up (the tables' Numeric(15, 2))."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# --- months --------------------------------------------------------------------------------------
def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def as_of(ref_month: date, today: date) -> date:
    """The date a month's portfolio and delinquency are taken at: its last day, today for the
    current month."""
    return today if month_start(today) == month_start(ref_month) else month_end(ref_month)


def months_between(first: date, last: date) -> list[date]:
    """First days of the months from ``first``'s to ``last``'s, both included."""
    out, month = [], month_start(first)
    while month <= last:
        out.append(month)
        month = month_end(month) + timedelta(days=1)
    return out


# --- instalments ---------------------------------------------------------------------------------
def is_contract(move: Mapping[str, object]) -> bool:
    """A posted invoice or bill, or one posted once and cancelled since (a draft cancelled without
    ever being posted is none)."""
    return move.get("state") == "posted" or (move.get("state") == CANCELLED and bool(move.get("posted_before")))


def categoria_entrada(due: date, paid: date) -> str:
    """Cash-in category of a payment on ``paid`` of an instalment due on ``due``: in its due month
    ATIVOS, before it ANTECIPACOES (early), after it RECUPERACOES (late)."""
    due_month, paid_month = month_start(due), month_start(paid)
    if paid_month == due_month:
        return ATIVOS
    return ANTECIPACOES if paid_month < due_month else RECUPERACOES


def status_parcela(*, move_state: str, residual: Decimal, paid: Decimal, due: date | None, today: date) -> str:
    if move_state == CANCELLED:
        return CANCELADA
    if residual == 0:
        return PAGA
    if due is not None and due < today:
        return VENCIDA
    return PARCIAL if paid > 0 else ABERTA


def open_as_of(original: Decimal, payments: Iterable[tuple[Decimal, date]], day: date) -> Decimal:
    """Original value less the payments dated on or before ``day``: an instalment paid in June was
    open at the end of May, so history does not change when it is paid later."""
    return original - sum((amount for amount, when in payments if when <= day), Decimal(0))


def discount_factor(days_to_due: int, rate: Decimal) -> Decimal:
    """(1 + r)^(−days/365) for an instalment not yet due; 1 (face value) for an overdue one."""
    if days_to_due <= 0:
        return Decimal(1)
    return (Decimal(1) + Decimal(rate)) ** (Decimal(-days_to_due) / DAYS_PER_YEAR)


def present_value(open_amount: Decimal, days_to_due: int, rate: Decimal = DEFAULT_DISCOUNT_RATE) -> Decimal:
    """Unrounded present value of an open amount due in ``days_to_due`` days (overdue: face value)."""
    return Decimal(open_amount) * discount_factor(days_to_due, rate)


def macaulay_duration(
    instalments: Iterable[tuple[Decimal, int]], rate: Decimal = DEFAULT_DISCOUNT_RATE
) -> Decimal | None:
    """Σ t·PV / Σ PV in years, t = max(days_to_due, 0) / 365, over (open amount, days to due) of the
    open instalments; None when Σ PV is 0."""
    total, weighted = Decimal(0), Decimal(0)
    for open_amount, days in instalments:
        pv = present_value(open_amount, days, rate)
        total += pv
        weighted += pv * Decimal(max(days, 0)) / DAYS_PER_YEAR
    return None if total == 0 else weighted / total


def remaining_months(last_open_due: date, day: date) -> Decimal:
    """Months from ``day`` to a contract's last open due date (0 when already due)."""
    return Decimal(max((last_open_due - day).days, 0)) / DAYS_PER_MONTH


def bucket_of(days_overdue: int) -> str | None:
    """The delinquency bucket of an instalment ``days_overdue`` days past due (None: not overdue)."""
    for name, low, high in BUCKETS:
        if days_overdue >= low and (high is None or days_overdue <= high):
            return name
    return None


def bucket_params() -> dict:
    """The bucket bounds as the SQL takes them (bind parameters)."""
    return {
        **{f"{name}_low": low for name, low, _ in BUCKETS},
        **{f"{name}_high": high if high is not None else 2**31 - 1 for name, _, high in BUCKETS},
    }


def categoria_despesa(expense_lines: Iterable[tuple[str, str, Decimal]]) -> str:
    """The expense account ``"<code> <name>"`` carrying the largest share of a bill's expense lines
    ((code, name, amount) each); ties: the lowest account code."""
    totals: dict[tuple[str, str], Decimal] = {}
    for code, name, amount in expense_lines:
        totals[(code, name)] = totals.get((code, name), Decimal(0)) + abs(Decimal(amount))
    if not totals:
        return SEM_CATEGORIA
    (code, name), _ = min(totals.items(), key=lambda item: (-item[1], item[0][0]))
    return f"{code} {name}".strip()


# --- staging -------------------------------------------------------------------------------------
@dataclass
class StagedFinanceiro:
    parcelas: dict[date, list[dict]] = field(default_factory=dict)  # partition day → rows
    pagamentos: dict[date, list[dict]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)


def _amount(value: object) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    return money(value)


def stage_financeiro(
    *,
    empreendimento: str,
    moves: Iterable[Mapping[str, object]],
    term_lines: Iterable[Mapping[str, object]],
    partials: Mapping[int, Mapping[str, object]],
    counterpart_move_types: Mapping[int, str],
    categorias: Mapping[int, str],
    customer_payments: Iterable[Mapping[str, object]],
    partition_day_of: Callable[[date], date],
    nf_number_field: str | None,
    unplaced_day: date,
) -> StagedFinanceiro:
    """Staging rows of a slice (docs/financeiro.md, Staging): one per instalment line of the
    invoices and bills ``moves`` (``term_lines``), per unmatched customer payment line
    (``customer_payments``), and per partial paying a staged instalment. ``counterpart_move_types``:
    the move type of the line on the other side of each partial; ``categorias``: each bill's
    expense account. Lines and payments that break a rule are set aside, the rest is staged."""
    out = StagedFinanceiro()
    by_id = {int(m["id"]): m for m in moves}

    def reject(model, odoo_id, rule, message, payload, day, parent=None):
        out.rejects.append(Reject(model, odoo_id, rule, message, dict(payload), day, parent))

    for line in term_lines:
        line_id = int(line["id"])
        move = by_id.get(m2o_id(line.get("move_id")) or 0)
        if move is None:
            reject("account.move.line", line_id, RULE_NO_DOCUMENT, "its move was not read", line, unplaced_day)
            continue
        move_id, move_type = int(move["id"]), str(move.get("move_type"))
        try:
            emissao = parse_day(move.get("invoice_date") or move.get("date"))
            day = partition_day_of(emissao)
        except ValueError as exc:
            reject("account.move.line", line_id, RULE_BAD_DATE, str(exc), line, unplaced_day, move_id)
            continue
        if line.get("account_type") != ACCOUNT_TYPE_OF.get(move_type):
            reject(
                "account.move.line",
                line_id,
                RULE_UNKNOWN_ACCOUNT_TYPE,
                f"a {move_type} instalment on an account of type {line.get('account_type')!r}",
                line,
                day,
                move_id,
            )
            continue
        if not line.get("date_maturity"):
            reject(
                "account.move.line",
                line_id,
                RULE_NO_DUE_DATE,
                "an instalment without date_maturity",
                line,
                day,
                move_id,
            )
            continue
        sign = 1 if move_type == CUSTOMER_INVOICE else -1
        try:
            original = sign * _amount(line.get("balance"))
            residual = sign * _amount(line.get("amount_residual"))
            due = parse_day(line.get("date_maturity"))
        except (ValueError, ArithmeticError) as exc:
            reject("account.move.line", line_id, RULE_BAD_NUMBER, str(exc), line, day, move_id)
            continue
        if residual < 0 or residual > original:
            reject(
                "account.move.line",
                line_id,
                RULE_BAD_RESIDUAL,
                f"residual {residual} outside 0..{original} (the original value)",
                line,
                day,
                move_id,
            )
            continue
        number = text_or_none(move.get(nf_number_field)) if nf_number_field else None
        out.parcelas.setdefault(day, []).append(
            {
                "odoo_line_id": line_id,
                "odoo_move_id": move_id,
                "empreendimento": empreendimento,
                "partition_date": day,
                "tipo": TIPO_OF[move_type],
                "move_type": move_type,
                "move_state": str(move.get("state")),
                "numero_nf": number or text_or_none(move.get("name")),
                "num_pedido": text_or_none(move.get("invoice_origin")),
                "data_emissao": emissao,
                "data_vencimento": due,
                "valor_original": original,
                "valor_residual": residual,
                "categoria": categorias.get(move_id, SEM_CATEGORIA) if move_type == VENDOR_BILL else None,
                "odoo_write_date": _write_date(line, move),
            }
        )
        # receivables are paid on their debit side (matched_credit_ids), payables on their credit side
        paid_by = line.get("matched_credit_ids" if move_type == CUSTOMER_INVOICE else "matched_debit_ids") or []
        for partial_id in paid_by:
            partial = partials.get(int(partial_id))
            if partial is None:
                continue  # deleted since the line was read: the next run sees the line without it
            other = m2o_id(partial.get("credit_move_id" if move_type == CUSTOMER_INVOICE else "debit_move_id"))
            cash = counterpart_move_types.get(other or 0) not in DOCUMENT_MOVE_TYPES
            try:
                amount = _amount(partial.get("amount"))
                when = parse_day(partial.get("max_date"))
            except (ValueError, ArithmeticError) as exc:
                reject("account.partial.reconcile", int(partial_id), RULE_BAD_PAYMENT, str(exc), partial, day, line_id)
                continue
            if amount <= 0:
                reject(
                    "account.partial.reconcile",
                    int(partial_id),
                    RULE_BAD_PAYMENT,
                    f"amount {amount} is not positive",
                    partial,
                    day,
                    line_id,
                )
                continue
            if cash and when < emissao:
                reject(
                    "account.partial.reconcile",
                    int(partial_id),
                    RULE_PAID_BEFORE_INVOICE,
                    f"a cash payment on {when} of an invoice dated {emissao}",
                    partial,
                    day,
                    line_id,
                )
                continue
            out.pagamentos.setdefault(day, []).append(
                {
                    "odoo_partial_id": int(partial_id),
                    "odoo_line_id": line_id,
                    "empreendimento": empreendimento,
                    "partition_date": day,
                    "valor": amount,
                    "data": when,
                    "em_caixa": cash,
                }
            )
    for line in customer_payments:
        line_id = int(line["id"])
        try:
            when = parse_day(line.get("date"))
            day = partition_day_of(when)
            original, residual = -_amount(line.get("balance")), -_amount(line.get("amount_residual"))
        except (ValueError, ArithmeticError) as exc:
            reject("account.move.line", line_id, RULE_BAD_NUMBER, str(exc), line, unplaced_day)
            continue
        if residual < 0 or residual > original:
            reject(
                "account.move.line",
                line_id,
                RULE_BAD_RESIDUAL,
                f"open amount {residual} outside 0..{original} (the payment)",
                line,
                day,
            )
            continue
        out.parcelas.setdefault(day, []).append(
            {
                "odoo_line_id": line_id,
                "odoo_move_id": m2o_id(line.get("move_id")),
                "empreendimento": empreendimento,
                "partition_date": day,
                "tipo": AVULSO,
                "move_type": ENTRY,
                "move_state": str(line.get("parent_state") or "posted"),
                "numero_nf": text_or_none(m2o_name(line.get("move_id"))),
                "num_pedido": None,
                "data_emissao": when,
                "data_vencimento": parse_day(line["date_maturity"]) if line.get("date_maturity") else None,
                "valor_original": original,
                "valor_residual": residual,
                "categoria": None,
                "odoo_write_date": parse_datetime(line.get("write_date")),
            }
        )
    return out


def _write_date(line: Mapping[str, object], move: Mapping[str, object]) -> datetime | None:
    """The newer of the line's and its move's write_date (a payment moves both)."""
    stamps = [d for d in (parse_datetime(line.get("write_date")), parse_datetime(move.get("write_date"))) if d]
    return max(stamps) if stamps else None
