"""Bulk loading: COPY rows into a temporary table, so one statement moves a whole partition."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.sql import quoted_name

NULL = "\\N"


def _cell(value: object) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def create_stage(conn: Connection, like: Table, name: str | None = None) -> str:
    """A temporary table shaped like ``like`` (columns only), dropped at commit."""
    stage = name or f"stage_{like.name}"
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {quoted_name(stage, True)} (LIKE {like.name} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    return stage


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table`` (one round trip); returns the number of rows sent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    for row in rows:
        writer.writerow([_cell(v) for v in row])
        count += 1
    if not count:
        return 0
    buffer.seek(0)
    cols = ", ".join(columns)
    sql = f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')"
    counter = conn.info.get("statement_count")
    if counter is not None:
        counter.add(sql)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(sql, buffer)
    finally:
        cursor.close()
    return count
