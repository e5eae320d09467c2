"""Which partitions of a `sync-pipeline backfill` range to run (seed 04's backfill options).

- ``--skip-recent-hours H``: a partition whose every synced asset was materialized in the last H
  hours is left out.
- Without ``--force``, a partition is left out when every synced asset already has a
  materialization of it and Odoo shows no document of its empreendimento written since its oldest
  one (invoices, bills, payments and orders, by ``write_date``, re-read over an overlap window; a
  changed document's partition and the partitions its staged rows sit in — a document moved to
  another date — are kept). Deletions leave no ``write_date``: the reconciliation sensor finds
  them, and ``--force`` runs the range whole.

Reads Dagster's own records (one query per asset for the latest materialization of every
partition, one per asset for the ``--skip-recent-hours`` boundary) and, without ``--force``, two
searches per empreendimento in Odoo. No business logic here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

from sync_pipeline.partitions import SyncPartition, company_id_for, date_range, partition_day

# Odoo stamps write_date with its transaction's start (DESIGN §3): a document committed after
# our run started can carry an older stamp. Changes are read from this much before the sync.
OVERLAP = timedelta(minutes=10)
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
MATERIALIZATION = DagsterEventType.ASSET_MATERIALIZATION


@dataclass
class BackfillPlan:
    """The partitions to run, and the ones left out with why."""

    partitions: list[SyncPartition]
    recent: list[SyncPartition] = field(default_factory=list)
    unchanged: list[SyncPartition] = field(default_factory=list)
    changed_documents: int = 0

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.partitions]

    def lines(self, *, skip_recent_hours: float | None, force: bool) -> list[str]:
        out = []
        if self.recent:
            out.append(
                f"left out: {len(self.recent)} partitions synced in the last {skip_recent_hours:g} hours "
                "(--skip-recent-hours)"
            )
        if self.unchanged:
            out.append(
                f"left out: {len(self.unchanged)} partitions already synced with nothing changed in Odoo since "
                "(--force runs them too)"
            )
        elif not force and self.changed_documents:
            out.append(f"Odoo documents changed since the last sync: {self.changed_documents}")
        return out


def latest_materializations(
    instance: DagsterInstance, asset_keys: Iterable[AssetKey], keys: list[str]
) -> dict[str, int | None]:
    """For each partition key, the storage id of the oldest of its assets' latest materializations
    (None when an asset has never been materialized for it). Storage ids grow with time."""
    wanted = set(keys)
    per_asset = [
        instance.get_latest_storage_id_by_partition(
            asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions=wanted
        )
        for asset_key in asset_keys
    ]
    oldest: dict[str, int | None] = {}
    for key in keys:
        ids = [latest.get(key) for latest in per_asset]
        oldest[key] = None if not ids or None in ids else min(ids)
    return oldest


def _first_storage_id_after(instance: DagsterInstance, asset_keys: Iterable[AssetKey], moment: datetime) -> int | None:
    """The smallest storage id of a materialization of these assets after ``moment``."""
    found = []
    for asset_key in asset_keys:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, after_timestamp=moment.timestamp()), limit=1, ascending=True
        )
        found.extend(r.storage_id for r in result.records)
    return min(found) if found else None


def _timestamp_of(instance: DagsterInstance, asset_keys: Iterable[AssetKey], storage_id: int) -> datetime:
    for asset_key in asset_keys:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, storage_ids=[storage_id]), limit=1
        )
        if result.records:
            return datetime.fromtimestamp(result.records[0].timestamp, UTC)
    raise LookupError(f"no materialization with storage id {storage_id}")


def changed_days(client, company_id: int, since: datetime, *, tz: str, staged_partitions_of) -> tuple[set[date], int]:
    """Partition dates of the documents of a company written in Odoo after ``since`` (minus the
    overlap): invoices, bills and payments by their invoice or accounting date, orders by their
    order date in ``tz``; and the dates their staged rows sit in. Returns (dates, documents)."""
    from sync_pipeline.domain.carteira import local_day

    stamp = (since - OVERLAP).astimezone(UTC).strftime(ODOO_DATETIME)
    days: set[date] = set()
    moves = client.fetch_all(
        "account.move", [("company_id", "=", company_id), ("write_date", ">", stamp)], ["invoice_date", "date"]
    )
    for move in moves:
        raw = move.get("invoice_date") or move.get("date")
        if isinstance(raw, str):
            days.add(partition_day(date.fromisoformat(raw[:10])))
    orders = client.fetch_all(
        "sale.order", [("company_id", "=", company_id), ("write_date", ">", stamp)], ["date_order"]
    )
    for order in orders:
        if isinstance(order.get("date_order"), str):
            days.add(partition_day(local_day(order["date_order"], tz)))
    for model, docs in (("account.move", moves), ("sale.order", orders)):
        for places in staged_partitions_of(model, {int(d["id"]) for d in docs}).values():
            days.update(day for _emp, day in places)
    return days, len(moves) + len(orders)


def plan_backfill(
    instance: DagsterInstance,
    asset_keys: list[AssetKey],
    *,
    empreendimentos: list[str],
    start: date,
    end: date,
    force: bool,
    skip_recent_hours: float | None,
    client_factory: Callable[[], object] | None,
    staged_partitions_of: Callable[[str, set[int]], dict],
    tz: str,
    now: datetime | None = None,
) -> BackfillPlan:
    """Split (start..end × empreendimentos) into the partitions to run and those left out."""
    every = [SyncPartition(emp, day) for emp in sorted(set(empreendimentos)) for day in date_range(start, end)]
    if force and not skip_recent_hours:
        return BackfillPlan(partitions=every)
    oldest = latest_materializations(instance, asset_keys, [p.key for p in every])
    plan = BackfillPlan(partitions=[])
    candidates = every
    if skip_recent_hours:
        boundary = _first_storage_id_after(
            instance, asset_keys, (now or datetime.now(UTC)) - timedelta(hours=skip_recent_hours)
        )
        recent = {p for p in every if boundary is not None and (oldest[p.key] or -1) >= boundary}
        plan.recent = [p for p in every if p in recent]
        candidates = [p for p in every if p not in recent]
    if force:
        plan.partitions = candidates
        return plan
    synced = [p for p in candidates if oldest[p.key] is not None]
    unchanged: set[SyncPartition] = set()
    if synced and client_factory is not None:
        client = client_factory()
        for emp in sorted({p.empreendimento for p in synced}):
            mine = [p for p in synced if p.empreendimento == emp]
            since = _timestamp_of(instance, asset_keys, min(oldest[p.key] for p in mine))
            days, documents = changed_days(
                client, company_id_for(emp), since, tz=tz, staged_partitions_of=staged_partitions_of
            )
            plan.changed_documents += documents
            unchanged.update(p for p in mine if p.day not in days)
    plan.unchanged = [p for p in candidates if p in unchanged]
    plan.partitions = [p for p in candidates if p not in unchanged]
    return plan
