"""Deleted documents: compare what Odoo has with what the staging tables hold (DESIGN §4).

Odoo's ``unlink`` is a hard delete with no tombstone, so a deleted quotation or draft invoice never
reaches the change sensors. Per empreendimento, documents are counted per month of their business
date on both sides: in Odoo with one grouped count per model (and date field) for a whole batch of
companies (``OdooClient.group_counts``: ``formatted_read_group`` on Odoo 19, ``read_group`` before),
in staging with one statement per table (``db/reconcile.py``; each read in a connection of its own,
never held across an Odoo call). Only the months whose counts differ cost an id ``search``
(the extract's own domain for those local days), compared with the staged ids there.

A staged document Odoo no longer returns for its month is *gone*: deleted, or moved (re-dated, moved
to another company, left without product lines). Either way the partitions still holding its rows are
stale; syncing them again fixes both, since ``run_extract`` re-reads such documents by id. One more
``search`` by id per model tells the two apart for the log.

Both sides count only what staging can hold (customer invoices and orders with a product line), so
a synced empreendimento compares equal and costs no id search. Months are local (SYNC_TIMEZONE):
the count is asked to group in that zone, and a group's month is read from the middle of its
range, so a server that groups in UTC (as the simulator does) only costs a spurious id search at a
month boundary, never a wrong answer.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from sync_pipeline.db.reconcile import staged_ids, staged_month_counts, staged_partitions
from sync_pipeline.db.schema import odoo_fatura_linha, odoo_pedido_linha
from sync_pipeline.domain.faturamento import MOVE_TYPES
from sync_pipeline.domain.values import m2o_id
from sync_pipeline.odoo.carteira import order_domain
from sync_pipeline.odoo.client import Group, OdooClient
from sync_pipeline.odoo.faturamento import invoice_domain

# Differing months of one model and empreendimento searched one by one up to this many; beyond it,
# one search over the span from the first to the last (a backfill in progress, not a deletion).
MAX_MONTH_SEARCHES = 4

Month = date  # the first day of a local calendar month


@dataclass(frozen=True)
class DocumentKind:
    """A kind of Odoo document staged line by line, and how to count it on both sides."""

    model: str
    table: Table  # its staging table
    id_column: str
    date_column: str  # the staged document's local business date: its month is the bucket
    count_domain: tuple  # documents staging holds rows for (without company or date)
    groupings: tuple[tuple[tuple, str], ...]  # (extra domain, "field:month"), summed per month
    bucket_domain: Callable[[int, date, date, str], list]  # company, first, last local day, tz


def _order_bucket(company_id: int, first: date, last: date, tz: str) -> list:
    return [*order_domain(company_id, first, last, tz), *ORDERS.count_domain]


def _invoice_bucket(company_id: int, first: date, last: date, tz: str) -> list:
    return [*invoice_domain(company_id, first, last), ("line_ids.display_type", "=", "product")]


ORDERS = DocumentKind(
    model="sale.order",
    table=odoo_pedido_linha,
    id_column="odoo_order_id",
    date_column="data_pedido",
    count_domain=(("order_line.display_type", "=", False),),
    groupings=(((), "date_order:month"),),
    bucket_domain=_order_bucket,
)
# A draft has no invoice_date yet: its accounting date decides (as document_day and the extract do).
INVOICES = DocumentKind(
    model="account.move",
    table=odoo_fatura_linha,
    id_column="odoo_move_id",
    date_column="data_fatura",
    count_domain=(("move_type", "in", list(MOVE_TYPES)), ("line_ids.display_type", "=", "product")),
    groupings=(
        ((("invoice_date", "!=", False),), "invoice_date:month"),
        ((("invoice_date", "=", False),), "date:month"),
    ),
    bucket_domain=_invoice_bucket,
)
KINDS = (ORDERS, INVOICES)


@dataclass
class KindReport:
    """One model of one empreendimento: totals, the months that differ and what left them."""

    odoo: int = 0
    staged: int = 0
    months: int = 0
    differing: list[Month] = field(default_factory=list)
    searches: int = 0
    gone: set[int] = field(default_factory=set)  # staged ids Odoo no longer returns for their month
    deleted: set[int] = field(default_factory=set)  # of those, the ids Odoo no longer has at all


@dataclass
class EmpreendimentoReport:
    empreendimento: str
    company_id: int
    kinds: dict[str, KindReport] = field(default_factory=dict)
    # (empreendimento, partition_date) holding rows of a gone document → (model, id) of those documents
    partitions: dict[tuple[str, date], set[tuple[str, int]]] = field(default_factory=dict)

    def summary(self) -> str:
        parts = []
        for model, k in self.kinds.items():
            line = f"{model} {k.odoo} in Odoo / {k.staged} staged over {k.months} months"
            if k.differing:
                line += (
                    f", {len(k.differing)} differing ({k.searches} id searches): "
                    f"{len(k.gone)} gone ({len(k.deleted)} deleted, {len(k.gone) - len(k.deleted)} moved)"
                )
            parts.append(line)
        return (
            f"{self.empreendimento} (company {self.company_id}): " + "; ".join(parts) + f"; {len(self.partitions)} "
            "partitions to sync again"
        )


def next_batch(keys: Sequence[str], after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` keys (sorted) following ``after``, starting over at the first once past the last."""
    ordered = sorted(keys)
    following = [k for k in ordered if after is None or k > after]
    return (following or ordered)[:limit]


def month_of(day: date) -> Month:
    return day.replace(day=1)


def month_end(month: Month) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _moment(value: object) -> datetime:
    raw = str(value)
    if len(raw) == 10:
        return datetime.combine(date.fromisoformat(raw), datetime.min.time())
    return datetime.strptime(raw[:19], "%Y-%m-%d %H:%M:%S")


def group_month(group: Group, spec: str, tz: str) -> Month | None:
    """The local month of a date group, from the middle of its range: right whether the server
    grouped in ``tz`` (bounds at local midnight, sent in UTC) or in UTC."""
    bounds = group.values[spec]
    if bounds is False:
        return None  # the group of records without a date
    low, high = (_moment(b) for b in bounds)
    middle = (low + (high - low) / 2).replace(tzinfo=UTC)
    return month_of(middle.astimezone(ZoneInfo(tz)).date())


def odoo_month_counts(
    client: OdooClient, kind: DocumentKind, company_ids: Iterable[int], tz: str
) -> Counter[tuple[int, Month]]:
    """Documents per (company, local month) in Odoo: one grouped count per date field."""
    counts: Counter[tuple[int, Month]] = Counter()
    companies = sorted(set(company_ids))
    if not companies:
        return counts
    for extra, spec in kind.groupings:
        domain = [("company_id", "in", companies), *kind.count_domain, *extra]
        for group in client.group_counts(kind.model, domain, ["company_id", spec], context={"tz": tz}):
            company = m2o_id(group.values["company_id"])
            month = group_month(group, spec, tz)
            if company is None or month is None:
                continue
            counts[(company, month)] += group.count
    return counts


def _search_spans(months: list[Month], max_searches: int) -> list[tuple[date, date]]:
    if len(months) <= max_searches:
        return [(m, month_end(m)) for m in months]
    return [(months[0], month_end(months[-1]))]


def reconcile(
    client: OdooClient,
    engine: Engine,
    companies: dict[str, int],
    *,
    tz: str,
    kinds: Sequence[DocumentKind] = KINDS,
    max_month_searches: int = MAX_MONTH_SEARCHES,
    deadline: float | None = None,
) -> list[EmpreendimentoReport]:
    """Compare Odoo with staging for ``companies`` (empreendimento key → company id), in order.

    Odoo calls: one grouped count per date field of each kind for the whole batch, at most
    ``max_month_searches`` id searches per kind and empreendimento (only where counts differ), and
    one search by id per kind when something is gone. Past ``deadline`` (``time.monotonic()``) no
    further empreendimento is started: the reports cover those done, the caller resumes after them.
    """
    # Odoo and the database are asked in turn, never together: each read below holds its connection
    # only for its own statement, so no connection waits on an Odoo round trip.
    odoo = {k.model: odoo_month_counts(client, k, companies.values(), tz) for k in kinds}
    staged = {k.model: staged_month_counts(engine, k.table, k.id_column, k.date_column, companies) for k in kinds}
    reports: list[EmpreendimentoReport] = []
    for emp, company in companies.items():
        if deadline is not None and reports and time.monotonic() > deadline:
            break
        report = EmpreendimentoReport(emp, company)
        for kind in kinds:
            o = {m: n for (c, m), n in odoo[kind.model].items() if c == company}
            s = {m: n for (e, m), n in staged[kind.model].items() if e == emp}
            months = sorted(set(o) | set(s))
            # Nothing staged in a month: nothing there can have been deleted (a backfill pending).
            differing = [m for m in months if s.get(m, 0) and o.get(m, 0) != s[m]]
            k = KindReport(sum(o.values()), sum(s.values()), len(months), differing)
            spans = _search_spans(differing, max_month_searches)
            held = staged_ids(engine, kind.table, kind.id_column, kind.date_column, emp, spans)
            for first, last in spans:
                in_odoo = set(client.search(kind.model, kind.bucket_domain(company, first, last, tz)))
                k.searches += 1
                k.gone |= held[(first, last)] - in_odoo
            report.kinds[kind.model] = k
        reports.append(report)
    for kind in kinds:
        gone = {i for r in reports for i in r.kinds[kind.model].gone}
        if not gone:
            continue
        where = staged_partitions(engine, kind.table, kind.id_column, gone)
        still = set(client.search(kind.model, [("id", "in", sorted(gone))]))
        for r in reports:
            k = r.kinds[kind.model]
            k.deleted = k.gone - still
            for doc in k.gone:
                for p in where.get(doc, ()):
                    r.partitions.setdefault(p, set()).add((kind.model, doc))
    return reports
