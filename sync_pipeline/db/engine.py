"""Engines, the per-partition unit of work, and the SQL statement counter.

A unit of work runs one partition's writes in one transaction. A transient connection error
(SSL closed, connection reset, administrator shutdown — seed 03's failure) rolls the transaction
back and the whole unit is replayed on a fresh connection with exponential backoff and jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from sync_pipeline.settings import normalize_pg_url

T = TypeVar("T")
log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

# SQLSTATEs after which replaying the transaction on a new connection is safe and useful.
TRANSIENT_SQLSTATES = {
    "08000",  # connection_exception
    "08001",  # sqlclient_unable_to_establish_sqlconnection
    "08003",  # connection_does_not_exist
    "08006",  # connection_failure
    "57P01",  # admin_shutdown (pg_terminate_backend)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
}
TRANSIENT_MESSAGES = (
    "ssl connection has been closed unexpectedly",
    "server closed the connection unexpectedly",
    "connection reset",
    "terminating connection due to administrator command",
    "could not receive data from server",
    "connection already closed",
    "could not connect to server",
)


@dataclass
class StatementCount:
    """Round trips on one connection: SQL statements (COPY included) and commits."""

    statements: int = 0
    commits: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, sql: str) -> None:
        self.statements += 1
        kind = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


def _on_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ARG001
    counter = conn.info.get("statement_count")
    if counter is not None:
        counter.add(statement)


def get_engine(url: str) -> Engine:
    """One engine per URL per process (pool_pre_ping: a dead pooled connection is replaced)."""
    url = normalize_pg_url(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
            event.listen(engine, "before_cursor_execute", _on_execute)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        if getattr(orig, "pgcode", None) in TRANSIENT_SQLSTATES:
            return True
        message = str(orig or exc).lower()
        return any(m in message for m in TRANSIENT_MESSAGES)
    return False


@dataclass
class UnitResult:
    value: object
    statements: int
    commits: int
    attempts: int
    seconds: float
    by_kind: dict[str, int]


def run_unit_of_work(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    name: str,
    max_attempts: int = 4,
    backoff_seconds: float = 0.5,
    logger: logging.Logger | None = None,
    lock: str | None = None,
) -> UnitResult:
    """Run ``work(conn)`` in one transaction; replay all of it after a transient error.

    ``lock`` names a transaction-level advisory lock taken first: units with the same name
    (one empreendimento's partitions) never write concurrently, whichever runs they come from.
    ``statements`` counts the statements of the attempt that committed (replayed attempts are
    reported as ``attempts``), so counts stay comparable between runs.
    """
    logger = logger or log
    started = time.perf_counter()
    for attempt in range(1, max_attempts + 1):
        counter = StatementCount()
        try:
            with engine.connect() as conn:
                conn.info["statement_count"] = counter
                try:
                    with conn.begin():
                        if lock is not None:
                            conn.execute(
                                text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                                {"k": lock},
                            )
                        value = work(conn)
                    counter.commits += 1
                finally:
                    conn.info.pop("statement_count", None)
            return UnitResult(
                value=value,
                statements=counter.statements,
                commits=counter.commits,
                attempts=attempt,
                seconds=time.perf_counter() - started,
                by_kind=dict(counter.by_kind),
            )
        except Exception as exc:
            if not is_transient(exc) or attempt == max_attempts:
                raise
            delay = random.uniform(0, backoff_seconds * 2 ** (attempt - 1))
            logger.warning(
                "%s: transient database error on attempt %d/%d (%s); rolled back, replaying in %.2fs",
                name,
                attempt,
                max_attempts,
                str(getattr(exc, "orig", exc)).strip().splitlines()[0],
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
