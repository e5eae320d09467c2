"""The Odoo client: the only code that talks to Odoo (no Dagster here; resources/odoo.py wraps it).

It reads in pages of ``page_size`` ids ordered by id, overlaps pages in a bounded thread pool, asks
only for the fields it is given, retries transient failures with exponential backoff and full jitter,
checks the shape of every answer, and counts its calls so tests and benchmarks can assert them.

It adapts to the server's version (DESIGN §4), asked once per client: ``protocol="auto"`` speaks
JSON-2 to Odoo 19 and later and JSON-RPC to 16-18; ``group_counts`` groups through
``formatted_read_group`` from 19 and ``read_group`` before; ``field_names`` gives the server's name of
a field Odoo renamed (``sale.order.line`` ``tax_id`` is ``tax_ids`` on 19).
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Self

from sync_pipeline.odoo.errors import (
    OdooAuthError,
    OdooError,
    OdooFieldError,
    OdooProtocolError,
    OdooServerError,
    OdooTransientError,
    OdooVersionError,
)
from sync_pipeline.odoo.transport import PROTOCOLS, VERSION_CALL, OdooTransport, VersionProbe, make_transport

_module_logger = logging.getLogger(__name__)

AUTO = "auto"
PROTOCOL_CHOICES = (AUTO, *PROTOCOLS)
OLDEST_MAJOR = 16  # the oldest Odoo this client speaks
JSON2_MAJOR = 19  # JSON-2 preferred and formatted_read_group available from here

BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 30.0  # the longest Retry-After honoured before the next attempt
FIELDS_GET_ATTRIBUTES = ["string", "type", "relation", "required", "readonly", "store"]
DATE_GRANULARITIES = frozenset({"day", "week", "month", "quarter", "year"})

# Fields Odoo renamed: every name one field has had, oldest first (checked on real 17 and 19 servers).
RENAMED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sale.order.line": (("product_uom", "product_uom_id"), ("tax_id", "tax_ids")),
}

# Methods that change nothing on the server (or set the same values again): repeating one whose
# answer was lost is harmless. Any other method is repeated only if the request never left.
REPEATABLE_METHODS = frozenset(
    {
        "authenticate",
        "search",
        "search_read",
        "search_count",
        "read",
        "read_group",
        "formatted_read_group",
        "fields_get",
        "version",
        "name_search",
        "default_get",
        "check_access_rights",
        "context_get",
        "write",
    }
)

# Odoo's XML-RPC marshaller cannot send None, so methods returning nothing fault after committing.
_NONE_FAULT = "cannot marshal None unless allow_none is enabled"


class CallStats:
    """Thread-safe counters of the calls one client made.

    ``total`` and ``by_call`` count calls (a retried call once); ``retries`` counts the extra
    attempts, ``errors`` the calls that finally failed, ``seconds`` the time spent waiting on calls.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._by_call: Counter[str] = Counter()
            self._retries = 0
            self._errors = 0
            self._seconds = 0.0

    def record_call(self, call: str) -> None:
        with self._lock:
            self._by_call[call] += 1

    def record_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def record_end(self, seconds: float, failed: bool) -> None:
        with self._lock:
            self._seconds += seconds
            self._errors += int(failed)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_call.values())

    @property
    def by_call(self) -> Counter[str]:
        with self._lock:
            return Counter(self._by_call)

    @property
    def retries(self) -> int:
        with self._lock:
            return self._retries

    @property
    def errors(self) -> int:
        with self._lock:
            return self._errors

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._by_call.values()),
                "by_call": dict(sorted(self._by_call.items())),
                "retries": self._retries,
                "errors": self._errors,
                "seconds": round(self._seconds, 3),
            }

    def __repr__(self) -> str:
        return f"CallStats({self.snapshot()})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_missing_error(exc: OdooServerError) -> bool:
    """Odoo's MissingError ("Record does not exist or has been deleted"); over XML-RPC it arrives as
    a UserError fault, known by its message."""
    return exc.odoo_name.endswith(".MissingError") or "Record does not exist or has been deleted" in exc.detail


# -- the server's version --------------------------------------------------------------------------
_MAJOR = re.compile(r"^(?:saas~)?(\d+)$")  # server_version_info[0]: 17, or "saas~18" on SaaS releases
_SERIE = re.compile(r"^(?:saas~)?(\d+)\.(\d+)")


@dataclass(frozen=True)
class OdooVersion:
    """The server's version: ``text`` as it says it (``17.0-20240709``, ``saas~18.3``) and its numbers."""

    text: str
    major: int
    minor: int

    def __str__(self) -> str:
        return self.text

    @property
    def protocol(self) -> str:
        """What ``auto`` speaks: JSON-2 from 19 (XML-RPC and JSON-RPC log a deprecation on every call
        there), JSON-RPC before."""
        return "json2" if self.major >= JSON2_MAJOR else "jsonrpc"

    @property
    def has_formatted_read_group(self) -> bool:
        return self.major >= JSON2_MAJOR


def parse_version(answer: Any, protocol: str = AUTO) -> OdooVersion:
    """The version in an answer to ``common.version()``; OdooVersionError when it cannot be read or is
    older than Odoo 16."""
    text, major, minor = "", None, None
    if isinstance(answer, dict):
        text = str(answer.get("server_version") or answer.get("server_serie") or "")
        info = answer.get("server_version_info")
        head = _MAJOR.match(str(info[0])) if isinstance(info, list) and len(info) >= 2 else None
        if head and _is_int(info[1]):
            major, minor = int(head.group(1)), info[1]
        elif serie := _SERIE.match(str(answer.get("server_serie") or text)):
            major, minor = int(serie.group(1)), int(serie.group(2))
    shown = text or repr(answer)[:160]
    if major is None:
        raise OdooVersionError(VERSION_CALL, protocol, f"cannot read a server version in {shown!r}", version=shown)
    if major < OLDEST_MAJOR:
        raise OdooVersionError(
            VERSION_CALL,
            protocol,
            f"Odoo server version {shown!r} is not supported: this client speaks Odoo {OLDEST_MAJOR} and later "
            f"(JSON-RPC before {JSON2_MAJOR}, JSON-2 from {JSON2_MAJOR})",
            version=shown,
        )
    return OdooVersion(text or f"{major}.{minor}", major, minor)


# -- grouped counts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    """One group of ``OdooClient.group_counts``, the same whichever Odoo method answered.

    ``values`` has one value per groupby spec: a many2one as ``[id, display_name]``; a date or datetime
    bucket (``date_order:month``) as the ``(from, to)`` strings of its half-open range, as the server
    bounds it (UTC for datetimes, from the context's ``tz``); anything else as Odoo sends it; ``False``
    for the records without a value. ``count`` is how many records the group holds.
    """

    values: dict[str, Any]
    count: int


def group_of(row: Any, groupby: Sequence[str]) -> Group:
    """A ``Group`` from one row of ``read_group(lazy=False)`` (Odoo 16-18: a date bucket's label, its
    range in ``__range``) or of ``formatted_read_group`` (19: ``[from, label]``, its range in
    ``__extra_domain``). ValueError names what the row lacks."""
    if not isinstance(row, dict) or not _is_int(row.get("__count")) or row["__count"] < 0:
        raise ValueError("groups with a __count")
    values = {}
    for spec in groupby:
        if spec not in row:
            raise ValueError(f"groups with {spec!r}")
        values[spec] = _group_value(row, spec)
    return Group(values, row["__count"])


def _group_value(row: dict, spec: str) -> Any:
    value = row[spec]
    if value is None or value is False:
        return False
    name, _, granularity = spec.partition(":")
    if granularity not in DATE_GRANULARITIES:
        return value
    ranges = row.get("__range") if isinstance(row.get("__range"), dict) else {}
    bounds = ranges.get(spec) or next((v for k, v in ranges.items() if k.partition(":")[0] == name), None)
    if isinstance(bounds, dict) and bounds.get("from") and bounds.get("to"):
        return (bounds["from"], bounds["to"])
    # Only the group's own leaves are in __extra_domain (read_group's __domain repeats the caller's).
    leaves = [t for t in row.get("__extra_domain") or () if isinstance(t, list | tuple) and len(t) == 3]
    low = next((t[2] for t in leaves if t[0] == name and t[1] == ">="), None)
    high = next((t[2] for t in leaves if t[0] == name and t[1] == "<"), None)
    if not low or not high:
        raise ValueError(f"a range for each {spec} group")
    return (low, high)


# -- renamed fields --------------------------------------------------------------------------------
def resolve_field_names(model: str, available: Iterable[str], names: Iterable[str]) -> tuple[dict, list]:
    """``({asked name: the server's name}, [names it has under no spelling])`` for ``names`` of
    ``model``, given the server's field names; a name asked is preferred, then the others it has had."""
    present = set(available)
    spellings = {name: group for group in RENAMED_FIELDS.get(model, ()) for name in group}
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        candidates = (name, *(n for n in spellings.get(name, ()) if n != name))
        real = next((c for c in candidates if c in present), None)
        if real is None:
            missing.append(name)
        else:
            found[name] = real
    return found, missing


class OdooClient:
    """A connection to one Odoo database over ``xmlrpc``, ``jsonrpc`` or ``json2``, or ``auto``
    (default): the one the server's version calls for, asked on first use.

    ``with OdooClient(...) as odoo:`` closes its thread pool and HTTP sessions at the end.
    """

    def __init__(
        self,
        url: str,
        db: str,
        username: str,
        api_key: str,
        protocol: str = AUTO,
        page_size: int = 1000,
        max_workers: int = 4,
        timeout_seconds: float = 60.0,
        max_retries: int = 5,
        backoff_seconds: float = 0.5,
        logger: logging.Logger | None = None,
        max_retry_after_seconds: float = RETRY_AFTER_CAP_SECONDS,
    ):
        if protocol not in PROTOCOL_CHOICES:
            raise ValueError(f"Unknown Odoo protocol {protocol!r}: expected one of {', '.join(PROTOCOL_CHOICES)}")
        if (
            page_size < 1
            or max_workers < 1
            or max_retries < 0
            or timeout_seconds <= 0
            or backoff_seconds < 0
            or max_retry_after_seconds < 0
        ):
            raise ValueError(
                "OdooClient needs page_size >= 1, max_workers >= 1, max_retries >= 0, timeout_seconds > 0, "
                "backoff_seconds >= 0 and max_retry_after_seconds >= 0"
            )
        self.url = url.rstrip("/")
        self.db = db
        self.username = username
        self.requested_protocol = protocol
        self.page_size = int(page_size)
        self.max_workers = int(max_workers)
        self.max_retries = int(max_retries)
        self.backoff_seconds = float(backoff_seconds)
        self.max_retry_after_seconds = float(max_retry_after_seconds)
        self.log = logger or _module_logger
        self.stats = CallStats()
        self._new_transport: Callable[[str], OdooTransport] = lambda name: make_transport(
            name, self.url, db, username, api_key, timeout_seconds
        )
        self._new_probe: Callable[[], OdooTransport] = lambda: VersionProbe(
            self.url, db, username, api_key, timeout_seconds
        )
        self._server_lock = threading.RLock()
        self._chosen: OdooTransport | None = None if protocol == AUTO else self._new_transport(protocol)
        self._probe: OdooTransport | None = None
        self._version: OdooVersion | None = None
        self._uid: int | None = None
        self._uid_lock = threading.Lock()
        self._fields_cache: dict[str, dict[str, dict]] = {}
        self._fields_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OdooClient(url={self.url!r}, db={self.db!r}, username={self.username!r}, "
            f"protocol={self._label!r}, page_size={self.page_size})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the page pool and close the HTTP sessions; the client reopens them if used again."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._server_lock:
            transports = [t for t in (self._chosen, self._probe) if t is not None]
        for transport in transports:
            transport.close()

    # -- the server ------------------------------------------------------------------------------
    @property
    def server_version(self) -> OdooVersion:
        """The server's version, asked once (``common.version``, no credentials needed; a call)."""
        if self._version is None:
            with self._server_lock:
                if self._version is None:
                    asker = self._chosen
                    if asker is None:
                        asker = self._probe = self._probe or self._new_probe()
                    answer = self._retrying(VERSION_CALL, "version", asker.version)
                    try:
                        version = parse_version(answer, self._label)
                    except OdooVersionError:
                        self.stats.record_end(0.0, failed=True)
                        raise
                    self._version = version
                    self._announce(version)
        return self._version

    @property
    def protocol(self) -> str:
        """The protocol calls go through: as configured, or under ``auto`` the one the server's version
        calls for (asking it on first use)."""
        return self._transport.protocol

    @property
    def _transport(self) -> OdooTransport:
        chosen = self._chosen
        if chosen is None:
            with self._server_lock:
                if self._chosen is None:
                    self._chosen = self._new_transport(self.server_version.protocol)
                    if self._probe is not None:
                        self._probe.close()
                        self._probe = None
                chosen = self._chosen
        return chosen

    @property
    def _label(self) -> str:
        """The protocol for messages, without asking the server: ``auto`` until it has chosen."""
        chosen = self._chosen
        return chosen.protocol if chosen is not None else self.requested_protocol

    def _announce(self, version: OdooVersion) -> None:
        if self.requested_protocol == AUTO:
            protocol, how = version.protocol, "chosen by its version (protocol auto)"
        else:
            protocol, how = self.requested_protocol, "as configured"
        self.log.info("Odoo %s at %s (database %s): %s, %s", version, self.url, self.db, protocol, how)
        if protocol != "json2" and version.major >= JSON2_MAJOR:
            self.log.warning(
                "Odoo %s logs every %s call as deprecated (removed in Odoo 20): set ODOO_PROTOCOL=auto or json2",
                version,
                protocol,
            )

    # -- calls -----------------------------------------------------------------------------------
    @property
    def uid(self) -> int:
        """The user id, from one authentication on first use (counted as a call)."""
        if self._uid is None:
            with self._uid_lock:
                if self._uid is None:
                    self._uid = self._retrying(self._transport.auth_call, "authenticate", self._authenticate)
        return self._uid

    def _authenticate(self) -> int:
        uid = self._transport.authenticate()
        if uid is False or uid is None:
            raise OdooAuthError(
                self._transport.auth_call,
                self._label,
                f"authentication failed for login {self.username!r} on database {self.db!r} "
                "(wrong database, login or API key)",
            )
        if not _is_int(uid) or uid <= 0:
            raise OdooProtocolError(
                self._transport.auth_call,
                self._label,
                f"uid {uid!r} is not a user id",
            )
        return uid

    def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call any model method (``execute_kw``); transient failures are retried."""
        return self._execute(model, method, list(args), kwargs)

    def _execute(self, model: str, method: str, args: list, kwargs: dict, *, none_fault_ok: bool = False) -> Any:
        uid = self.uid if self._transport.needs_uid else None

        def attempt() -> Any:
            try:
                return self._transport.execute_kw(uid, model, method, args, kwargs)
            except OdooServerError as exc:
                if none_fault_ok and (_NONE_FAULT in exc.detail or _NONE_FAULT in exc.debug):
                    return None  # committed; only the None answer could not be marshalled
                raise

        return self._retrying(f"{model}.{method}", method, attempt)

    def _retrying(self, call: str, method: str, attempt_call: Callable[[], Any]) -> Any:
        self.stats.record_call(call)
        started = time.monotonic()
        failed = True
        try:
            attempt = 0
            while True:
                try:
                    result = attempt_call()
                    failed = False
                    return result
                except OdooTransientError as exc:
                    if exc.request_sent and method not in REPEATABLE_METHODS:
                        raise OdooTransientError(
                            call,
                            self._label,
                            f"{exc.detail}; not retried: {method} changes data and the server may have "
                            "applied it, re-read before repeating",
                            attempts=attempt + 1,
                        ) from exc
                    if attempt >= self.max_retries:
                        raise OdooTransientError(
                            call,
                            self._label,
                            f"{exc.detail}; gave up after {attempt + 1} attempts",
                            request_sent=exc.request_sent,
                            attempts=attempt + 1,
                        ) from exc
                    delay = random.uniform(0.0, min(BACKOFF_CAP_SECONDS, self.backoff_seconds * 2**attempt))
                    asked = ""
                    if exc.retry_after is not None:  # the server said when: never sooner, within a bound
                        delay = max(delay, min(exc.retry_after, self.max_retry_after_seconds))
                        asked = f" (Retry-After {exc.retry_after:g}s)"
                    attempt += 1
                    self.stats.record_retry()
                    self.log.warning(
                        "Odoo %s via %s failed (%s); retry %d/%d in %.2fs%s",
                        call,
                        self._label,
                        exc.detail,
                        attempt,
                        self.max_retries,
                        delay,
                        asked,
                    )
                    time.sleep(delay)
        finally:
            self.stats.record_end(time.monotonic() - started, failed)

    # -- reading ---------------------------------------------------------------------------------
    def search(
        self,
        model: str,
        domain: list,
        *,
        order: str = "id",
        limit: int | None = None,
        offset: int = 0,
        context: dict | None = None,
    ) -> list[int]:
        kwargs = self._window(order, limit, offset)
        if context:
            kwargs["context"] = context
        ids = self.execute(model, "search", list(domain), **kwargs)
        if not isinstance(ids, list) or not all(_is_int(i) for i in ids):
            raise self._bad_shape(model, "search", "a list of ids", ids)
        return ids

    def search_count(self, model: str, domain: list) -> int:
        count = self.execute(model, "search_count", list(domain))
        if not _is_int(count) or count < 0:
            raise self._bad_shape(model, "search_count", "a count", count)
        return count

    def search_read(
        self,
        model: str,
        domain: list,
        fields: Sequence[str],
        *,
        order: str = "id",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict]:
        fields = self._explicit(model, "search_read", fields)
        records = self.execute(
            model,
            "search_read",
            list(domain),
            fields=fields,
            **self._window(order, limit, offset),
        )
        self._check_records(model, "search_read", records, fields)
        return records

    def read(self, model: str, ids: Iterable[int], fields: Sequence[str]) -> list[dict]:
        """Records of ``ids`` (de-duplicated), in pages read in parallel; ordered by id."""
        records = [record for page in self.read_pages(model, ids, fields) for record in page]
        records.sort(key=lambda record: record["id"])
        return records

    def read_pages(self, model: str, ids: Iterable[int], fields: Sequence[str]) -> Iterator[list[dict]]:
        """Pages of records in id order, at most ``max_workers`` pages in flight (flat memory)."""
        fields = self._explicit(model, "read", fields)
        unique = set(ids)
        if not all(_is_int(i) for i in unique):
            raise ValueError(f"{model}.read: ids must be integers, got {sorted(map(repr, unique))[:5]}")
        unique = sorted(unique)
        pages = [unique[start : start + self.page_size] for start in range(0, len(unique), self.page_size)]
        return self._map_pages(lambda page: self._read_page(model, page, fields), pages)

    def _read_page(self, model: str, ids: list[int], fields: list[str]) -> list[dict]:
        asked = ids
        try:
            records = self.execute(model, "read", ids, fields=fields)
        except OdooServerError as exc:
            if not _is_missing_error(exc):
                raise
            # A server that refuses the page for an id gone since it was found: read the others, as a
            # real Odoo 17 does by itself (its read leaves deleted records out).
            asked = self._existing(model, ids)
            if len(asked) == len(ids):
                raise
            records = self.execute(model, "read", asked, fields=fields) if asked else []
        self._check_records(model, "read", records, fields)
        answered = {record["id"] for record in records}
        unknown = answered - set(ids)
        if unknown:
            raise self._bad_shape(model, "read", "only the requested ids", sorted(unknown)[:10])
        # Odoo silently leaves out records deleted since they were found; a page without records
        # that still exist is not that, and would lose them without a trace.
        left_out = sorted(set(asked) - answered)
        if left_out and (skipped := self._existing(model, left_out)):
            raise self._bad_shape(
                model, "read", f"every requested id that exists (search finds {skipped[:10]})", sorted(answered)[:10]
            )
        return records

    def _existing(self, model: str, ids: list[int]) -> list[int]:
        """Which of ``ids`` exist on the server, archived ones included (one ``search``)."""
        return self.search(model, [("id", "in", list(ids))], context={"active_test": False})

    def fetch_all(self, model: str, domain: list, fields: Sequence[str]) -> list[dict]:
        """Every record matching ``domain``: one ``search`` for the ids, then ``read`` pages in parallel."""
        return self.read(model, self.search(model, domain, order="id"), fields)

    def read_related(self, model: str, ids: Iterable[Any], fields: Sequence[str]) -> dict[int, dict]:
        """Records by id for the ids a many2one/many2many pointed at (``[id, name]`` pairs, ints or
        False); each id read once, in batched pages."""
        wanted: set[int] = set()
        for value in ids:
            if isinstance(value, list | tuple):
                value = value[0] if value else False
            if value is False or value is None:
                continue
            if not _is_int(value):
                raise ValueError(f"{model}.read: {value!r} is not a record id")
            wanted.add(value)
        return {record["id"]: record for record in self.read(model, wanted, fields)}

    def fields_get(self, model: str) -> dict[str, dict]:
        """The model's fields with their attributes; asked once per client (once per run)."""
        with self._fields_lock:
            cached = self._fields_cache.get(model)
            if cached is None:
                cached = self.execute(model, "fields_get", attributes=FIELDS_GET_ATTRIBUTES)
                if not isinstance(cached, dict) or not all(isinstance(v, dict) for v in cached.values()):
                    raise self._bad_shape(model, "fields_get", "an object of field descriptions", cached)
                self._fields_cache[model] = cached
            return cached

    def has_field(self, model: str, field: str) -> bool:
        return field in self.fields_get(model)

    def field_names(self, model: str, names: Iterable[str], *, required: bool = True) -> dict[str, str]:
        """The server's name of each of ``names``, asked by any name the field has had
        (``RENAMED_FIELDS``), from the cached ``fields_get``: ``{"tax_id": "tax_ids"}`` on Odoo 19,
        ``{"tax_id": "tax_id"}`` before. A field the server has under no name is an OdooFieldError, or
        with ``required=False`` left out (a localisation's fields: read where present, never required).
        """
        found, missing = resolve_field_names(model, self.fields_get(model), names)
        if missing and required:
            spellings = {name: group for group in RENAMED_FIELDS.get(model, ()) for name in group}
            described = ", ".join(" or ".join(spellings.get(name, (name,))) for name in missing)
            raise OdooFieldError(f"{model}.fields_get", self._label, f"{model} has no field {described} on this server")
        return found

    def group_counts(
        self, model: str, domain: list, groupby: Sequence[str], *, context: dict | None = None
    ) -> list[Group]:
        """Records of ``domain`` counted per ``groupby`` (fields, date fields with their granularity:
        ``date_order:month``), in one call: ``formatted_read_group`` on Odoo 19 and later,
        ``read_group(lazy=False)`` before (19 deprecates it). The groups come in the server's order."""
        groupby = [groupby] if isinstance(groupby, str) else list(groupby)
        if not groupby or not all(isinstance(g, str) and g for g in groupby):
            raise ValueError(f"{model}.group_counts: give the groupby specs, got {groupby!r}")
        extra: dict[str, Any] = {"context": context} if context else {}
        if self.server_version.has_formatted_read_group:
            method = "formatted_read_group"
            rows = self.execute(model, method, list(domain), groupby=groupby, aggregates=["__count"], **extra)
        else:
            method = "read_group"
            rows = self.execute(model, method, list(domain), fields=["__count"], groupby=groupby, lazy=False, **extra)
        if not isinstance(rows, list):
            raise self._bad_shape(model, method, "a list of groups", rows)
        groups = []
        for row in rows:
            try:
                groups.append(group_of(row, groupby))
            except ValueError as exc:
                raise self._bad_shape(model, method, str(exc), row) from None
        return groups

    # -- writing ---------------------------------------------------------------------------------
    def create(self, model: str, vals: dict) -> int:
        created = self.execute(model, "create", [vals])
        if isinstance(created, list) and len(created) == 1:
            created = created[0]
        if not _is_int(created):
            raise self._bad_shape(model, "create", "the new record's id", created)
        return created

    def write(self, model: str, ids: Sequence[int], vals: dict) -> bool:
        done = self.execute(model, "write", list(ids), vals)
        if done is not True:
            raise self._bad_shape(model, "write", "true", done)
        return done

    def unlink(self, model: str, ids: Sequence[int]) -> bool:
        done = self.execute(model, "unlink", list(ids))
        if done is not True:
            raise self._bad_shape(model, "unlink", "true", done)
        return done

    def call_action(self, model: str, method: str, ids: Sequence[int], context: dict | None = None) -> Any:
        """Run a button/action method (``action_post``, ``button_draft``...) on ``ids``.

        Returns what the method returned (e.g. a wizard action), or None. Over XML-RPC, Odoo commits a
        method that returns nothing and then faults marshalling its None: that fault is success.
        """
        kwargs = {"context": context} if context else {}
        return self._execute(model, method, list(ids), kwargs, none_fault_ok=True)

    # -- helpers ---------------------------------------------------------------------------------
    def _map_pages(self, work: Callable[[list[int]], list[dict]], pages: list[list[int]]) -> Iterator[list[dict]]:
        if len(pages) <= 1 or self.max_workers == 1:
            for page in pages:
                yield work(page)
            return
        pool = self._executor()
        in_flight: list[Future] = []
        upcoming = iter(pages)
        try:
            for page in itertools.islice(upcoming, self.max_workers):
                in_flight.append(pool.submit(work, page))
            while in_flight:
                result = in_flight.pop(0).result()
                following = next(upcoming, None)
                if following is not None:
                    in_flight.append(pool.submit(work, following))
                yield result
        finally:
            for future in in_flight:  # failed fast, or the caller stopped reading
                future.cancel()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="odoo-page")
            return self._pool

    @staticmethod
    def _window(order: str, limit: int | None, offset: int) -> dict[str, Any]:
        window: dict[str, Any] = {"order": order}
        if offset:
            window["offset"] = offset
        if limit is not None:
            window["limit"] = limit
        return window

    @staticmethod
    def _explicit(model: str, method: str, fields: Sequence[str]) -> list[str]:
        if isinstance(fields, str) or not fields or not all(isinstance(f, str) and f for f in fields):
            raise ValueError(f"{model}.{method}: give the fields to read explicitly (never all fields)")
        return list(fields)

    def _check_records(self, model: str, method: str, records: Any, fields: list[str]) -> None:
        if not isinstance(records, list):
            raise self._bad_shape(model, method, "a list of records", records)
        seen: set[int] = set()
        for record in records:
            if not isinstance(record, dict) or not _is_int(record.get("id")):
                raise self._bad_shape(model, method, "records with integer ids", record)
            missing = [name for name in fields if name not in record]
            if missing:
                raise self._bad_shape(model, method, f"records with fields {missing}", record)
            if record["id"] in seen:  # never from Odoo; staging it twice would fail or double it
                raise self._bad_shape(model, method, f"each record once, id {record['id']} came twice", record)
            seen.add(record["id"])

    def _bad_shape(self, model: str, method: str, expected: str, got: Any) -> OdooProtocolError:
        self.stats.record_end(0.0, failed=True)  # the call answered, but not what it must
        shown = repr(got)
        if len(shown) > 160:
            shown = shown[:160] + "..."
        return OdooProtocolError(f"{model}.{method}", self._label, f"expected {expected}, got {shown}")


__all__ = [
    "PROTOCOL_CHOICES",
    "RENAMED_FIELDS",
    "REPEATABLE_METHODS",
    "CallStats",
    "Group",
    "OdooClient",
    "OdooError",
    "OdooVersion",
    "group_of",
    "parse_version",
    "resolve_field_names",
]
