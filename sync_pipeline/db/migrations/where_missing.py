"""Schema operations that act only where the database lacks what they create.

A user's database may already hold a table (the operational application's, or one this project
created before migrations existed) with more columns, other index names, its own rows. Revisions
create tables, columns, unique keys and indexes through these functions: each looks in the current
schema first and leaves what is there untouched. They are generic on purpose: what a revision
creates is written out in the revision file (frozen), never taken from ``db/schema.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alembic import op
from sqlalchemy import Column, Index, Table, UniqueConstraint, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn


@dataclass(frozen=True)
class ExistingIndex:
    name: str
    unique: bool
    nulls_not_distinct: bool  # PostgreSQL 15's NULLS NOT DISTINCT (always False before 15)
    columns: tuple[str, ...]  # key columns in index order; empty for an expression or partial index


def _bind() -> Connection:
    return op.get_bind()


def _quote(name: str) -> str:
    return _bind().dialect.identifier_preparer.quote(name)


def _exists(sql: str, **params) -> bool:
    return bool(_bind().execute(text(f"SELECT EXISTS ({sql})"), params).scalar())


def table_exists(name: str) -> bool:
    return _exists("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = :t", t=name)


def relation_exists(name: str) -> bool:
    """A table, index, sequence... of this name in the current schema (they share one namespace)."""
    return _exists(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = :r",
        r=name,
    )


def columns_of(table_name: str) -> set[str]:
    rows = _bind().execute(
        text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t"
        ),
        {"t": table_name},
    )
    return set(rows.scalars())


def indexes_of(table_name: str) -> list[ExistingIndex]:
    """Every index of the table (primary key and unique constraints included)."""
    rows = _bind().execute(
        text(
            """
            SELECT ic.relname AS name, i.indisunique AS is_unique,
                   -- through jsonb: the column exists from PostgreSQL 15 on
                   COALESCE((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
                   CASE WHEN i.indpred IS NULL AND i.indexprs IS NULL THEN
                       (SELECT array_agg(a.attname::text ORDER BY k.ord)
                          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                         WHERE k.ord <= i.indnkeyatts)
                   END AS columns
              FROM pg_index i
              JOIN pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_class t ON t.oid = i.indrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = current_schema() AND t.relname = :t
            """
        ),
        {"t": table_name},
    )
    return [ExistingIndex(r.name, r.is_unique, r.nulls_not_distinct, tuple(r.columns or ())) for r in rows]


def _require_columns(table_name: str, columns: Iterable[str], what: str) -> None:
    missing = sorted(set(columns) - columns_of(table_name))
    if missing:
        raise RuntimeError(
            f"table {table_name} exists without column(s) {', '.join(missing)} that {what} needs: "
            "add them to the table (the sync reads and writes them), then upgrade again"
        )


def create_table(table: Table, *, add_columns: Iterable[str] = ()) -> bool:
    """Create ``table`` with its keys and indexes where no table of its name exists (True).

    Where it exists, its columns and rows stay as they are; only the columns named in
    ``add_columns`` are added where missing, then its unique keys and indexes where missing.
    """
    if not table_exists(table.name):
        table.create(_bind())
        return True
    for name in add_columns:
        add_column(table.c[name])
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            create_unique(
                table.name,
                [c.name for c in constraint.columns],
                name=constraint.name,
                nulls_not_distinct=bool(constraint.dialect_options["postgresql"]["nulls_not_distinct"]),
            )
    for index in table.indexes:
        create_index(index)
    return False


def add_column(column: Column) -> bool:
    """``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` (with the column's type, default and nullability)
    where the column's table lacks it; True if added. Existing rows take the server default."""
    table_name = column.table.name
    if column.name in columns_of(table_name):
        return False
    ddl = CreateColumn(column).compile(dialect=_bind().dialect)
    op.execute(f"ALTER TABLE {_quote(table_name)} ADD COLUMN IF NOT EXISTS {ddl}")
    return True


def create_unique(
    table_name: str, columns: list[str], *, name: str | None = None, nulls_not_distinct: bool = False
) -> bool:
    """A unique key on ``columns`` where no unique index covers exactly them (in any order, which
    is all ``ON CONFLICT`` asks) with the same NULL rule; True if created. Unnamed: PostgreSQL's own
    ``<table>_<cols>_key``."""
    wanted = set(columns)
    for ix in indexes_of(table_name):
        if ix.unique and set(ix.columns) == wanted and ix.nulls_not_distinct == nulls_not_distinct:
            return False
    _require_columns(table_name, columns, f"the unique key on ({', '.join(columns)})")
    name = name or f"{table_name}_{'_'.join(columns)}_key"
    if relation_exists(name):
        raise RuntimeError(f"cannot create unique key {name} on {table_name}: a relation of that name exists")
    kwargs = {"postgresql_nulls_not_distinct": True} if nulls_not_distinct else {}
    op.create_unique_constraint(name, table_name, columns, **kwargs)
    return True


def create_index(index: Index) -> bool:
    """The index where neither an index of its name nor one on the same columns exists; True if created.

    An index the operational application made on the same columns under its own name serves the
    same queries: a second one would only slow its writes.
    """
    table_name = index.table.name
    columns = tuple(c.name for c in index.columns)
    if relation_exists(index.name):
        return False
    for existing in indexes_of(table_name):
        same = set(existing.columns) == set(columns) if index.unique else existing.columns == columns
        if same and (existing.unique or not index.unique):
            return False
    _require_columns(table_name, columns, f"index {index.name}")
    op.create_index(index.name, table_name, list(columns), unique=index.unique)
    return True
