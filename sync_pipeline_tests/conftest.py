"""Shared fixtures: the real PostgreSQL (DATABASE_URL, started by `make test`) and the Odoo
simulator over real HTTP on a free port. Nothing here is mocked."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.schema import create_schema, metadata

# Modules whose tests start a dagster-daemon or webserver, or search many generated data sets.
SLOW_MODULES = {"test_daemon_e2e", "test_webserver", "test_property_convergence"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow modules' tests ``slow`` (``make test-fast`` runs ``-m "not slow"``)."""
    for item in items:
        if item.path.stem in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail(
            "DATABASE_URL is not set: run the suite through `make test`, which starts the project-local PostgreSQL"
        )
    engine = get_engine(url)
    with engine.begin() as conn:
        create_schema(conn)
    return url


@pytest.fixture
def db(database_url):
    """An empty operational schema for each test."""
    engine = get_engine(database_url)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    return engine


@pytest.fixture
def simulator():
    """Factory: ``simulator(seed=..., scale=..., days=..., companies=...)`` → a running server."""
    from sync_pipeline_tests.support import start_simulator

    started = []

    def make(**kwargs):
        handle = start_simulator(**kwargs)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.stop()
