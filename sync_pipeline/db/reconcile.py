"""Staging's side of the deleted-document reconciliation (``odoo/reconcile.py``, DESIGN §4).

Each function reads in a short connection of its own and returns plain values, so the
reconciliation never holds a connection (or a snapshot) while it waits for Odoo. Documents are
counted once per document, not per line: ``id_column`` names the document, ``date_column`` its
local business date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Date, Table, distinct, func, or_, select
from sqlalchemy.engine import Engine

Month = date  # the first day of a local calendar month
Span = tuple[date, date]  # first and last local day, both included


def staged_month_counts(
    engine: Engine, table: Table, id_column: str, date_column: str, empreendimentos: Iterable[str]
) -> Counter[tuple[str, Month]]:
    """Distinct staged documents per (empreendimento, month of their business date); empty while
    the staging table does not exist yet."""
    counts: Counter[tuple[str, Month]] = Counter()
    day = table.c[date_column]
    month = func.date_trunc("month", day).cast(Date)
    query = (
        select(table.c.empreendimento, month, func.count(distinct(table.c[id_column])))
        .where(table.c.empreendimento.in_(sorted(set(empreendimentos))), day.is_not(None))
        .group_by(table.c.empreendimento, month)
    )
    with engine.connect() as conn:
        if not conn.execute(select(func.to_regclass(table.name).is_not(None))).scalar():
            return counts
        for emp, first_day, n in conn.execute(query):
            counts[(emp, first_day)] = int(n)
    return counts


def staged_ids(
    engine: Engine, table: Table, id_column: str, date_column: str, empreendimento: str, spans: Sequence[Span]
) -> dict[Span, set[int]]:
    """The documents staged for ``empreendimento`` whose business date falls in each span (one statement)."""
    if not spans:
        return {}
    day = table.c[date_column]
    query = (
        select(table.c[id_column], day)
        .distinct()
        .where(table.c.empreendimento == empreendimento, or_(*(day.between(first, last) for first, last in spans)))
    )
    found: dict[Span, set[int]] = {span: set() for span in spans}
    with engine.connect() as conn:
        for doc, when in conn.execute(query):
            for first, last in spans:
                if first <= when <= last:
                    found[(first, last)].add(int(doc))
    return found


def staged_partitions(
    engine: Engine, table: Table, id_column: str, ids: Iterable[int]
) -> dict[int, set[tuple[str, date]]]:
    """(empreendimento, partition_date) of every staged row of the documents ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    doc = table.c[id_column]
    query = select(doc, table.c.empreendimento, table.c.partition_date).distinct().where(doc.in_(wanted))
    found: dict[int, set[tuple[str, date]]] = {}
    with engine.connect() as conn:
        for record_id, emp, day in conn.execute(query):
            found.setdefault(int(record_id), set()).add((emp, day))
    return found
