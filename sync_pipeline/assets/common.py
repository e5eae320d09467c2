"""Helpers every partitioned asset uses: its partitions, and the schema on first run."""

from __future__ import annotations

import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, BetaWarning, MaterializeResult
from sqlalchemy import Table, text
from sqlalchemy.engine import Connection

from sync_pipeline import settings
from sync_pipeline.dagster_private import add_partition_metadata
from sync_pipeline.db.staging import Scope, mirror_partitions, staged_state, upsert_rows
from sync_pipeline.domain.values import Reject
from sync_pipeline.partitions import SyncPartition, chunk_partitions
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

CHUNK_DAYS = 31  # dates of one empreendimento read from Odoo together
# A chunk that stages at least this many new rows has its staging tables ANALYZEd after it commits,
# and a transform that inserted this many rows since its last ANALYZE the tables it fills: on a
# first backfill the tables are new and PostgreSQL has no statistics yet (autovacuum gathers them
# later), so the planner expects one row and picks nested loops — measured: one financeiro partition
# of 32,000 instalments, 88 s instead of 0.2 s; a carteira chunk over faturamento_produto, 17 s.
ANALYZE_AFTER_ROWS = 2_000
# ... and only the tables whose statistics that many rows would change: never gathered, or counting
# fewer rows than half of those inserted (an ANALYZE of a wide table of 200,000 rows takes ~1 s; once
# per chunk and table it was 43 % of PostgreSQL's time in a 2 × 365 backfill). The planner scales a
# table's row count by its current size anyway; what it must not see is an empty table.
ANALYZE_GROWTH = 0.5
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


def scope_of(*partitions: SyncPartition) -> Scope:
    """The scope of one partition, or of a chunk of partitions of one empreendimento."""
    ordered = sorted(partitions)
    if len({p.empreendimento for p in ordered}) != 1:
        raise ValueError("a scope holds partitions of one empreendimento")
    return Scope(
        empreendimento=ordered[0].empreendimento,
        days=tuple(p.day for p in ordered),
        first=ordered[0].is_first,
        last=ordered[-1].is_last,
    )


def keys_of(partitions) -> dict[date, str]:
    """Partition key of each day of a chunk (one empreendimento)."""
    return {p.day: str(p.key) for p in partitions}


def empreendimento_lock(p: SyncPartition) -> str:
    """Units of one empreendimento never write concurrently, whichever run they come from."""
    return f"empreendimento:{p.empreendimento}"


def chunk_name(chunk: list[SyncPartition]) -> str:
    first, last = chunk[0], chunk[-1]
    days = first.day.isoformat() if first.day == last.day else f"{first.day}..{last.day}"
    return f"{first.empreendimento} {days}"


@dataclass
class Extracted:
    rows_by_day: dict[date, list[dict]]
    rejects: list[Reject]
    summary: str  # what was read, for the log
    documents: set[int]  # ids of the documents (invoices, orders) read
    # rows of further staging tables mirrored over the same partitions in the same transaction
    # (the financeiro extract's payments beside its instalments): table → partition day → rows
    related: dict[Table, dict[date, list[dict]]] = field(default_factory=dict)


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
    dates, ``extract_chunk``, with a materialization (and its metadata) per partition."""
    ensure_schema_once(postgres, context.log)
    partitions = partitions_of(context)
    asset = context.assets_def.key.to_user_string()
    totals: dict[str, int] = defaultdict(int)
    skipped = 0
    client = odoo.get_client(logger=context.log)  # one per run: fields_get is asked once
    for chunk in chunk_partitions(partitions, CHUNK_DAYS):
        done = extract_chunk(
            client,
            postgres,
            chunk,
            table=table,
            document_column=document_column,
            extract=extract,
            asset=asset,
            run_id=context.run.run_id,
            log=context.log,
        )
        skipped += len(chunk) if done.cost["skipped"] else 0
        for p in chunk:
            counts = done.by_day.get(p.day) or dict.fromkeys(MIRROR_COUNTS, 0)
            for k, v in counts.items():
                totals[k] += v
            add_partition_metadata(
                context,
                {
                    "lines": len(done.found.rows_by_day.get(p.day, [])),
                    "rows_inserted": counts["inserted"],
                    "rows_updated": counts["updated"],
                    "rows_deleted": counts["deleted"],
                    "rejects": counts["rejects"],
                    **({"related_rows_written": counts.get("related_written", 0)} if done.found.related else {}),
                    **done.cost,
                    "odoo_calls_chunk": done.calls,
                    "seconds": round(done.cost["seconds"] + done.extract_seconds / len(chunk), 3),
                },
                partition_key=p.key,
            )
    totals["partitions_skipped"] = skipped
    log_totals(context, asset, len(partitions), totals)
    return MaterializeResult()


@dataclass
class ExtractedChunk:
    found: Extracted
    by_day: dict[date, dict]  # mirror counts per partition day (empty when skipped)
    cost: dict  # what each partition's metadata says of the chunk's transaction
    calls: int  # Odoo calls of the chunk
    extract_seconds: float


def extract_chunk(
    client,
    postgres: PostgresResource,
    chunk: list[SyncPartition],
    *,
    table: Table,
    document_column: str,
    extract: Callable[..., Extracted],
    asset: str,
    run_id: str,
    log,
) -> ExtractedChunk:
    """One chunk of an extract (one empreendimento, up to CHUNK_DAYS dates): one extraction from
    Odoo, then one transaction mirroring the chunk's rows into the staging ``table`` (a constant
    number of statements, whatever the number of partitions and rows). A chunk with nothing in
    Odoo, nothing staged and no reject recorded costs no transaction at all.

    ``extract(client, emp, first, last, ids=None)`` reads the documents dated in [first, last], or
    the documents ``ids`` whatever their date. Odoo never reports a deletion, and a document's date
    can move (a draft re-dated, an order confirmed another day): documents staged in the chunk that
    Odoo no longer returns for it are read again by id (DESIGN §4, id reconciliation) — those that
    still exist are staged under their new partition, the others leave with the mirror."""
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
    staged, rejects_recorded = staged_state(postgres, table, document_column, asset, chunk)
    moved_rows: list[dict] = []
    moved_related: dict[Table, list[dict]] = {}
    if staged - found.documents:
        moved = extract(client, emp, None, None, ids=sorted(staged - found.documents))
        chunk_days = {p.day for p in chunk}
        moved_rows = [r for day, rows in moved.rows_by_day.items() if day not in chunk_days for r in rows]
        moved_related = {
            t: [r for day, rows in by_day.items() if day not in chunk_days for r in rows]
            for t, by_day in moved.related.items()
        }
        log.info(
            f"{emp}: {len(staged - found.documents)} documents left these dates: "
            f"{len(moved.documents)} still in Odoo ({len(moved_rows)} lines restaged under their new date), "
            f"{len(staged - found.documents - moved.documents)} deleted"
        )
    calls = client.stats.total - calls_before
    extract_seconds = time.perf_counter() - started
    log.info(
        f"{emp} {chunk[0].day}..{chunk[-1].day}: read {found.summary} in {calls} Odoo calls "
        f"({extract_seconds:.2f}s); {len(found.rejects)} set aside"
    )
    rejects_by_day: dict[date, list[Reject]] = defaultdict(list)
    for r in found.rejects:  # a record with no date of its own is set aside on the chunk's first date
        rejects_by_day[r.partition_day or chunk[0].day].append(r)
    rows = [r for p in chunk for r in found.rows_by_day.get(p.day, [])]
    scope, keys = scope_of(*chunk), keys_of(chunk)
    if not (rows or staged or rejects_recorded or any(rejects_by_day.get(p.day) for p in chunk)):
        return ExtractedChunk(found, {}, skipped_cost(len(chunk)), calls, extract_seconds)
    related = {t: [r for p in chunk for r in by_day.get(p.day, [])] for t, by_day in found.related.items()}

    def mirror(conn):
        upsert_rows(conn, table, moved_rows)
        by_day = mirror_partitions(
            conn, table, scope, rows, rejects_by_day, asset=asset, partition_keys=keys, run_id=run_id
        )
        for other, other_rows in related.items():
            upsert_rows(conn, other, moved_related.get(other, []))
            # the same rejects again: recorded already, this writes nothing
            of_other = mirror_partitions(
                conn, other, scope, other_rows, rejects_by_day, asset=asset, partition_keys=keys, run_id=run_id
            )
            for day, counts in of_other.items():
                by_day[day]["related_written"] = (
                    by_day[day].get("related_written", 0) + counts["inserted"] + counts["updated"] + counts["deleted"]
                )
        return by_day

    unit = postgres.unit_of_work(
        mirror, name=f"{asset} {chunk_name(chunk)}", logger=log, lock=empreendimento_lock(chunk[0])
    )
    inserted = sum(c["inserted"] + c.get("related_written", 0) for c in unit.value.values())
    analyze_if_grown(postgres, [table, *related], inserted, log)
    return ExtractedChunk(found, unit.value, _cost(unit, len(chunk)), calls, extract_seconds)


# Counts of a chunk that needed no transaction (nothing in Odoo, nothing staged): what a unit
# reports, all zero.
MIRROR_COUNTS = ("inserted", "updated", "deleted", "rejects", "rejects_written", "rejects_resolved")


def skipped_cost(partitions: int) -> dict:
    return {"sql_statements": 0, "db_attempts": 0, "chunk_partitions": partitions, "skipped": True, "seconds": 0.0}


def _cost(unit, partitions: int) -> dict:
    """What a partition's metadata says of the transaction it committed in: the statements and
    attempts of its chunk's transaction, the partitions in it, and its share of the seconds."""
    return {
        "sql_statements": unit.statements,
        "db_attempts": unit.attempts,
        "chunk_partitions": partitions,
        "skipped": False,
        "seconds": round(unit.seconds / partitions, 3),
    }


def run_transform(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    work: Callable[[Connection, Scope, dict[date, str]], dict[date, dict]],
    *,
    active: Callable[[Connection, Scope], bool],
    counts: tuple[str, ...],
    metadata: Callable[[dict], dict] = dict,
    by_asset: Callable[[dict], dict[AssetKey, dict]] | None = None,
    analyze: tuple[Table, ...] = (),
    finish: Callable[[Connection, str, list[date]], dict[date, dict]] | None = None,
) -> MaterializeResult | tuple[MaterializeResult, ...]:
    """The body of every transform asset: per chunk of one empreendimento and up to CHUNK_DAYS
    dates, ``work(conn, scope, keys)`` in one transaction (replayed whole on a transient error)
    with a constant number of set-based statements, returning counts per day; a partition
    commits with its chunk or not at all. ``active(conn, scope)`` — one query, first in the
    transaction — tells whether the chunk holds anything at all; a chunk that does not is skipped
    and its partitions report ``counts`` at zero. Every partition gets its own materialization
    with ``metadata(its counts)``, the chunk's SQL statements and attempts, and its share of the
    seconds.

    A multi-asset (several tables written in that one transaction) passes ``by_asset(counts)``,
    naming its assets in dependency order: each gets its own slice of the counts.

    ``analyze``: the tables the transform fills, ANALYZEd once ANALYZE_AFTER_ROWS rows were inserted
    since (a first backfill fills them from empty; without statistics PostgreSQL planned the next
    asset's join over them as over a handful of rows: 0.005 s became 1.7 s per chunk, 17 s seen).

    ``finish(conn, empreendimento, days)``: what the run does once per empreendimento after its
    last chunk, in one more transaction, for the days of its chunks that were not skipped (the
    financeiro months); its counts per day join theirs, its statements are each such partition's
    ``run_sql_statements`` and its seconds are shared among them. The materializations, emitted
    when the step ends, carry both: a partition is materialized only once its run finished."""
    ensure_schema_once(postgres, context.log)
    partitions = partitions_of(context)
    name = context.op_def.name if by_asset else context.assets_def.key.to_user_string()
    totals: dict[str, int] = defaultdict(int)
    skipped = 0
    grown = 0
    done: list[tuple[list[SyncPartition], dict[date, dict], dict]] = []
    for chunk in chunk_partitions(partitions, CHUNK_DAYS):
        by_day, cost = transform_chunk(postgres, chunk, work, active=active, name=name, log=context.log)
        skipped += len(chunk) if cost["skipped"] else 0
        grown += sum(v for of_day in by_day.values() for k, v in of_day.items() if _is_inserted_count(k, v))
        if analyze and analyze_if_grown(postgres, list(analyze), grown, context.log):
            grown = 0
        done.append((chunk, by_day, cost))
    if finish is not None:
        _finish_run(postgres, done, finish, name=name, log=context.log)
    for chunk, by_day, cost in done:
        for p in chunk:
            of_day = by_day.get(p.day) or dict.fromkeys(counts, 0)
            for k, v in of_day.items():
                if isinstance(v, int):
                    totals[k] += v
            of_cost = {**cost, **of_day.pop("_run_cost", {})}
            if by_asset is None:
                add_partition_metadata(context, {**metadata(of_day), **of_cost}, partition_key=p.key)
            else:
                for key, values in by_asset(of_day).items():
                    add_partition_metadata(context, {**values, **of_cost}, asset_key=key, partition_key=p.key)
            if of_day.get("critical_alerts"):
                context.log.warning(f"{p.key}: {of_day['critical_alerts']} critical alerts (alerta_separacao_cotada)")
    totals["partitions_skipped"] = skipped
    log_totals(context, name, len(partitions), totals)
    if by_asset is None:
        return MaterializeResult()
    # in the order ``by_asset`` names them (Dagster wants a multi-asset's outputs in dependency order)
    return tuple(MaterializeResult(asset_key=key) for key in by_asset({}) if key in context.selected_asset_keys)


def _finish_run(postgres: PostgresResource, done: list, finish, *, name: str, log) -> None:
    """``finish`` once per empreendimento of the run, for the days of its chunks not skipped; its
    counts go into those days' counts, its cost into their metadata (``_run_cost``)."""
    days_of: dict[str, list[date]] = defaultdict(list)
    first_of: dict[str, SyncPartition] = {}
    for chunk, _by_day, cost in done:
        first_of.setdefault(chunk[0].empreendimento, chunk[0])
        if not cost["skipped"]:
            days_of[chunk[0].empreendimento] += [p.day for p in chunk]
    for emp, days in days_of.items():
        unit = postgres.unit_of_work(
            lambda conn, emp=emp, days=days: finish(conn, emp, days),
            name=f"{name} {emp} (end of run, {len(days)} partitions)",
            logger=log,
            lock=empreendimento_lock(first_of[emp]),
        )
        run_cost = {
            "run_sql_statements": unit.statements,
            "run_partitions": len(days),
        }
        share = unit.seconds / len(days)
        for chunk, by_day, cost in done:
            if chunk[0].empreendimento != emp or cost["skipped"]:
                continue
            cost["seconds"] = round(cost["seconds"] + share, 3)
            for p in chunk:
                by_day.setdefault(p.day, {}).update(unit.value.get(p.day, {}), _run_cost=run_cost)


def _is_inserted_count(name: str, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and name.endswith("inserted")


def analyze_if_grown(postgres: PostgresResource, tables: list[Table], inserted: int, log=None) -> bool:
    """ANALYZE those of ``tables`` whose statistics ``inserted`` new rows (≥ ANALYZE_AFTER_ROWS)
    make stale: never gathered, or counting at most ``inserted`` / ANALYZE_GROWTH rows. Whether it
    ANALYZEd any."""
    if inserted < ANALYZE_AFTER_ROWS:
        return False
    started = time.perf_counter()
    with postgres.engine().begin() as conn:
        known = dict(
            conn.execute(
                text(
                    "SELECT n.name, c.reltuples FROM unnest(CAST(:names AS text[])) AS n(name) "
                    "JOIN pg_class c ON c.oid = to_regclass(n.name)"
                ),
                {"names": [t.name for t in tables]},
            ).all()
        )
        stale = [t.name for t in tables if known.get(t.name, -1) < 0 or inserted >= ANALYZE_GROWTH * known[t.name]]
        if stale:
            conn.execute(text(f"ANALYZE {', '.join(stale)}"))
    if stale and log is not None:
        log.info(f"{inserted} rows staged: ANALYZE {', '.join(stale)} ({time.perf_counter() - started:.2f}s)")
    return bool(stale)


def transform_chunk(
    postgres: PostgresResource,
    chunk: list[SyncPartition],
    work: Callable[[Connection, Scope, dict[date, str]], dict[date, dict]],
    *,
    active: Callable[[Connection, Scope], bool],
    name: str,
    log,
) -> tuple[dict[date, dict], dict]:
    """One chunk of a transform: ``work`` in one transaction if ``active`` says the chunk holds
    anything; its counts per day (empty when skipped) and what each partition's metadata says of
    the transaction."""
    scope, keys = scope_of(*chunk), keys_of(chunk)

    def unit_work(conn):
        return work(conn, scope, keys) if active(conn, scope) else None

    unit = postgres.unit_of_work(
        unit_work, name=f"{name} {chunk_name(chunk)}", logger=log, lock=empreendimento_lock(chunk[0])
    )
    cost = _cost(unit, len(chunk))
    if unit.value is None:
        cost["skipped"] = True
    return unit.value or {}, cost


def pick(counts: dict, *names: str, **renamed: str) -> dict:
    """The counts ``names`` (and ``renamed``: new name → count name) that ``counts`` holds."""
    out = {n: counts[n] for n in names if n in counts}
    out.update({new: counts[old] for new, old in renamed.items() if old in counts})
    return out


def log_totals(context: AssetExecutionContext, asset: str, n_partitions: int, totals: dict[str, int]) -> None:
    context.log.info(f"{asset}: {n_partitions} partitions, " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
