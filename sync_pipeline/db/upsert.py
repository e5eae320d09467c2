"""One upsert for every table, built from its SQLAlchemy ``Table`` (DESIGN §5: writes skip unchanged rows).

``upsert_statement`` builds ``INSERT … ON CONFLICT (key) DO UPDATE SET <every non-key column the
source carries> WHERE (target columns) IS DISTINCT FROM (EXCLUDED columns) RETURNING (xmax = 0) AS
inserted``: an unchanged row is neither rewritten nor returned, and the table's change stamps
(``updated_at``, ``staged_at``) move only when something changed. The key is one of the table's own
unique keys, so its columns are never retyped. ``upsert`` runs it and counts what it wrote in the
same statement; a caller that needs more (a CTE joining what was written) embeds
``upsert_statement(...).cte()`` in its own statement. Either way: one statement, one round trip.

``ON CONFLICT DO UPDATE`` locks the row it finds even when its ``WHERE`` is false, so an unchanged
row is not rewritten but is locked (and its page dirtied). A caller whose source is mostly
unchanged rows passes ``filter_unchanged=True``: the source rows equal to the current ones are
left out before the insert and take no lock at all.

``sync_rejeitado``'s upsert (db/rejects.py) stays hand-built on purpose: it compares only the
payload and the partition (a reject seen again keeps its message and run id), not every column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Index,
    PrimaryKeyConstraint,
    Select,
    Table,
    UniqueConstraint,
    bindparam,
    column,
    func,
    literal_column,
    not_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.engine import Connection

# Stamped by the database whenever a row changes: set to now() on a real update, never otherwise.
CHANGE_STAMPS = ("updated_at", "staged_at")

Key = str | Sequence[str] | PrimaryKeyConstraint | UniqueConstraint | Index | None


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int  # rows that existed and differed; unchanged rows count as neither


def _unique_keys(table: Table) -> list[tuple[str | None, list[Column]]]:
    keys: list[tuple[str | None, list[Column]]] = [(table.primary_key.name, list(table.primary_key.columns))]
    keys += [(c.name, list(c.columns)) for c in table.constraints if isinstance(c, UniqueConstraint)]
    keys += [(i.name, list(i.columns)) for i in table.indexes if i.unique]
    return keys


def conflict_columns(table: Table, key: Key = None) -> list[Column]:
    """The columns of one of ``table``'s unique keys: its primary key (``None``), a unique
    constraint or unique index (the object or its name), or column names one of them has exactly."""
    if key is None:
        return list(table.primary_key.columns)
    if isinstance(key, PrimaryKeyConstraint | UniqueConstraint | Index):
        if key.table is not table or (isinstance(key, Index) and not key.unique):
            raise ValueError(f"{key!r} is not a unique key of {table.name}")
        return list(key.columns)
    keys = _unique_keys(table)
    if isinstance(key, str):
        named = [cols for name, cols in keys if name == key]
        if named:
            return named[0]
        key = (key,)
    wanted = set(key)
    for _, cols in keys:
        if {c.name for c in cols} == wanted:
            return [table.c[name] for name in key]
    raise ValueError(f"{table.name} has no unique key {key!r}")


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact: the column's input function parses it
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def rows_source(table: Table, rows: Sequence[Mapping[str, object]], name: str = "rows") -> Select:
    """``SELECT <columns> FROM jsonb_to_recordset(:rows) AS (col type, …)``: every row in one bind
    parameter, typed by ``table``'s columns. The rows must all carry the same columns."""
    names = list(rows[0])
    if any(r.keys() != rows[0].keys() for r in rows):
        raise ValueError(f"rows for {table.name} carry different columns")
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    payload = [{n: _json_value(r[n]) for n in names} for r in rows]
    records = (
        func.jsonb_to_recordset(bindparam(name, payload, type_=JSONB))
        .table_valued(*(column(n, table.c[n].type) for n in names))
        .render_derived(name=f"{name}_src", with_types=True)
    )
    return select(*(records.c[n] for n in names))


def _without_current_rows(table: Table, source: Select, keys: list[str], updatable: list[str]) -> Select:
    """``source``'s rows but those a row of ``table`` already holds, key and values alike."""
    src = source.subquery("src")
    cur = table.alias("cur")
    same = [cur.c[k] == src.c[k] for k in keys]
    if updatable:
        same.append(tuple_(*(cur.c[n] for n in updatable)).is_not_distinct_from(tuple_(*(src.c[n] for n in updatable))))
    current = select(literal_column("1")).select_from(cur).where(*same)
    return select(*(src.c[c.name] for c in source.selected_columns)).where(~current.exists())


def upsert_statement(
    table: Table,
    key: Key,
    source: Select,
    *,
    returning: Sequence[ColumnElement] = (),
    filter_unchanged: bool = False,
) -> PgInsert:
    """``INSERT INTO table (<source's columns>) <source> ON CONFLICT (key) DO UPDATE …`` skipping
    unchanged rows, ``RETURNING (xmax = 0) AS inserted`` and then ``returning``.

    The source's column names are the target's columns; every one of them that is not part of the
    key is updated, and the change stamps the source does not carry are set to now() with them.
    ``filter_unchanged`` leaves out of the insert the source rows equal to a current row (same key
    by ``=``, same values by ``IS NOT DISTINCT FROM``), so they take no lock; a key holding a NULL
    never matches there and is left to the ``DO UPDATE``'s own ``WHERE``."""
    names = [c.name for c in source.selected_columns]
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    keys = [c.name for c in conflict_columns(table, key)]
    missing = [k for k in keys if k not in names]
    if missing:
        raise ValueError(f"the source for {table.name} does not carry key columns {missing}")
    updatable = [n for n in names if n not in keys]
    if filter_unchanged:
        source = _without_current_rows(table, source, keys, updatable)
    stmt = insert(table).from_select(names, source)
    if updatable:
        stamps = {s: func.now() for s in CHANGE_STAMPS if s in table.c and s not in names}
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={**{n: stmt.excluded[n] for n in updatable}, **stamps},
            where=tuple_(*(table.c[n] for n in updatable)).is_distinct_from(
                tuple_(*(stmt.excluded[n] for n in updatable))
            ),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    # xmax is 0 on a row this statement inserted, the updating transaction's id on one it updated.
    return stmt.returning(literal_column("(xmax = 0)", Boolean).label("inserted"), *returning)


def upsert(
    conn: Connection,
    table: Table,
    key: Key,
    source: Select | Sequence[Mapping[str, object]],
    *,
    params: Mapping[str, object] | None = None,
    filter_unchanged: bool = False,
) -> UpsertCounts:
    """Upsert ``source`` (a SELECT, or rows sent in one parameter) into ``table`` by ``key`` in one
    statement; returns how many rows were inserted and how many changed rows were updated."""
    if not isinstance(source, Select):
        if not source:
            return UpsertCounts(0, 0)
        source = rows_source(table, source)
    up = upsert_statement(table, key, source, filter_unchanged=filter_unchanged).cte("up")
    inserted, updated = conn.execute(
        select(func.count().filter(up.c.inserted), func.count().filter(not_(up.c.inserted))), dict(params or {})
    ).one()
    return UpsertCounts(int(inserted), int(updated))
