"""Alembic's entry point, run by ``sync_pipeline.db.migrate`` with a connection in ``config.attributes``.

Online only, on the caller's connection and transaction: ``migrate`` took the schema lock on it,
and the caller's commit (or rollback) covers every revision applied.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run the migrations through sync_pipeline.db.migrate (sync-pipeline db upgrade)")

applied: list[str] = config.attributes.setdefault("applied", [])


def _record(*, step, **_kwargs) -> None:
    if step.is_upgrade:
        applied.append(step.up_revision_id)


context.configure(
    connection=connection,
    version_table=config.attributes["version_table"],
    version_table_schema=config.attributes["version_table_schema"],
    transactional_ddl=True,
    on_version_apply=[_record],
)

with context.begin_transaction():
    context.run_migrations()
