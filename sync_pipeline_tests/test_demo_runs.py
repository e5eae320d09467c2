"""`sync-pipeline demo` end to end, small: every run it launched finished, none failed, and the runs
the sensors requested were launched by dagster-daemon as the sensor's (tag dagster/sensor_name).

The demo keeps state beside the code (its Odoo store, its Dagster log, under the repository's
.local/), so it runs from a copy of the package in a temporary directory: this checkout's .local/
(a `make dev`'s Odoo, another demo's log) is left alone. Its database and DAGSTER_HOME are its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from psycopg2 import sql
from sqlalchemy.engine import make_url

from sync_pipeline.settings import libpq_url, normalize_pg_url

REPO = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT_S = 900

pytestmark = [pytest.mark.slow, pytest.mark.timeout(DEMO_TIMEOUT_S + 60)]


def _admin(url: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(libpq_url(url), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@contextlib.contextmanager
def _scratch_database(server: str) -> Iterator[str]:
    name = f"sync_demo_{uuid.uuid4().hex[:10]}"
    _admin(server, sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _copy_of_the_project(into: Path) -> Path:
    shutil.copytree(REPO / "sync_pipeline", into / "sync_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("workspace.yaml", "dagster.yaml"):
        shutil.copy(REPO / name, into / name)
    return into


def test_the_demo_leaves_no_run_failed_or_running_and_its_sensor_runs_name_their_sensor(database_url, tmp_path):
    root = _copy_of_the_project(tmp_path / "project")
    home = tmp_path / "dagster_home"
    with _scratch_database(normalize_pg_url(database_url)) as url:
        env = {
            **os.environ,
            "PYTHONPATH": str(root),  # the copy's package, before the editable install's
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": url,
            "DAGSTER_HOME": str(home),
            "SYNC_DEPLOYMENT": "local",
            "SYNC_SENSOR_INTERVAL_SECONDS": "10",
        }
        env.pop("DAGSTER_PG_URL", None)  # derived from DATABASE_URL: Dagster's schema in the scratch database
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from sync_pipeline.cli import main; sys.exit(main())"]
            + ["demo", "--scale", "0.1", "--days", "4", "--companies", "2"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
        )
        log = root / ".local" / "demo" / "dagster.log"
        context = f"\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        if log.exists():
            context += "\n--- dagster.log (tail) ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        assert done.returncode == 0, context
        # the copy was the one that ran: its store and log, none in this checkout's .local/
        assert (root / ".local" / "simulator" / "odoo.pickle").exists() and log.exists(), context

        summary = re.search(r"runs of this demo: (\d+) succeeded, (\d+) failed(.*?);", done.stdout)
        assert summary, context
        succeeded, failed, rest = int(summary[1]), int(summary[2]), summary[3]
        assert failed == 0 and "not finished" not in rest, context

        with _env(DAGSTER_HOME=str(home), DAGSTER_PG_URL=_dagster_url(url)):
            instance = DagsterInstance.get()
            try:
                runs = list(instance.get_runs())
            finally:
                instance.dispose()
    assert runs, context
    statuses = {r.run_id: r.status for r in runs}
    assert set(statuses.values()) == {DagsterRunStatus.SUCCESS}, (statuses, context)
    assert len(runs) == succeeded
    backfill = [r for r in runs if "dagster/backfill" in r.tags]
    assert backfill, context
    sensors = {"invoice_sensor", "order_sensor", "reconciliation_sensor"}
    by_sensors = [r for r in runs if r.tags.get("sync/trigger") in sensors]  # sensors.py's tag
    assert by_sensors, f"the day's edits requested no sensor run{context}"
    for run in by_sensors:
        # launched by the daemon for its sensor: the UI names the sensor, not "Manually launched"
        assert run.tags.get("dagster/sensor_name") == run.tags["sync/trigger"], run.tags
    assert all("dagster/sensor_name" not in r.tags for r in backfill)
    assert len(backfill) + len(by_sensors) == len(runs)
    launched = re.findall(r"^\s+(\w+_sensor): \d+ runs launched \(.*\), (.*)$", done.stdout, re.M)
    assert launched and all(outcome == "all ok" for _, outcome in launched), context


def _dagster_url(url: str) -> str:
    sep = "&" if "?" in url else "?"
    return normalize_pg_url(f"{url}{sep}options=-csearch_path%3Ddagster")


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield
