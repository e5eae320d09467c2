"""Sensors: empreendimentos discovered from Odoo, and runs for exactly the partitions touched.

A tick does bounded work: at most ``limit`` changed records per query, short Odoo timeouts and
few retries (a tick that raises or passes Dagster's 60 s evaluation timeout loses its cursor).
"""

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from sqlalchemy import text

from sync_pipeline import settings
from sync_pipeline.jobs import sync_job
from sync_pipeline.odoo.changes import Cursor, invoice_changes, latest_invoice_change
from sync_pipeline.partitions import (
    SyncPartition,
    empreendimento_key,
    empreendimento_partitions,
    partition_day,
)
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

# A tick makes at most 4 calls (authenticate, fresh, overlap, refund targets): 4 × 6 s × 2
# attempts stays under the 60 s evaluation limit even against a stalling server.
SENSOR_ODOO_TIMEOUT = 6.0
SENSOR_ODOO_RETRIES = 1
MAX_CHANGES_PER_TICK = 2000
MAX_RUN_DAYS = 31
SENSOR_INTERVAL_SECONDS = settings.sensor_interval_seconds()


def _sensor_client(odoo: OdooResource, context: SensorEvaluationContext):
    return odoo.get_client(logger=context.log, timeout_seconds=SENSOR_ODOO_TIMEOUT, max_retries=SENSOR_ODOO_RETRIES)


def _missing_empreendimentos(context: SensorEvaluationContext, keys: set[str]) -> list[str]:
    known = set(context.instance.get_dynamic_partitions(empreendimento_partitions.name))
    return sorted(keys - known)


@sensor(
    name="empreendimento_sensor",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds every Odoo company (res.company) as an empreendimento partition.",
)
def empreendimento_sensor(context: SensorEvaluationContext, odoo: OdooResource):
    client = _sensor_client(odoo, context)
    companies = client.search_read("res.company", [], ["name"], order="id")
    keys = {empreendimento_key(int(c["id"])) for c in companies}
    missing = _missing_empreendimentos(context, keys)
    if not missing:
        return SkipReason(f"{len(keys)} empreendimentos, none new")
    context.log.info(f"new empreendimentos: {', '.join(missing)}")
    return SensorResult(
        dynamic_partitions_requests=[AddDynamicPartitionsRequest(empreendimento_partitions.name, missing)]
    )


def _staged_partitions_of(postgres: PostgresResource, move_ids: set[int]) -> dict[int, set]:
    """Where our staging table has these invoices now (a re-dated draft leaves its old day)."""
    if not move_ids:
        return {}
    with postgres.engine().connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('odoo_fatura_linha') IS NOT NULL")).scalar()
        if not exists:
            return {}
        rows = conn.execute(
            text(
                "SELECT DISTINCT odoo_move_id, empreendimento, partition_date FROM odoo_fatura_linha "
                "WHERE odoo_move_id = ANY(:ids)"
            ),
            {"ids": sorted(move_ids)},
        ).all()
    found: dict[int, set] = {}
    for move_id, emp, day in rows:
        found.setdefault(move_id, set()).add(SyncPartition(emp, day))
    return found


def _ranges(wanted: dict[SyncPartition, tuple[str, int]]) -> list[tuple[list[SyncPartition], tuple[str, int]]]:
    """Consecutive dates of one empreendimento become one run (at most MAX_RUN_DAYS dates)."""
    groups: list[tuple[list[SyncPartition], tuple[str, int]]] = []
    for p in sorted(wanted):
        if groups:
            parts, newest = groups[-1]
            last = parts[-1]
            if p.empreendimento == last.empreendimento and (p.day - last.day).days == 1 and len(parts) < MAX_RUN_DAYS:
                parts.append(p)
                groups[-1] = (parts, max(newest, wanted[p]))
                continue
        groups.append(([p], wanted[p]))
    return groups


def _run_request(parts: list[SyncPartition], newest: tuple[str, int]) -> RunRequest:
    first, last = parts[0], parts[-1]
    span = first.key if first == last else f"{first.key}..{last.key}"
    # Same partitions and same newest change → same key → a repeated tick is skipped by Dagster;
    # a later change gives a new key.
    run_key = f"faturamento:{span}:{newest[0]}:{newest[1]}"
    tags = {"sync/trigger": "invoice_sensor"}
    if first == last:
        return RunRequest(partition_key=first.key, run_key=run_key, tags=tags)
    return RunRequest(
        run_key=run_key,
        tags={
            **tags,
            "dagster/asset_partition_range_start": first.key,
            "dagster/asset_partition_range_end": last.key,
        },
    )


@sensor(
    name="invoice_sensor",
    job=sync_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Polls Odoo for new or changed customer invoices and refunds (write_date + id cursor "
        "with an overlap window) and requests runs for exactly the partitions touched. Its first "
        "tick only records where Odoo is now: history is a backfill's job."
    ),
)
def invoice_sensor(context: SensorEvaluationContext, odoo: OdooResource, postgres: PostgresResource):
    client = _sensor_client(odoo, context)
    if not context.cursor:
        start = latest_invoice_change(client)
        context.log.info(
            f"first tick: starting after the newest invoice change ({start.write_date}, id "
            f"{start.id}); sync history with a backfill (UI or `sync-pipeline backfill`)"
        )
        return SensorResult(cursor=start.serialize())
    cursor = Cursor.parse(context.cursor)
    changes = invoice_changes(client, cursor, partition_day_of=partition_day, limit=MAX_CHANGES_PER_TICK)
    wanted: dict[SyncPartition, tuple[str, int]] = {}
    all_moves: set[int] = set()
    for t in changes.touched.values():
        p = SyncPartition(empreendimento_key(t.company_id), t.day)
        wanted[p] = max(wanted.get(p, ("", 0)), (t.newest_write_date, t.newest_id))
        all_moves |= t.move_ids
    # A document whose date moved also refreshes the partition that still holds its rows.
    for move_id, old_parts in _staged_partitions_of(postgres, all_moves).items():
        for t in changes.touched.values():
            if move_id in t.move_ids:
                for old in old_parts:
                    wanted.setdefault(old, (t.newest_write_date, t.newest_id))
    missing = _missing_empreendimentos(context, {p.empreendimento for p in wanted})
    run_requests = [_run_request(parts, newest) for parts, newest in _ranges(wanted)]
    context.log.info(
        f"{changes.records_seen} invoices changed since {cursor.write_date} (id {cursor.id}); "
        f"{len(wanted)} partitions in {len(run_requests)} run requests"
        + (" (backlog: more next tick)" if changes.backlog else "")
    )
    return SensorResult(
        run_requests=run_requests,
        cursor=changes.cursor.serialize(),
        dynamic_partitions_requests=(
            [AddDynamicPartitionsRequest(empreendimento_partitions.name, missing)] if missing else []
        ),
    )
