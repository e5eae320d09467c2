"""Schema migrations of the operational database (Alembic, revisions in ``db/migrations/versions``).

The database is shared with the operational application, which runs Alembic migrations of its own
in the same schema: this project records its revision in a table of its own,
``sync_pipeline_alembic_version``, and never reads or writes ``alembic_version``. The version table
lives in the connection's current schema, beside the tables it describes.

Alembic is driven in code (no ``alembic.ini``): ``upgrade`` builds the ``Config``, hands the
connection to ``migrations/env.py`` and collects the revisions applied. Everything runs in one
transaction under the advisory lock the schema creation always took, so two first runs starting
together migrate once: the second waits, then finds the database at head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "sync_pipeline_alembic_version"
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
# The key of the transaction-level advisory lock (the one create_schema took before migrations).
SCHEMA_LOCK_KEY = 872301


@dataclass
class MigrationReport:
    applied: list[str]  # revisions applied by this call, oldest first
    created_tables: list[str]  # tables of the schema that did not exist before
    current: str | None  # the revision the database is at afterwards


def alembic_config(conn: Connection | None = None) -> Config:
    """The Alembic configuration, built in code; ``conn`` is the connection ``env.py`` migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if conn is not None:
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = VERSION_TABLE
        cfg.attributes["version_table_schema"] = current_schema(conn)
    return cfg


def current_schema(conn: Connection) -> str:
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    if schema is None:
        raise RuntimeError("the connection has no current schema: no schema of its search_path exists")
    return schema


def lock(conn: Connection) -> None:
    """Serialise schema changes until the transaction ends (re-entrant within one session)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})


def table_names(conn: Connection) -> set[str]:
    """Tables of the current schema."""
    rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
    return set(rows.scalars())


def head() -> str:
    """The newest revision of the migration scripts."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "no migration scripts found"
    return revision


def current(conn: Connection) -> str | None:
    """The revision this database is at (None: never migrated by this project)."""
    context = MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE, "version_table_schema": current_schema(conn)}
    )
    return context.get_current_revision()


def run(conn_or_engine: Connection | Engine, revision: str = "head") -> MigrationReport:
    """Upgrade to ``revision`` under the schema lock; what was applied and created.

    Given an engine, runs in a transaction of its own and commits. Given a connection, runs in its
    transaction (beginning one if none is open: then it commits here; else the caller does).
    """
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            return _run(conn, revision)
    conn = conn_or_engine
    if conn.in_transaction():
        return _run(conn, revision)
    with conn.begin():
        return _run(conn, revision)


def upgrade(conn_or_engine: Connection | Engine, revision: str = "head") -> list[str]:
    """Upgrade to ``revision`` (default: the newest); return the revisions applied, oldest first."""
    return run(conn_or_engine, revision).applied


def _run(conn: Connection, revision: str) -> MigrationReport:
    lock(conn)
    before = table_names(conn)
    cfg = alembic_config(conn)
    applied: list[str] = []
    cfg.attributes["applied"] = applied
    command.upgrade(cfg, revision)
    return MigrationReport(
        applied=applied,
        created_tables=sorted(table_names(conn) - before - {VERSION_TABLE}),
        current=current(conn),
    )
