"""Staging tables: a partition's records as read from Odoo, mirrored set-based.

Every extract asset writes its partition the same way, in the caller's transaction: COPY into a
temporary table, upsert by the Odoo id skipping unchanged rows (``db/upsert.py``), delete the
partition's rows Odoo no longer has, and record the rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, Table, column, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection

from sync_pipeline.db.bulk import copy_rows, create_stage
from sync_pipeline.db.reconcile import staged_partitions as staged_partitions_of_table
from sync_pipeline.db.rejects import record_rejects
from sync_pipeline.db.schema import metadata
from sync_pipeline.db.upsert import upsert
from sync_pipeline.domain.values import Reject


@dataclass(frozen=True)
class Scope:
    """The rows a partition owns: one empreendimento and a date; the first partition also owns
    everything older, the last (today) everything newer."""

    empreendimento: str
    day: date
    first: bool
    last: bool = False

    def params(self) -> dict:
        return {"emp": self.empreendimento, "day": self.day, "first": self.first, "last": self.last}


def owns(alias: str, col: str) -> str:
    """SQL: the row's date is the partition's, or (first partition) older or missing, or (last
    partition) newer."""
    return (
        f"({alias}.{col} = :day OR (:first AND ({alias}.{col} < :day OR {alias}.{col} IS NULL))"
        f" OR (:last AND {alias}.{col} > :day))"
    )


STAGED_AT = "staged_at"


def staged_columns(table: Table) -> list[str]:
    """The columns an extract writes (``staged_at`` is stamped by the database)."""
    return [c.name for c in table.columns if c.name != STAGED_AT]


def _select_all(stage: str, columns: list[str]) -> Select:
    """``SELECT <columns> FROM <stage>``: the COPY-loaded temporary table as an upsert's source."""
    return select(*sql_table(stage, *(column(c) for c in columns)).c)


def mirror_partition(
    conn: Connection,
    table: Table,
    scope: Scope,
    rows: list[dict],
    rejects: list[Reject],
    *,
    asset: str,
    partition_key: str,
    run_id: str,
) -> dict[str, int]:
    """Make ``table``'s rows of the partition equal ``rows``; returns counts of what changed."""
    (key,) = [c.name for c in table.primary_key.columns]
    columns = staged_columns(table)
    stage = create_stage(conn, table)
    copy_rows(conn, stage, columns, ([r[c] for c in columns] for r in rows))
    upserted = upsert(conn, table, None, _select_all(stage, columns))
    deleted = conn.execute(
        text(
            f"""
            DELETE FROM {table.name} t
            WHERE t.empreendimento = :emp AND {owns("t", "partition_date")}
              AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.{key} = t.{key})
            """
        ),
        scope.params(),
    ).rowcount
    rejected = record_rejects(conn, rejects, asset=asset, partition_key=partition_key, run_id=run_id)
    return {
        "inserted": upserted.inserted,
        "updated": upserted.updated,
        "deleted": deleted,
        **rejected,
    }


def staged_documents(postgres, table: Table, document_column: str, partitions) -> set[int]:
    """Ids of the documents ``table`` holds for these partitions (one empreendimento)."""
    days = [p.day for p in partitions]
    with postgres.engine().connect() as conn:
        return set(
            conn.execute(
                text(
                    f"SELECT DISTINCT {document_column} FROM {table.name} t WHERE t.empreendimento = :emp "
                    "AND (t.partition_date = ANY(:days) OR (:first AND t.partition_date < :start)"
                    " OR (:last AND t.partition_date > :end))"
                ),
                {
                    "emp": partitions[0].empreendimento,
                    "days": days,
                    "first": partitions[0].is_first,
                    "start": days[0],
                    "last": partitions[-1].is_last,
                    "end": days[-1],
                },
            ).scalars()
        )


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
