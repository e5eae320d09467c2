"""Helpers every partitioned asset uses: its partitions, and the schema on first run."""

from __future__ import annotations

import threading

from dagster import AssetExecutionContext

from sync_pipeline.partitions import SyncPartition
from sync_pipeline.resources.postgres import PostgresResource

_schema_ready: set[str] = set()
_lock = threading.Lock()


def ensure_schema_once(postgres: PostgresResource, log) -> None:
    """Create missing tables on the first run in this process (idempotent, cheap afterwards)."""
    with _lock:
        if postgres.database_url in _schema_ready:
            return
        created = postgres.ensure_schema(logger=log)
        if created:
            log.info(f"created tables: {', '.join(created)}")
        _schema_ready.add(postgres.database_url)


def partitions_of(context: AssetExecutionContext) -> list[SyncPartition]:
    """Every partition this run was given (one, or a range from a backfill), sorted."""
    return sorted(SyncPartition.parse(k) for k in context.partition_keys)
