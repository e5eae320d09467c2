"""Staging tables: a partition's records as read from Odoo, mirrored set-based.

Every extract asset writes its partition the same way, in the caller's transaction: COPY into a
temporary table, upsert by the Odoo id skipping unchanged rows (``db/upsert.py``), delete the
partition's rows Odoo no longer has, and record the rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Date,
    FromClause,
    ScalarSelect,
    Select,
    Table,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection

from sync_pipeline.db.bulk import copy_rows, create_stage
from sync_pipeline.db.reconcile import staged_partitions as staged_partitions_of_table
from sync_pipeline.db.rejects import record_rejects
from sync_pipeline.db.schema import metadata
from sync_pipeline.db.upsert import upsert, upsert_statement
from sync_pipeline.domain.values import Reject


@dataclass(frozen=True)
class Scope:
    """The rows a chunk of partitions of one empreendimento owns: the rows dated on one of its
    ``days``; when the chunk holds the first partition also everything older (or undated), when it
    holds the last (today) everything newer. One partition is a chunk of one day.

    The SQL of a chunk is set-based across its days: a statement reads and writes every partition
    of the chunk at once, and returns its counts per day (``day_of``), so each partition still
    gets its own figures."""

    empreendimento: str
    days: tuple[date, ...]  # sorted, distinct
    first: bool  # days[0] is the first partition
    last: bool = False  # days[-1] is the newest partition

    def __post_init__(self):
        if not self.days or list(self.days) != sorted(set(self.days)):
            raise ValueError(f"a scope needs sorted distinct days, not {self.days!r}")

    @classmethod
    def single(cls, empreendimento: str, day: date, first: bool, last: bool = False) -> Scope:
        return cls(empreendimento, (day,), first, last)

    @property
    def start(self) -> date:
        return self.days[0]

    @property
    def end(self) -> date:
        return self.days[-1]

    def params(self) -> dict:
        return {
            "emp": self.empreendimento,
            "days": list(self.days),
            "start": self.start,
            "end": self.end,
            "first": self.first,
            "last": self.last,
        }


def owns(alias: str, col: str) -> str:
    """SQL: the row's date is one of the scope's days, or (first partition) older or missing, or
    (last partition) newer."""
    return (
        f"({alias}.{col} = ANY(CAST(:days AS date[])) OR (:first AND ({alias}.{col} < :start OR {alias}.{col} IS NULL))"
        f" OR (:last AND {alias}.{col} > :end))"
    )


def day_of(alias: str, col: str) -> str:
    """SQL: the partition date, within the scope, of a row the scope owns (``owns``)."""
    return (
        f"(CASE WHEN {alias}.{col} IS NULL OR {alias}.{col} < CAST(:start AS date) THEN CAST(:start AS date)"
        f" WHEN {alias}.{col} > CAST(:end AS date) THEN CAST(:end AS date) ELSE {alias}.{col} END)"
    )


def day_of_column(col: ColumnElement) -> ColumnElement:
    """``day_of`` for SQLAlchemy Core: the partition date, within the scope, of a row it owns."""
    start, end = cast(bindparam("start"), Date), cast(bindparam("end"), Date)
    return case((or_(col.is_(None), col < start), start), (col > end, end), else_=col)


# SQL: the scope's days, one row each (``d.day``), for a statement's counts per partition.
SCOPE_DAYS = "unnest(CAST(:days AS date[])) AS d(day)"


def scope_days() -> FromClause:
    """``SCOPE_DAYS`` for SQLAlchemy Core: a FROM of the scope's days, column ``day``."""
    return func.unnest(bindparam("days", type_=ARRAY(Date))).table_valued(column("day", Date)).render_derived("d")


def count_where(source: FromClause, *where: ColumnElement[bool]) -> ScalarSelect:
    """``(SELECT count(*) FROM source WHERE …)``: correlated with the enclosing statement's days."""
    return select(func.count()).select_from(source).where(*where).scalar_subquery()


def owns_any(conn: Connection, scope: Scope, *tables: tuple[str, str]) -> bool:
    """Whether any of ``tables`` ((table, date column) pairs) holds a row of the scope's
    empreendimento that the scope owns: one query."""
    exists = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} t WHERE t.empreendimento = :emp AND {owns('t', col)})" for table, col in tables
    )
    return bool(conn.execute(text(f"SELECT {exists}"), scope.params()).scalar())


def per_day(rows, names: tuple[str, ...]) -> dict[date, dict[str, int]]:
    """Rows of ``(day, *counts)`` as {day: {name: count}}."""
    return {row[0]: dict(zip(names, (_number(v) for v in row[1:]), strict=True)) for row in rows}


def _number(value):
    return value if isinstance(value, int) or value is None else float(value)


STAGED_AT = "staged_at"


def staged_columns(table: Table) -> list[str]:
    """The columns an extract writes (``staged_at`` is stamped by the database)."""
    return [c.name for c in table.columns if c.name != STAGED_AT]


def _select_all(stage: str, columns: list[str]) -> Select:
    """``SELECT <columns> FROM <stage>``: the COPY-loaded temporary table as an upsert's source."""
    return select(*sql_table(stage, *(column(c) for c in columns)).c)


def mirror_partitions(
    conn: Connection,
    table: Table,
    scope: Scope,
    rows: list[dict],
    rejects: dict[date, list[Reject]],
    *,
    asset: str,
    partition_keys: dict[date, str],
    run_id: str,
) -> dict[date, dict[str, int]]:
    """Make ``table``'s rows of the scope's partitions equal ``rows`` (each carries its
    ``partition_date``) and record each partition's ``rejects``; four statements whatever the
    number of partitions and rows. Returns, per day, counts of what changed."""
    (key,) = [c.name for c in table.primary_key.columns]
    columns = staged_columns(table)
    stage = create_stage(conn, table)
    copy_rows(conn, stage, columns, ([r[c] for c in columns] for r in rows))
    staged = sql_table(stage, column(key))
    up = upsert_statement(table, None, _select_all(stage, columns), returning=[table.c.partition_date]).cte("up")
    gone = (
        delete(table)
        .where(
            table.c.empreendimento == bindparam("emp"),
            text(owns(table.name, "partition_date")),
            ~select(literal_column("1")).select_from(staged).where(staged.c[key] == table.c[key]).exists(),
        )
        .returning(day_of_column(table.c.partition_date).label("day"))
        .cte("gone")
    )
    d = scope_days()
    counts = conn.execute(
        select(
            d.c.day,
            count_where(up, up.c.inserted, up.c.partition_date == d.c.day),
            count_where(up, ~up.c.inserted, up.c.partition_date == d.c.day),
            count_where(gone, gone.c.day == d.c.day),
        ),
        scope.params(),
    )
    by_day = per_day(counts, ("inserted", "updated", "deleted"))
    rejected = record_rejects(
        conn,
        {partition_keys[day]: rejects.get(day, []) for day in scope.days},
        asset=asset,
        run_id=run_id,
    )
    return {day: by_day[day] | rejected[partition_keys[day]] for day in scope.days}


def staged_state(postgres, table: Table, document_column: str, asset: str, partitions) -> tuple[set[int], bool]:
    """Ids of the documents ``table`` holds for these partitions (one empreendimento), and whether
    ``asset`` has rejects recorded for them: one query."""
    scope = Scope(
        partitions[0].empreendimento, tuple(p.day for p in partitions), partitions[0].is_first, partitions[-1].is_last
    )
    with postgres.engine().connect() as conn:
        documents, rejects = conn.execute(
            text(
                f"SELECT ARRAY(SELECT DISTINCT {document_column} FROM {table.name} t "
                f"             WHERE t.empreendimento = :emp AND {owns('t', 'partition_date')}), "
                "EXISTS (SELECT 1 FROM sync_rejeitado r WHERE r.asset = :asset AND r.partition_key = ANY(:pks))"
            ),
            {**scope.params(), "asset": asset, "pks": [str(p.key) for p in partitions]},
        ).one()
    return set(documents), bool(rejects)


def upsert_rows(conn: Connection, table: Table, rows: list[dict]) -> int:
    """Upsert staged rows of documents that moved to another partition (no deletes); returns the
    rows written (unchanged ones are skipped)."""
    if not rows:
        return 0
    columns = staged_columns(table)
    stage = create_stage(conn, table, name=f"moved_{table.name}")
    copy_rows(conn, stage, columns, ([r[c] for c in columns] for r in rows))
    upserted = upsert(conn, table, None, _select_all(stage, columns))
    return upserted.inserted + upserted.updated


# The staging table of each Odoo document model, and its document id column.
STAGED_DOCUMENTS = {
    "account.move": ("odoo_fatura_linha", "odoo_move_id"),
    "sale.order": ("odoo_pedido_linha", "odoo_order_id"),
}


def staged_partitions(engine, model: str, ids: set[int]) -> dict[int, set[tuple[str, date]]]:
    """(empreendimento, partition date) of the staged rows of each document ``ids`` of ``model``;
    nothing before the first run has created the staging table."""
    if not ids:
        return {}
    table, column = STAGED_DOCUMENTS[model]
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar():
            return {}
    return staged_partitions_of_table(engine, metadata.tables[table], column, ids)
