"""Sensors: empreendimentos discovered from Odoo, and runs for exactly the partitions touched.

A tick does bounded work: at most ``limit`` changed records per query, short Odoo timeouts and
few retries (a tick that raises or passes Dagster's 60 s evaluation timeout loses its cursor).

A change sensor's tick requests and reports only what is new since its cursor: the overlap window it
re-reads (odoo/changes.py) brings back rows an earlier tick already requested, and the cursor
remembers those, so a tick with nothing new returns a skip reason saying so, not Dagster's silent
"already completed with run keys".
"""

import hashlib
import time

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
from sync_pipeline.db.reconcile import staged_partitions as staged_partitions_of_table
from sync_pipeline.db.schema import odoo_financeiro_parcela
from sync_pipeline.db.staging import staged_partitions
from sync_pipeline.jobs import sync_job
from sync_pipeline.odoo.changes import (
    FINANCEIRO_DOMAIN,
    INVOICE_DOMAIN,
    Changes,
    Cursor,
    OrderCursor,
    Touched,
    financeiro_changes,
    invoice_changes,
    order_changes,
    start_cursor,
    start_order_cursor,
)
from sync_pipeline.odoo.reconcile import next_batch, reconcile
from sync_pipeline.partitions import (
    SyncPartition,
    company_id_for,
    empreendimento_key,
    empreendimento_partitions,
    partition_day,
)
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource
from sync_pipeline.run_queue import EMPREENDIMENTO_TAG

# A tick makes at most 6 calls (order_sensor: authenticate, orders and lines fresh and overlap,
# their orders): 6 × (4 s × 2 attempts + a Retry-After of at most 2 s) stays within the 60 s
# evaluation limit against a stalling or rate-limiting server; a normal call takes milliseconds.
SENSOR_ODOO_TIMEOUT = 4.0
SENSOR_ODOO_RETRIES = 1
SENSOR_RETRY_AFTER_CAP = 2.0
MAX_CHANGES_PER_TICK = 2000
MAX_RUN_DAYS = 31
SENSOR_INTERVAL_SECONDS = settings.sensor_interval_seconds()


def _sensor_client(odoo: OdooResource, context: SensorEvaluationContext):
    return odoo.get_client(
        logger=context.log,
        timeout_seconds=SENSOR_ODOO_TIMEOUT,
        max_retries=SENSOR_ODOO_RETRIES,
        max_retry_after_seconds=SENSOR_RETRY_AFTER_CAP,
    )


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


def _staged_partitions_of(postgres: PostgresResource, model: str, ids: set[int]) -> dict[int, set[SyncPartition]]:
    """Where the staging tables hold a document now: a document whose date moved (a re-dated draft,
    an order confirmed on another day) also refreshes the partition that still holds its rows."""
    return {
        record_id: {SyncPartition(emp, day) for emp, day in places}
        for record_id, places in staged_partitions(postgres.engine(), model, ids).items()
    }


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


def _run_request(source: str, parts: list[SyncPartition], newest: tuple[str, int]) -> RunRequest:
    first, last = parts[0], parts[-1]
    span = first.key if first == last else f"{first.key}..{last.key}"
    # Same partitions and same newest change → same key → a repeated tick is skipped by Dagster;
    # a later change gives a new key.
    run_key = f"{source}:{span}:{newest[0]}:{newest[1]}"
    # The run queue runs one run per empreendimento at a time (dagster.yaml), in request order.
    tags = {"sync/trigger": source, EMPREENDIMENTO_TAG: first.empreendimento}
    if first == last:
        return RunRequest(partition_key=first.key, run_key=run_key, tags=tags)
    return RunRequest(
        run_key=run_key,
        tags={**tags, "dagster/asset_partition_range_start": first.key, "dagster/asset_partition_range_end": last.key},
    )


def _sensor_result(
    context: SensorEvaluationContext,
    postgres: PostgresResource,
    source: str,
    model: str,
    since: str,
    changes: Changes,
) -> SensorResult:
    """Run requests for exactly the partitions the new changes touched: the first wave (an
    invoice's own partition) before the rest (the carteira partitions of the orders it invoices).
    ``since``: where the cursor stood, as the log and the skip reason name it."""
    if not changes.records_seen:
        # Rows of the overlap window re-read and already requested by an earlier tick: nothing to do.
        return SensorResult(skip_reason=f"nothing new since {since}", cursor=changes.cursor.serialize())
    waves: tuple[dict[SyncPartition, tuple[str, int]], dict[SyncPartition, tuple[str, int]]] = ({}, {})
    records: set[int] = set()
    for key, t in changes.touched.items():
        wave = waves[0 if key in changes.first_wave else 1]
        p = SyncPartition(empreendimento_key(t.company_id), t.day)
        wave[p] = max(wave.get(p, ("", 0)), (t.newest_write_date, t.newest_id))
        records |= t.record_ids
    for record_id, old_parts in _staged_partitions_of(postgres, model, records).items():
        newest = max((t.newest_write_date, t.newest_id) for t in changes.touched.values() if record_id in t.record_ids)
        for old in old_parts:
            if old not in waves[0] and old not in waves[1]:
                waves[0][old] = newest
    wanted = {**waves[1], **waves[0]}
    missing = _missing_empreendimentos(context, {p.empreendimento for p in wanted})
    run_requests = [
        _run_request(source, parts, newest)
        for wave in waves
        for parts, newest in _ranges({p: v for p, v in wave.items() if wave is waves[0] or p not in waves[0]})
    ]
    context.log.info(
        f"{changes.records_seen} new {model} changes since {since}; "
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


def _first_tick(context: SensorEvaluationContext, client, model: str, base_domain: list) -> SensorResult:
    start = start_cursor(client, model, base_domain, limit=MAX_CHANGES_PER_TICK)
    context.log.info(
        f"first tick: starting after the newest {model} change ({start.describe()}); "
        "sync history with a backfill (UI or `sync-pipeline backfill`)"
    )
    return SensorResult(cursor=start.serialize())


@sensor(
    name="invoice_sensor",
    job=sync_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Polls Odoo for new or changed customer invoices and refunds (write_date + id cursor with an "
        "overlap window) and requests runs for exactly the partitions touched: the invoice's own, then "
        "those of the orders it invoices. Its first tick only records where Odoo is now."
    ),
)
def invoice_sensor(context: SensorEvaluationContext, odoo: OdooResource, postgres: PostgresResource):
    client = _sensor_client(odoo, context)
    if not context.cursor:
        return _first_tick(context, client, "account.move", INVOICE_DOMAIN)
    cursor = Cursor.parse(context.cursor)
    changes = invoice_changes(
        client, cursor, partition_day_of=partition_day, tz=settings.timezone_name(), limit=MAX_CHANGES_PER_TICK
    )
    return _sensor_result(context, postgres, "invoice_sensor", "account.move", cursor.describe(), changes)


@sensor(
    name="financeiro_sensor",
    job=sync_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Polls Odoo for new or changed vendor bills and journal entries (customer payments, matched or "
        "not; write_date + id cursor with an overlap window) and requests runs for their partitions (a "
        "bill's invoice date, an entry's date) and the one a re-dated document's instalments are staged "
        "under. A payment of a customer invoice moves the invoice, which invoice_sensor requests."
    ),
)
def financeiro_sensor(context: SensorEvaluationContext, odoo: OdooResource, postgres: PostgresResource):
    client = _sensor_client(odoo, context)
    if not context.cursor:
        return _first_tick(context, client, "account.move", FINANCEIRO_DOMAIN)
    cursor = Cursor.parse(context.cursor)
    changes = financeiro_changes(client, cursor, partition_day_of=partition_day, limit=MAX_CHANGES_PER_TICK)
    _add_staged_financeiro(postgres, changes)
    return _sensor_result(context, postgres, "financeiro_sensor", "account.move", cursor.describe(), changes)


def _add_staged_financeiro(postgres: PostgresResource, changes) -> None:
    """A bill or payment whose date moved also refreshes the partition its instalments are staged
    under (the invoice staging the other sensors look in holds no bills)."""
    ids = {i for t in changes.touched.values() for i in t.record_ids}
    if not ids:
        return
    engine = postgres.engine()
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('odoo_financeiro_parcela') IS NOT NULL")).scalar():
            return
    for record_id, places in staged_partitions_of_table(engine, odoo_financeiro_parcela, "odoo_move_id", ids).items():
        newest = max((t.newest_write_date, t.newest_id) for t in changes.touched.values() if record_id in t.record_ids)
        for emp, day in places:
            try:
                company = company_id_for(emp)
            except ValueError:
                continue
            key = (company, day)
            touched = changes.touched.setdefault(key, Touched(company, day))
            touched.see(*newest)
            changes.first_wave.add(key)


@sensor(
    name="order_sensor",
    job=sync_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Polls Odoo for new or changed sale orders (write_date + id cursor with an overlap window) and "
        "requests runs for the partitions of their order dates (and the one an order moved from)."
    ),
)
def order_sensor(context: SensorEvaluationContext, odoo: OdooResource, postgres: PostgresResource):
    client = _sensor_client(odoo, context)
    if not context.cursor:
        start = start_order_cursor(client, limit=MAX_CHANGES_PER_TICK)
        context.log.info(
            f"first tick: starting after the newest order change ({start.order.describe()}) and order line change "
            f"({start.line.describe()}); sync history with a backfill (UI or `sync-pipeline backfill`)"
        )
        return SensorResult(cursor=start.serialize())
    cursor = OrderCursor.parse(context.cursor)
    changes = order_changes(
        client, cursor, partition_day_of=partition_day, tz=settings.timezone_name(), limit=MAX_CHANGES_PER_TICK
    )
    since = f"{cursor.order.describe()}, order lines since {cursor.line.describe()}"
    return _sensor_result(context, postgres, "order_sensor", "sale.order", since, changes)


# Reconciliation: an hour between ticks; a tick compares a bounded batch of empreendimentos (3
# read_group calls for the batch, at most 4 id searches per model and empreendimento, and 2
# searches by id) and starts no further empreendimento past its time budget.
RECONCILE_INTERVAL_SECONDS = 3600
RECONCILE_EMPREENDIMENTOS_PER_TICK = 10
RECONCILE_TICK_BUDGET_SECONDS = 30.0


@sensor(
    name="reconciliation_sensor",
    job=sync_job,
    minimum_interval_seconds=RECONCILE_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Finds documents deleted in Odoo (unlink leaves no trace for the change sensors): compares "
        "order and invoice counts per month between Odoo and the staging tables, reads ids only where "
        "they differ, and requests the partitions still holding a document Odoo no longer returns. "
        "A batch of empreendimentos per tick; the cursor is the last one compared."
    ),
)
def reconciliation_sensor(context: SensorEvaluationContext, odoo: OdooResource, postgres: PostgresResource):
    started = time.monotonic()
    known = context.instance.get_dynamic_partitions(empreendimento_partitions.name)
    if not known:
        return SkipReason("no empreendimentos yet")
    batch = next_batch(known, context.cursor, RECONCILE_EMPREENDIMENTOS_PER_TICK)
    companies: dict[str, int] = {}
    for key in batch:
        try:
            companies[key] = company_id_for(key)
        except ValueError as exc:
            context.log.warning(f"{exc}: not reconciled")
    client = _sensor_client(odoo, context)
    reports = reconcile(
        client,
        postgres.engine(),
        companies,
        tz=settings.timezone_name(),
        deadline=started + RECONCILE_TICK_BUDGET_SECONDS,
    )
    docs_by_partition: dict[SyncPartition, set[tuple[str, int]]] = {}
    for r in reports:
        context.log.info(r.summary())
        for (emp, day), docs in r.partitions.items():
            docs_by_partition.setdefault(SyncPartition(emp, day), set()).update(docs)
    unknown = {p.empreendimento for p in docs_by_partition} - set(known)
    if unknown:
        context.log.warning(f"staged rows of empreendimentos this instance does not know: {', '.join(sorted(unknown))}")
    run_requests = []
    for parts, _ in _ranges({p: ("", 0) for p in docs_by_partition if p.empreendimento not in unknown}):
        docs = sorted({d for p in parts for d in docs_by_partition[p]})
        # The gone documents name the key: a repeated tick is skipped, a new deletion gives a new key.
        digest = hashlib.sha256(",".join(f"{m}:{i}" for m, i in docs).encode()).hexdigest()[:16]
        run_requests.append(_run_request("reconciliation_sensor", parts, (digest, len(docs))))
    done = [r.empreendimento for r in reports]
    cursor = batch[-1] if len(done) == len(companies) else done[-1] if done else context.cursor
    context.log.info(
        f"reconciled {len(done)} of {len(batch)} empreendimentos in {client.stats.total} Odoo calls "
        f"({time.monotonic() - started:.1f}s): {len(docs_by_partition)} partitions in {len(run_requests)} run requests"
    )
    return SensorResult(run_requests=run_requests, cursor=cursor)
