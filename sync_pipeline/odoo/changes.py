"""Change detection for the sensors: which partitions did Odoo touch since the cursor?

The cursor is (write_date, id) of the newest record seen. Odoo stamps ``write_date`` with the
*transaction start*, so a long transaction can commit rows older than the cursor: every poll also
re-reads an overlap window behind it. The cursor keeps the (id, write_date) of the records it
already reported inside that window, so a re-read row is neither requested nor reported again; only
a row committed late (or written again) is new. Work per poll is bounded by ``limit`` records per
query; a backlog drains over successive ticks.

Routing: an invoice touches its own partition (invoice date), the partition of the invoice a refund
reverses, and the partitions of the orders it invoices (their saldos change). An order touches
the partition of its order date.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sync_pipeline.domain.carteira import local_day
from sync_pipeline.domain.faturamento import document_day
from sync_pipeline.domain.values import m2o_id
from sync_pipeline.odoo.client import OdooClient

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
INVOICE_DOMAIN = [("move_type", "in", ["out_invoice", "out_refund"])]
INVOICE_FIELDS = [
    "move_type",
    "company_id",
    "invoice_date",
    "date",
    "reversed_entry_id",
    "invoice_origin",
    "write_date",
]
ORDER_FIELDS = ["company_id", "date_order", "name", "write_date"]


OVERLAP_SECONDS = 120


@dataclass(frozen=True)
class Cursor:
    """Where a poll stands: the newest (write_date, id) reported, and ``seen``, the (id, write_date)
    pairs already reported inside the overlap window behind it (the next poll re-reads that window).

    ``seen`` holds at most the ``limit`` oldest pairs of the window: an overlap read returns at most
    that many rows, oldest first, so every row it can return that was reported before is kept."""

    write_date: str = "1970-01-01 00:00:00"
    id: int = 0
    seen: frozenset[tuple[int, str]] = frozenset()

    def serialize(self) -> str:
        data: dict = {"write_date": self.write_date, "id": self.id}
        if self.seen:
            by_date: dict[str, list[int]] = {}
            for record_id, write_date in sorted(self.seen, key=lambda p: (p[1], p[0])):
                by_date.setdefault(write_date, []).append(record_id)
            data["seen"] = by_date  # grouped by write_date: a window holds few distinct seconds
        return json.dumps(data)

    @classmethod
    def parse(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        seen = frozenset((int(i), str(wd)) for wd, ids in (data.get("seen") or {}).items() for i in ids)
        return cls(write_date=data["write_date"], id=int(data["id"]), seen=seen)

    def describe(self) -> str:
        """As an operator reads it in a tick's log or skip reason."""
        return f"{self.write_date} (id {self.id})"


@dataclass
class Touched:
    """A partition to refresh and the newest change seen in it (for the run key)."""

    company_id: int
    day: date
    newest_write_date: str = ""
    newest_id: int = 0
    record_ids: set[int] = field(default_factory=set)  # the documents of our model routed here

    def see(self, write_date: str, record_id: int) -> None:
        if (write_date, record_id) > (self.newest_write_date, self.newest_id):
            self.newest_write_date, self.newest_id = write_date, record_id
        self.record_ids.add(record_id)


@dataclass
class Changes:
    touched: dict[tuple[int, date], Touched]  # (company, day) → what to refresh there
    cursor: Cursor | OrderCursor
    records_seen: int  # records new to the cursor (a re-read of an already reported row is not counted)
    backlog: bool  # the limit was reached: more changes wait for the next tick
    first_wave: set[tuple[int, date]] = field(default_factory=set)  # run these before the rest


def latest_change(client: OdooClient, model: str, base_domain: list) -> Cursor:
    """The cursor of the newest write to ``model``."""
    newest = client.search_read(model, base_domain, ["write_date"], order="write_date desc, id desc", limit=1)
    if not newest:
        return Cursor()
    return Cursor(write_date=str(newest[0]["write_date"]), id=int(newest[0]["id"]))


def start_cursor(
    client: OdooClient, model: str, base_domain: list, *, overlap_seconds: int = OVERLAP_SECONDS, limit: int = 2000
) -> Cursor:
    """A sensor's starting point: the newest write to ``model``, with the rows of the overlap window
    behind it as already seen (they are history, a backfill's job, not the next poll's news)."""
    start = latest_change(client, model, base_domain)
    if not start.id:
        return start
    window = client.search_read(
        model,
        base_domain + _window(start, overlap_seconds),
        ["write_date"],
        order="write_date asc, id asc",
        limit=limit,
    )
    at_or_before = [r for r in window if (str(r["write_date"]), int(r["id"])) <= (start.write_date, start.id)]
    return Cursor(start.write_date, start.id, _seen_in_window(start, at_or_before, set(), overlap_seconds, limit))


def _window(cursor: Cursor, overlap_seconds: int) -> list:
    since = datetime.strptime(cursor.write_date, ODOO_DATETIME) - timedelta(seconds=overlap_seconds)
    return [("write_date", ">=", since.strftime(ODOO_DATETIME)), ("write_date", "<=", cursor.write_date)]


def _seen_in_window(
    cursor: Cursor, rows: list[dict], earlier: set[tuple[int, str]], overlap_seconds: int, limit: int
) -> frozenset[tuple[int, str]]:
    """The pairs of ``rows`` and ``earlier`` the next overlap read can return again: inside the
    window behind ``cursor``, at most ``limit``, the oldest (the overlap read's order)."""
    since = (datetime.strptime(cursor.write_date, ODOO_DATETIME) - timedelta(seconds=overlap_seconds)).strftime(
        ODOO_DATETIME
    )
    pairs = earlier | {(int(r["id"]), str(r.get("write_date") or "")) for r in rows}
    inside = sorted((wd, i) for i, wd in pairs if since <= wd <= cursor.write_date)
    return frozenset((i, wd) for wd, i in inside[:limit])


def _keyset_after(cursor: Cursor) -> list:
    return [
        "|",
        ("write_date", ">", cursor.write_date),
        "&",
        ("write_date", "=", cursor.write_date),
        ("id", ">", cursor.id),
    ]


def _changed_since(
    client: OdooClient,
    model: str,
    base_domain: list,
    fields: list[str],
    cursor: Cursor,
    *,
    overlap_seconds: int,
    limit: int,
) -> tuple[dict[int, dict], Cursor, bool]:
    """The records new to ``cursor``: written after it, or inside the overlap window behind it and
    not among the pairs it already reported; and the cursor after them."""
    order = "write_date asc, id asc"
    fresh = client.search_read(model, base_domain + _keyset_after(cursor), fields, order=order, limit=limit)
    overlap: list[dict] = []
    if cursor.id:
        overlap = client.search_read(
            model, base_domain + _window(cursor, overlap_seconds), fields, order=order, limit=limit
        )
    new = [r for r in overlap if (int(r["id"]), str(r.get("write_date") or "")) not in cursor.seen]
    position = cursor
    if fresh:
        position = Cursor(write_date=str(fresh[-1]["write_date"]), id=int(fresh[-1]["id"]))
    seen = _seen_in_window(position, [*overlap, *fresh], set(cursor.seen), overlap_seconds, limit)
    return {int(r["id"]): r for r in new + fresh}, Cursor(position.write_date, position.id, seen), len(fresh) >= limit


class _Router:
    def __init__(self) -> None:
        self.touched: dict[tuple[int, date], Touched] = {}

    def touch(self, company: int | None, day: date | None, write_date: str, record_id: int) -> tuple[int, date] | None:
        if company is None or day is None:
            return None  # a malformed record: the extract sets it aside, nothing to route
        key = (company, day)
        self.touched.setdefault(key, Touched(company, day)).see(write_date, record_id)
        return key


def _safe(fn: Callable[[], date]) -> date | None:
    try:
        return fn()
    except ValueError:
        return None


def invoice_changes(
    client: OdooClient,
    cursor: Cursor,
    *,
    partition_day_of: Callable[[date], date],
    tz: str,
    overlap_seconds: int = OVERLAP_SECONDS,
    limit: int = 2000,
) -> Changes:
    """Customer invoices and refunds written after ``cursor`` (plus the overlap window)."""
    moves, new_cursor, backlog = _changed_since(
        client, "account.move", INVOICE_DOMAIN, INVOICE_FIELDS, cursor, overlap_seconds=overlap_seconds, limit=limit
    )
    # A refund changes the partition of the invoice it reverses: read those in one call.
    reversed_ids = {m2o_id(m.get("reversed_entry_id")) for m in moves.values()} - {None}
    targets = client.read_related("account.move", reversed_ids, INVOICE_FIELDS) if reversed_ids else {}
    # The orders an invoice invoices change saldo: find them by name in one call.
    origins = {
        o.strip() for m in [*moves.values(), *targets.values()] for o in str(m.get("invoice_origin") or "").split(",")
    }
    origins.discard("")
    orders = (
        client.search_read("sale.order", [("name", "in", sorted(origins))], ORDER_FIELDS, order="id", limit=limit)
        if origins
        else []
    )
    # order names are unique only within a company (Odoo can number orders per company)
    orders_by_name = {(m2o_id(o.get("company_id")), o["name"]): o for o in orders}

    router = _Router()
    first_wave: set[tuple[int, date]] = set()
    for move_id, m in moves.items():
        wd = str(m.get("write_date") or "")
        # A credit note is a document of its own and also changes the invoice it reverses.
        reversed_invoice = targets.get(m2o_id(m.get("reversed_entry_id")) or 0)
        for document in (m, reversed_invoice):
            if not document:
                continue
            key = router.touch(
                m2o_id(document.get("company_id")),
                _safe(lambda d=document: partition_day_of(document_day(d))),
                wd,
                move_id,
            )
            if key:
                first_wave.add(key)
        company = m2o_id(m.get("company_id"))
        names = {
            n.strip()
            for d in (m, reversed_invoice)
            if d
            for n in str(d.get("invoice_origin") or "").split(",")
            if n.strip()
        }
        for name in sorted(names):
            order = orders_by_name.get((company, name))
            if order:
                router.touch(
                    m2o_id(order.get("company_id")),
                    _safe(lambda o=order: partition_day_of(local_day(o.get("date_order"), tz))),
                    wd,
                    move_id,
                )
    return Changes(router.touched, new_cursor, len(moves), backlog, first_wave)


@dataclass(frozen=True)
class OrderCursor:
    """Orders and their lines are polled separately: a line's quantity changes its own write_date
    (not always its order's), and a cancellation or confirmation changes the order's."""

    order: Cursor = Cursor()
    line: Cursor = Cursor()

    def serialize(self) -> str:
        return json.dumps({"order": json.loads(self.order.serialize()), "line": json.loads(self.line.serialize())})

    @classmethod
    def parse(cls, raw: str | None) -> OrderCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(Cursor.parse(json.dumps(data["order"])), Cursor.parse(json.dumps(data["line"])))


def latest_order_change(client: OdooClient) -> OrderCursor:
    return OrderCursor(latest_change(client, "sale.order", []), latest_change(client, "sale.order.line", []))


def start_order_cursor(client: OdooClient, *, overlap_seconds: int = OVERLAP_SECONDS, limit: int = 2000) -> OrderCursor:
    """The order sensor's starting point (:func:`start_cursor` for orders and for lines)."""
    return OrderCursor(
        start_cursor(client, "sale.order", [], overlap_seconds=overlap_seconds, limit=limit),
        start_cursor(client, "sale.order.line", [], overlap_seconds=overlap_seconds, limit=limit),
    )


def order_changes(
    client: OdooClient,
    cursor: OrderCursor,
    *,
    partition_day_of: Callable[[date], date],
    tz: str,
    overlap_seconds: int = OVERLAP_SECONDS,
    limit: int = 2000,
) -> Changes:
    """Sale orders and order lines written after ``cursor``; each routed to its order's date."""
    orders, order_cursor, order_backlog = _changed_since(
        client, "sale.order", [], ORDER_FIELDS, cursor.order, overlap_seconds=overlap_seconds, limit=limit
    )
    lines, line_cursor, line_backlog = _changed_since(
        client,
        "sale.order.line",
        [],
        ["order_id", "write_date"],
        cursor.line,
        overlap_seconds=overlap_seconds,
        limit=limit,
    )
    line_orders = {m2o_id(x.get("order_id")) for x in lines.values()} - {None} - set(orders)
    parents = client.read_related("sale.order", line_orders, ORDER_FIELDS) if line_orders else {}
    router = _Router()

    def route(order: dict, write_date: str, order_id: int) -> None:
        day = _safe(lambda: partition_day_of(local_day(order.get("date_order"), tz)))
        router.touch(m2o_id(order.get("company_id")), day, write_date, order_id)

    for order_id, o in orders.items():
        route(o, str(o.get("write_date") or ""), order_id)
    for x in lines.values():
        order_id = m2o_id(x.get("order_id"))
        order = orders.get(order_id) or parents.get(order_id)
        if order:
            route(order, str(x.get("write_date") or ""), int(order_id))
    return Changes(
        router.touched,
        OrderCursor(order_cursor, line_cursor),
        len(orders) + len(lines),
        order_backlog or line_backlog,
    )


# Vendor bills and journal entries (customer payments, matched or not): the financeiro's own
# documents the invoice sensor does not poll. A payment of a customer invoice moves the invoice's
# write_date (its residual and payment_state are recomputed), which the invoice sensor sees.
FINANCEIRO_DOMAIN = [("move_type", "in", ["in_invoice", "entry"])]
FINANCEIRO_FIELDS = ["move_type", "company_id", "invoice_date", "date", "write_date"]


def financeiro_changes(
    client: OdooClient,
    cursor: Cursor,
    *,
    partition_day_of: Callable[[date], date],
    overlap_seconds: int = OVERLAP_SECONDS,
    limit: int = 2000,
) -> Changes:
    """Vendor bills and entries written after ``cursor`` (plus the overlap window), each routed to
    the partition of its invoice date (a bill) or accounting date (an entry)."""
    moves, new_cursor, backlog = _changed_since(
        client,
        "account.move",
        FINANCEIRO_DOMAIN,
        FINANCEIRO_FIELDS,
        cursor,
        overlap_seconds=overlap_seconds,
        limit=limit,
    )
    router = _Router()
    first_wave: set[tuple[int, date]] = set()
    for move_id, m in moves.items():
        key = router.touch(
            m2o_id(m.get("company_id")),
            _safe(lambda m=m: partition_day_of(document_day(m))),
            str(m.get("write_date") or ""),
            move_id,
        )
        if key:
            first_wave.add(key)
    return Changes(router.touched, new_cursor, len(moves), backlog, first_wave)
