"""PostgresResource: the only code that opens connections to the operational database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from dagster import ConfigurableResource
from sqlalchemy.engine import Connection, Engine

from sync_pipeline.db.engine import UnitResult, get_engine, run_unit_of_work
from sync_pipeline.db.schema import create_schema

T = TypeVar("T")


class PostgresResource(ConfigurableResource):
    """Operational PostgreSQL (``DATABASE_URL``); plain ``postgresql://`` URLs are accepted."""

    database_url: str
    max_attempts: int = 4
    backoff_seconds: float = 0.5

    def engine(self) -> Engine:
        return get_engine(self.database_url)

    def unit_of_work(
        self,
        work: Callable[[Connection], T],
        *,
        name: str,
        logger: logging.Logger | None = None,
        lock: str | None = None,
    ) -> UnitResult:
        """Run ``work`` in one transaction, replayed whole on a transient connection error.

        ``lock``: units sharing it are serialised (an advisory lock held until commit).
        """
        return run_unit_of_work(
            self.engine(),
            work,
            name=name,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            logger=logger,
            lock=lock,
        )

    def ensure_schema(self, logger: logging.Logger | None = None) -> list[str]:
        """Upgrade the operational schema to the newest migration (idempotent); the tables created."""
        return self.unit_of_work(create_schema, name="schema", logger=logger).value  # type: ignore[return-value]
