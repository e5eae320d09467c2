"""Helpers every partitioned asset uses: its partitions, and the schema on first run."""

from __future__ import annotations

import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, BetaWarning, MaterializeResult
from sqlalchemy import Table
from sqlalchemy.engine import Connection

from sync_pipeline import settings
from sync_pipeline.db.staging import Scope, mirror_partition, staged_documents, upsert_rows
from sync_pipeline.domain.values import Reject
from sync_pipeline.partitions import SyncPartition, chunk_partitions
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

CHUNK_DAYS = 31  # dates of one empreendimento read from Odoo together
MAX_PARTITIONS_PER_RUN = settings.max_partitions_per_run()  # about a year of one empreendimento (DESIGN §7)
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)
# `@asset(backfill_policy=...)` warns at every decoration (faturamento.py, carteira.py import this
# module first): Dagster has no non-beta way to set the policy, and one run per empreendimento and
# year depends on it, so the warning is not actionable. Only this message is silenced.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta", category=BetaWarning
)

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


def scope_of(p: SyncPartition) -> Scope:
    return Scope(empreendimento=p.empreendimento, day=p.day, first=p.is_first, last=p.is_last)


def empreendimento_lock(p: SyncPartition) -> str:
    """Units of one empreendimento never write concurrently, whichever run they come from."""
    return f"empreendimento:{p.empreendimento}"


@dataclass
class Extracted:
    rows_by_day: dict[date, list[dict]]
    rejects: list[Reject]
    summary: str  # what was read, for the log
    documents: set[int]  # ids of the documents (invoices, orders) read


def run_extract(
    context: AssetExecutionContext,
    odoo: OdooResource,
    postgres: PostgresResource,
    *,
    table: Table,
    document_column: str,
    extract: Callable[..., Extracted],
) -> MaterializeResult:
    """The body of every extract asset: per chunk of one empreendimento and up to CHUNK_DAYS
    dates, one extraction from Odoo; then one transaction per partition mirroring its rows into
    the staging ``table``, with a materialization (and its metadata) per partition.

    ``extract(client, emp, first, last, ids=None)`` reads the documents dated in [first, last], or
    the documents ``ids`` whatever their date. Odoo never reports a deletion, and a document's date
    can move (a draft re-dated, an order confirmed another day): documents staged in the chunk that
    Odoo no longer returns for it are read again by id (DESIGN §4, id reconciliation) — those that
    still exist are staged under their new partition, the others leave with the mirror."""
    ensure_schema_once(postgres, context.log)
    partitions = partitions_of(context)
    asset = context.assets_def.key.to_user_string()
    run_id = context.run.run_id
    totals: dict[str, int] = defaultdict(int)
    client = odoo.get_client(logger=context.log)  # one per run: fields_get is asked once
    for chunk in chunk_partitions(partitions, CHUNK_DAYS):
        started = time.perf_counter()
        calls_before = client.stats.total
        emp = chunk[0].empreendimento
        found = extract(
            client,
            emp,
            None if chunk[0].is_first else chunk[0].day,
            None if chunk[-1].is_last else chunk[-1].day,
            ids=None,
        )
        staged = staged_documents(postgres, table, document_column, chunk)
        moved_rows: list[dict] = []
        if staged - found.documents:
            moved = extract(client, emp, None, None, ids=sorted(staged - found.documents))
            chunk_days = {p.day for p in chunk}
            moved_rows = [r for day, rows in moved.rows_by_day.items() if day not in chunk_days for r in rows]
            if moved_rows:
                postgres.unit_of_work(
                    lambda conn, rows=moved_rows: upsert_rows(conn, table, rows),
                    name=f"{asset} moved documents",
                    logger=context.log,
                    lock=empreendimento_lock(chunk[0]),
                )
            context.log.info(
                f"{emp}: {len(staged - found.documents)} documents left these dates: "
                f"{len(moved.documents)} still in Odoo ({len(moved_rows)} lines restaged under their new date), "
                f"{len(staged - found.documents - moved.documents)} deleted"
            )
        calls = client.stats.total - calls_before
        extract_seconds = time.perf_counter() - started
        context.log.info(
            f"{emp} {chunk[0].day}..{chunk[-1].day}: read {found.summary} in {calls} Odoo calls "
            f"({extract_seconds:.2f}s); {len(found.rejects)} set aside"
        )
        rejects_by_day: dict[date | None, list[Reject]] = defaultdict(list)
        for r in found.rejects:
            rejects_by_day[r.partition_day].append(r)
        for p in chunk:
            rows = found.rows_by_day.get(p.day, [])
            rejects = rejects_by_day.get(p.day, [])
            unit = postgres.unit_of_work(
                lambda conn, p=p, rows=rows, rejects=rejects: mirror_partition(
                    conn, table, scope_of(p), rows, rejects, asset=asset, partition_key=p.key, run_id=run_id
                ),
                name=f"{asset} {p.key}",
                logger=context.log,
                lock=empreendimento_lock(p),
            )
            counts = unit.value
            for k, v in counts.items():
                totals[k] += v
            context.add_asset_metadata(
                {
                    "lines": len(rows),
                    "rows_inserted": counts["inserted"],
                    "rows_updated": counts["updated"],
                    "rows_deleted": counts["deleted"],
                    "rejects": counts["rejects"],
                    "sql_statements": unit.statements,
                    "db_attempts": unit.attempts,
                    "odoo_calls_chunk": calls,
                    "chunk_partitions": len(chunk),
                    "seconds": round(unit.seconds + extract_seconds / len(chunk), 3),
                },
                partition_key=p.key,
            )
    context.log.info(
        f"{asset}: {len(partitions)} partitions, " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items()))
    )
    return MaterializeResult()


def run_transform(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    work: Callable[[Connection, SyncPartition], dict],
    *,
    metadata: Callable[[dict], dict] = dict,
    by_asset: Callable[[dict], dict[AssetKey, dict]] | None = None,
) -> MaterializeResult | tuple[MaterializeResult, ...]:
    """The body of every transform asset: ``work(conn, partition)`` in one transaction per
    partition (replayed whole on a transient error), and a materialization per partition with
    ``metadata(counts)``, SQL statements, attempts and seconds.

    A multi-asset (several tables written in that one transaction) passes ``by_asset(counts)``,
    naming its assets in dependency order: each gets its own slice of the counts, and the
    transaction's statements, attempts and seconds."""
    ensure_schema_once(postgres, context.log)
    partitions = partitions_of(context)
    name = context.op_def.name if by_asset else context.assets_def.key.to_user_string()
    totals: dict[str, int] = defaultdict(int)
    for p in partitions:
        unit = postgres.unit_of_work(
            lambda conn, p=p: work(conn, p), name=f"{name} {p.key}", logger=context.log, lock=empreendimento_lock(p)
        )
        counts = unit.value
        for k, v in counts.items():
            if isinstance(v, int):
                totals[k] += v
        cost = {"sql_statements": unit.statements, "db_attempts": unit.attempts, "seconds": round(unit.seconds, 3)}
        if by_asset is None:
            context.add_asset_metadata({**metadata(counts), **cost}, partition_key=p.key)
        else:
            for key, values in by_asset(counts).items():
                context.add_asset_metadata({**values, **cost}, asset_key=key, partition_key=p.key)
        if counts.get("critical_alerts"):
            context.log.warning(f"{p.key}: {counts['critical_alerts']} critical alerts (alerta_separacao_cotada)")
    log_totals(context, name, len(partitions), totals)
    if by_asset is None:
        return MaterializeResult()
    # in the order ``by_asset`` names them (Dagster wants a multi-asset's outputs in dependency order)
    return tuple(MaterializeResult(asset_key=key) for key in by_asset({}) if key in context.selected_asset_keys)


def pick(counts: dict, *names: str, **renamed: str) -> dict:
    """The counts ``names`` (and ``renamed``: new name → count name) that ``counts`` holds."""
    out = {n: counts[n] for n in names if n in counts}
    out.update({new: counts[old] for new, old in renamed.items() if old in counts})
    return out


def log_totals(context: AssetExecutionContext, asset: str, n_partitions: int, totals: dict[str, int]) -> None:
    context.log.info(f"{asset}: {n_partitions} partitions, " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
