"""What the financeiro extract reads from Odoo (real field names, DESIGN §4 and §5.4) and how.

One slice = one empreendimento (company) and a range of partition dates. Calls per slice, whatever
the number of instalments (pages of ``page_size`` ids aside, read in parallel by the client):
the invoices and bills (search + read), then at once in a small pool their instalment lines, their
expense lines and the unmatched customer payments (search + read each), then one batched read of the
partials paying the instalments, one of the partials' other lines (cash or credit note?) and one of
the expense accounts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sync_pipeline.domain.financeiro import (
    CUSTOMER_INVOICE,
    ENTRY,
    RECEIVABLE,
    STATES,
    VENDOR_BILL,
    StagedFinanceiro,
    categoria_despesa,
    is_contract,
    stage_financeiro,
)
from sync_pipeline.domain.values import m2o_id
from sync_pipeline.odoo.client import OdooClient
from sync_pipeline.odoo.faturamento import NF_NUMBER_FIELDS, date_domain

MOVE_TYPES = (CUSTOMER_INVOICE, VENDOR_BILL)
MOVE_FIELDS = [
    "name",
    "move_type",
    "state",
    "posted_before",
    "invoice_date",
    "date",
    "invoice_origin",
    "company_id",
    "write_date",
]
TERM_LINE_FIELDS = [
    "move_id",
    "account_type",
    "date_maturity",
    "balance",
    "amount_residual",
    "matched_debit_ids",
    "matched_credit_ids",
    "write_date",
]
EXPENSE_LINE_FIELDS = ["move_id", "account_id", "balance"]
PAYMENT_LINE_FIELDS = ["move_id", "date", "date_maturity", "balance", "amount_residual", "parent_state", "write_date"]
PARTIAL_FIELDS = ["debit_move_id", "credit_move_id", "amount", "max_date"]
DETAIL_WORKERS = 3  # the three independent reads of a slice


def document_domain(company_id: int, first: date | None, last: date | None) -> list:
    """Posted and cancelled customer invoices and vendor bills whose partition date (invoice date,
    else accounting date) falls in [first, last]; None ends are open (first/last partition)."""
    return [
        ("company_id", "=", company_id),
        ("move_type", "in", list(MOVE_TYPES)),
        ("state", "in", list(STATES)),
        "|",
        "&",
        ("invoice_date", "=", False),
        *date_domain("date", first, last),
        *date_domain("invoice_date", first, last),
    ]


# Receivable lines of posted entries with money still unmatched: customer payments (OUTRAS).
CUSTOMER_PAYMENT_DOMAIN = [
    ("account_type", "=", RECEIVABLE),
    ("parent_state", "=", "posted"),
    ("move_type", "=", ENTRY),
    ("balance", "<", 0),
    ("amount_residual", "!=", 0),
]


def customer_payment_domain(company_id: int, first: date | None, last: date | None) -> list:
    return [("company_id", "=", company_id), *CUSTOMER_PAYMENT_DOMAIN, *date_domain("date", first, last)]


@dataclass
class FinanceiroSlice:
    staged: StagedFinanceiro
    documents: set[int]  # invoices, bills and payment entries read
    instalments: int
    partials: int
    customer_payments: int


def extract_financeiro(
    client: OdooClient,
    *,
    empreendimento: str,
    company_id: int,
    first: date | None,
    last: date | None,
    partition_day_of,
    ids: list[int] | None = None,
) -> FinanceiroSlice:
    """The instalments of the invoices and bills of ``company_id`` dated in [first, last], their
    payments, and the unmatched customer payments dated there; or, with ``ids``, those of the
    documents ``ids`` whatever their date."""
    available = client.fields_get("account.move")
    nf_field = next((f for f in NF_NUMBER_FIELDS if f in available), None)
    move_fields = MOVE_FIELDS + ([nf_field] if nf_field else [])
    if ids is not None:
        move_domain = [("id", "in", ids), ("move_type", "in", list(MOVE_TYPES)), ("state", "in", list(STATES))]
        payment_domain = [("move_id", "in", ids), *CUSTOMER_PAYMENT_DOMAIN]
    else:
        move_domain = document_domain(company_id, first, last)
        payment_domain = customer_payment_domain(company_id, first, last)
    # a document cancelled without ever being posted is no contract (docs/financeiro.md)
    moves = [m for m in client.fetch_all("account.move", move_domain, move_fields) if is_contract(m)]
    move_ids = [int(m["id"]) for m in moves]
    bill_ids = [int(m["id"]) for m in moves if m.get("move_type") == VENDOR_BILL]

    with ThreadPoolExecutor(max_workers=DETAIL_WORKERS, thread_name_prefix="odoo-financeiro") as pool:
        terms_f = pool.submit(
            lambda: (
                client.fetch_all(
                    "account.move.line",
                    [("move_id", "in", move_ids), ("display_type", "=", "payment_term")],
                    TERM_LINE_FIELDS,
                )
                if move_ids
                else []
            )
        )
        expenses_f = pool.submit(
            lambda: (
                client.fetch_all(
                    "account.move.line",
                    [("move_id", "in", bill_ids), ("display_type", "=", "product")],
                    EXPENSE_LINE_FIELDS,
                )
                if bill_ids
                else []
            )
        )
        payments_f = pool.submit(lambda: client.fetch_all("account.move.line", payment_domain, PAYMENT_LINE_FIELDS))
        term_lines, expense_lines, customer_payments = terms_f.result(), expenses_f.result(), payments_f.result()

    type_of = {int(m["id"]): str(m.get("move_type")) for m in moves}
    # receivables are paid on their debit side (matched_credit_ids), payables on their credit side
    partial_ids = {
        int(p)
        for ln in term_lines
        for p in (
            ln.get(
                "matched_credit_ids"
                if type_of.get(m2o_id(ln.get("move_id")) or 0) == CUSTOMER_INVOICE
                else "matched_debit_ids"
            )
            or []
        )
    }
    partials = {int(p["id"]): p for p in client.read("account.partial.reconcile", partial_ids, PARTIAL_FIELDS)}
    own = {int(ln["id"]) for ln in term_lines}
    others = {
        line_id
        for p in partials.values()
        for line_id in (m2o_id(p.get("debit_move_id")), m2o_id(p.get("credit_move_id")))
        if line_id is not None and line_id not in own
    }
    counterpart_types = {
        int(r["id"]): str(r.get("move_type")) for r in client.read("account.move.line", others, ["move_type"])
    }
    accounts = client.read_related("account.account", [ln.get("account_id") for ln in expense_lines], ["code", "name"])
    expense_by_bill: dict[int, list[tuple[str, str, Decimal]]] = {}
    for ln in expense_lines:
        account = accounts.get(m2o_id(ln.get("account_id")) or 0)
        if account is None:
            continue
        expense_by_bill.setdefault(m2o_id(ln.get("move_id")) or 0, []).append(
            (str(account.get("code") or ""), str(account.get("name") or ""), Decimal(str(ln.get("balance") or 0)))
        )
    staged = stage_financeiro(
        empreendimento=empreendimento,
        moves=moves,
        term_lines=term_lines,
        partials=partials,
        counterpart_move_types=counterpart_types,
        categorias={bill: categoria_despesa(lines) for bill, lines in expense_by_bill.items()},
        customer_payments=customer_payments,
        partition_day_of=partition_day_of,
        nf_number_field=nf_field,
        unplaced_day=partition_day_of(first or date.min),
    )
    documents = set(move_ids) | {m2o_id(ln.get("move_id")) for ln in customer_payments} - {None}
    return FinanceiroSlice(
        staged=staged,
        documents={int(d) for d in documents},
        instalments=len(term_lines),
        partials=len(partials),
        customer_payments=len(customer_payments),
    )
