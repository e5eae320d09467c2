"""Change detection for the sensors: which partitions did Odoo touch since the cursor?

The cursor is (write_date, id) of the newest record seen. Odoo stamps ``write_date`` with the
*transaction start*, so a long transaction can commit rows older than the cursor: every poll also
re-reads an overlap window behind it, and idempotent partitions absorb the repeats. Work per poll
is bounded by ``limit`` records per query; a backlog drains over successive ticks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sync_pipeline.domain.faturamento import document_day, m2o_id
from sync_pipeline.odoo.client import OdooClient

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
CHANGE_FIELDS = ["move_type", "company_id", "invoice_date", "date", "reversed_entry_id", "write_date"]


@dataclass(frozen=True)
class Cursor:
    write_date: str = "1970-01-01 00:00:00"
    id: int = 0

    def serialize(self) -> str:
        return json.dumps({"write_date": self.write_date, "id": self.id})

    @classmethod
    def parse(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(write_date=data["write_date"], id=int(data["id"]))


@dataclass
class Touched:
    """A partition to refresh and the newest change seen in it (for the run key)."""

    company_id: int
    day: date
    newest_write_date: str = ""
    newest_id: int = 0
    move_ids: set[int] = field(default_factory=set)

    def see(self, write_date: str, move_id: int) -> None:
        if (write_date, move_id) > (self.newest_write_date, self.newest_id):
            self.newest_write_date, self.newest_id = write_date, move_id
        self.move_ids.add(move_id)


@dataclass
class InvoiceChanges:
    touched: dict[tuple[int, date], Touched]
    cursor: Cursor
    records_seen: int
    backlog: bool  # the limit was reached: more changes wait for the next tick


INVOICE_TYPES = [("move_type", "in", ["out_invoice", "out_refund"])]


def latest_invoice_change(client: OdooClient) -> Cursor:
    """The cursor of the newest customer invoice or refund write (a sensor's starting point)."""
    newest = client.search_read(
        "account.move", INVOICE_TYPES, ["write_date"], order="write_date desc, id desc", limit=1
    )
    if not newest:
        return Cursor()
    return Cursor(write_date=str(newest[0]["write_date"]), id=int(newest[0]["id"]))


def _keyset_after(cursor: Cursor) -> list:
    return [
        "|",
        ("write_date", ">", cursor.write_date),
        "&",
        ("write_date", "=", cursor.write_date),
        ("id", ">", cursor.id),
    ]


def invoice_changes(
    client: OdooClient,
    cursor: Cursor,
    *,
    partition_day_of,
    overlap_seconds: int = 120,
    limit: int = 2000,
) -> InvoiceChanges:
    """Customer invoices and refunds written after ``cursor`` (plus the overlap window)."""
    base = list(INVOICE_TYPES)
    fresh = client.search_read(
        "account.move",
        base + _keyset_after(cursor),
        CHANGE_FIELDS,
        order="write_date asc, id asc",
        limit=limit,
    )
    since = datetime.strptime(cursor.write_date, ODOO_DATETIME) - timedelta(seconds=overlap_seconds)
    overlap = []
    if cursor.id:
        overlap = client.search_read(
            "account.move",
            base
            + [
                ("write_date", ">=", since.strftime(ODOO_DATETIME)),
                ("write_date", "<=", cursor.write_date),
            ],
            CHANGE_FIELDS,
            order="write_date asc, id asc",
            limit=limit,
        )
    moves = {int(m["id"]): m for m in overlap + fresh}
    # A refund changes the partition of the invoice it reverses: read those in one call.
    reversed_ids = {m2o_id(m.get("reversed_entry_id")) for m in moves.values()} - {None}
    targets = client.read_related("account.move", reversed_ids, CHANGE_FIELDS) if reversed_ids else {}

    touched: dict[tuple[int, date], Touched] = {}

    def touch(doc: dict, write_date: str, move_id: int) -> None:
        company = m2o_id(doc.get("company_id"))
        try:
            day = partition_day_of(document_day(doc))
        except ValueError:
            return  # the extract sets the malformed record aside; nothing to route here
        if company is None:
            return
        touched.setdefault((company, day), Touched(company, day)).see(write_date, move_id)

    for move_id, m in moves.items():
        wd = str(m.get("write_date") or "")
        if m.get("move_type") == "out_refund":
            target = targets.get(m2o_id(m.get("reversed_entry_id")) or 0)
            if target:
                touch(target, wd, move_id)
        else:
            touch(m, wd, move_id)

    new_cursor = cursor
    if fresh:
        last = fresh[-1]
        new_cursor = Cursor(write_date=str(last["write_date"]), id=int(last["id"]))
    return InvoiceChanges(
        touched=touched,
        cursor=new_cursor,
        records_seen=len(moves),
        backlog=len(fresh) >= limit,
    )
