"""The one partitioning shared by every partitioned asset: empreendimento (dynamic) × date (daily).

Keys read ``<date>|<empreendimento>`` (dimensions sort by name); always go through
``keys_by_dimension``. Empreendimento keys derive from the Odoo company id, so renaming a company
never creates a new partition; SYNC_EMPREENDIMENTO_KEYS may give readable keys instead.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, timedelta

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from sync_pipeline import settings

EMPREENDIMENTO = "empreendimento"
DATE = "date"

empreendimento_partitions = DynamicPartitionsDefinition(name=EMPREENDIMENTO)
date_partitions = DailyPartitionsDefinition(
    start_date=settings.start_date().isoformat(),
    timezone=settings.timezone_name(),
    end_offset=1,  # today is a partition too: invoices posted today must show within a minute
)
sync_partitions = MultiPartitionsDefinition({DATE: date_partitions, EMPREENDIMENTO: empreendimento_partitions})

_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


def empreendimento_key(company_id: int) -> str:
    """Stable partition key of an Odoo company (``empresa-<id>`` unless mapped)."""
    mapped = settings.empreendimento_key_map().get(company_id)
    if mapped:
        key = _UNSAFE.sub("-", mapped.lower()).strip("-")
        if key:
            return key
    return f"empresa-{company_id}"


def company_id_for(key: str) -> int:
    for company_id in settings.empreendimento_key_map():
        if empreendimento_key(company_id) == key:
            return company_id
    if key.startswith("empresa-") and key[len("empresa-") :].isdigit():
        return int(key[len("empresa-") :])
    raise ValueError(f"empreendimento partition {key!r} maps to no Odoo company")


@dataclass(frozen=True, order=True)
class SyncPartition:
    """One (empreendimento, date) slice; ``first`` also owns every document dated before it."""

    empreendimento: str
    day: date

    @property
    def key(self) -> str:
        return MultiPartitionKey({DATE: self.day.isoformat(), EMPREENDIMENTO: self.empreendimento})

    @property
    def is_first(self) -> bool:
        return self.day <= settings.start_date()

    @property
    def is_last(self) -> bool:
        """The newest date partition (today) also owns documents dated after it."""
        return self.day >= last_day()

    @classmethod
    def parse(cls, key: str) -> SyncPartition:
        if isinstance(key, MultiPartitionKey):
            dims = key.keys_by_dimension
        else:
            dims = sync_partitions.get_partition_key_from_str(key).keys_by_dimension
        return cls(empreendimento=dims[EMPREENDIMENTO], day=date.fromisoformat(dims[DATE]))


_last_day_seen: tuple[object, date] | None = None


def last_day() -> date:
    """The newest date partition: today in SYNC_TIMEZONE (Dagster's own reckoning of it).

    Asked for every staged line (``partition_day``): Dagster's answer costs about 0.5 ms, 15 s for
    30,000 instalments, so it is kept for the second it was asked in (or for as long as a
    ``partition_loading_context`` holds the same effective time)."""
    global _last_day_seen
    from sync_pipeline.dagster_private import partition_effective_dt

    key = partition_effective_dt() or int(time.time())
    seen = _last_day_seen
    if seen is not None and seen[0] == key:
        return seen[1]
    day = date.fromisoformat(date_partitions.get_last_partition_key())
    _last_day_seen = (key, day)
    return day


def partition_day(document_day: date) -> date:
    """The partition date of a document: its own date, the first partition if older, the last
    (today) if newer — a real Odoo posts invoices dated days ahead, and no partition exists for
    them until their date comes (they move then, like any re-dated document)."""
    return min(max(document_day, settings.start_date()), last_day())


def clamp_range(start: date, end: date) -> tuple[date, date]:
    """[start, end] limited to the partitions that exist."""
    return max(start, settings.start_date()), min(end, last_day())


def date_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def chunk_partitions(partitions: list[SyncPartition], max_days: int) -> list[list[SyncPartition]]:
    """Group partitions per empreendimento into chunks spanning at most ``max_days`` dates."""
    chunks: list[list[SyncPartition]] = []
    current: list[SyncPartition] = []
    for p in sorted(partitions):
        if current and (p.empreendimento != current[0].empreendimento or (p.day - current[0].day).days >= max_days):
            chunks.append(current)
            current = []
        current.append(p)
    if current:
        chunks.append(current)
    return chunks
