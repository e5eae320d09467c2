"""The stack a benchmark measures through: the path `sync-pipeline backfill` takes, started for one phase.

A database of the benchmark's own (its operational schema and Dagster's storage schema dropped and
made again, so every phase starts empty), the Odoo simulator over HTTP in this process (its own
time per call in ``server.timings``), a temporary DAGSTER_HOME holding the project's dagster.yaml,
and one ``dagster-daemon`` whose run workers read the simulator and write the database — as
sync_pipeline_tests/test_daemon_e2e.py stands it up. Also: the peak memory of every run worker,
read from /proc while the runs go. Everything started here is stopped on exit, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import Engine, make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER_SCHEMA = "dagster_bench"
INVOICE_SENSOR = "invoice_sensor"


def _admin(url: str, *statements: sql.Composable) -> None:
    from sync_pipeline.settings import libpq_url

    conn = psycopg2.connect(libpq_url(url), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def check_own_database(url: str) -> str:
    """The benchmark drops schemas: refuse a database whose name does not say it is a benchmark's."""
    name = make_url(url).database or ""
    if "bench" not in name:
        raise SystemExit(
            f"DATABASE_URL names database {name!r}: the benchmark drops and recreates its schemas, so give it "
            "a database of its own whose name holds 'bench' (.venv/bin/sync-pipeline db createdb bench_scale)"
        )
    return name


def reset_database(url: str, *, dagster_schema: str = DAGSTER_SCHEMA) -> Engine:
    """Empty operational schema at the newest migration, empty Dagster schema; the engine."""
    from sync_pipeline.db.engine import get_engine
    from sync_pipeline.db.schema import create_schema

    check_own_database(url)
    _admin(
        url,
        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(dagster_schema)),
        sql.SQL("DROP SCHEMA IF EXISTS public CASCADE"),
        sql.SQL("CREATE SCHEMA public"),
        sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(dagster_schema)),
    )
    engine = get_engine(url)
    engine.dispose()  # pooled connections may hold the old schema's plans
    with engine.begin() as conn:
        create_schema(conn)
    return engine


def dagster_url(database_url: str, schema: str = DAGSTER_SCHEMA) -> str:
    from sync_pipeline.settings import normalize_pg_url

    url = normalize_pg_url(database_url)
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _initialise_invoice_sensor(instance, cursor) -> None:
    """Store the invoice sensor's state with a cursor at "now" (as `dagster sensor cursor --set`):
    the generated history is the backfill's job, and the first tick must not swallow a posted invoice."""
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        SensorInstigatorData,
    )
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._time import get_current_timestamp

    target = WorkspaceFileTarget(paths=[str(REPO_ROOT / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target) as workspace:
        (entry,) = workspace.create_request_context().get_code_location_entries().values()
        if entry.code_location is None:
            raise RuntimeError(f"the code location failed to load: {entry.load_error}")
        (repo,) = entry.code_location.get_repositories().values()
        sensor = repo.get_sensor(INVOICE_SENSOR)
        data = SensorInstigatorData(
            min_interval=sensor.min_interval_seconds,
            cursor=cursor.serialize(),
            last_sensor_start_timestamp=get_current_timestamp(),
            sensor_type=sensor.sensor_type,
        )
        # Loading the workspace may already have stored the sensor's declared state: then set its cursor.
        existing = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
        if existing is not None:
            instance.update_instigator_state(existing.with_data(data))
        else:
            instance.add_instigator_state(
                InstigatorState(
                    sensor.get_remote_origin(), InstigatorType.SENSOR, InstigatorStatus.DECLARED_IN_CODE, data
                )
            )


@dataclass
class Stack:
    sim: object  # OdooSimulator
    server: object  # SimulatorServer
    instance: object  # DagsterInstance
    daemon: object | None  # DaemonProcess
    engine: Engine
    database_url: str
    home: Path
    env: dict[str, str]

    def check(self) -> None:
        if self.daemon is not None:
            self.daemon.check_alive()


@contextlib.contextmanager
def bench_stack(sim, *, database_url: str, start_date, daemon: bool = True, faults=None) -> Iterator[Stack]:
    """The whole stack over ``sim`` (already generated); ``daemon=False`` for in-process measurements."""
    from dagster import DagsterInstance

    from sync_pipeline.backfill import DaemonProcess
    from sync_pipeline.dagster_home import ensure_dagster_schema
    from sync_pipeline.odoo.changes import Cursor
    from sync_pipeline.partitions import empreendimento_key
    from sync_pipeline.simulator.faults import FaultConfig
    from sync_pipeline.simulator.server import SimulatorServer

    with contextlib.ExitStack() as cleanup:
        engine = reset_database(database_url)
        cleanup.callback(engine.dispose)
        pg_url = dagster_url(database_url)
        ensure_dagster_schema(pg_url)
        server = SimulatorServer(sim, port=0, faults=faults or FaultConfig()).start()
        cleanup.callback(server.stop)
        home = Path(tempfile.mkdtemp(prefix="bench_dagster_home_"))
        cleanup.callback(shutil.rmtree, home, True)
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        env = {
            "ODOO_URL": server.url,
            "ODOO_DB": "odoo",
            "ODOO_USERNAME": "admin",
            "ODOO_API_KEY": "admin",
            "ODOO_PROTOCOL": "jsonrpc",
            "DATABASE_URL": database_url,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": pg_url,
            "SYNC_START_DATE": start_date.isoformat(),
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # this process's instance reads DAGSTER_PG_URL from dagster.yaml too

        def restore() -> None:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

        cleanup.callback(restore)
        instance = cleanup.enter_context(DagsterInstance.from_config(str(home)))
        companies = sorted(r["id"] for r in sim.rows("res.company"))
        instance.add_dynamic_partitions("empreendimento", [empreendimento_key(c) for c in companies])
        process = None
        if daemon:
            now = sim.clock.now().strftime("%Y-%m-%d %H:%M:%S")
            _initialise_invoice_sensor(instance, Cursor(write_date=now))
            process = DaemonProcess("workspace.yaml", env={**os.environ, **env}, log_path=home / "daemon.log")
            cleanup.enter_context(process)
            cleanup.callback(instance.wipe_daemon_heartbeats)
        yield Stack(sim, server, instance, process, engine, database_url, home, env)


# --- run worker memory ----------------------------------------------------------------------------


def _status_kb(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    """The pid's child processes, from the kernel's per-thread lists (no scan of all of /proc: the
    poll must not take the CPU the runs it measures need)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


@dataclass
class RunMemory:
    """Peak RSS of each run worker: a thread polls the instance for started runs, takes the worker
    pid its code server recorded in the run's event log (``run_launcher.run_worker_pid``), and reads
    VmHWM (the kernel's high-water mark of resident memory) of that pid and its children from
    /proc every ``poll_s`` until the process is gone. The last reading before exit is the peak (a
    peak reached in a run's last second may be missed: runs here last minutes)."""

    instance: object
    poll_s: float = 1.0
    peak_kb: dict[str, int] = field(default_factory=dict)  # run id -> peak VmHWM of worker (or a child)
    pids: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _poll(self) -> None:
        from dagster import DagsterRunStatus, RunsFilter

        from sync_pipeline.run_launcher import run_worker_pid

        while not self._stop.is_set():
            try:
                for run in self.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
                    if run.run_id not in self.pids:
                        pid = run_worker_pid(self.instance, run.run_id)
                        if pid:
                            self.pids[run.run_id] = pid
                for run_id, pid in self.pids.items():
                    for p in [pid, *_children(pid)]:
                        kb = _status_kb(p, "VmHWM")
                        if kb and kb > self.peak_kb.get(run_id, 0):
                            self.peak_kb[run_id] = kb
            except Exception as exc:  # a poll must never kill the benchmark
                print(f"  (memory poll: {type(exc).__name__}: {exc})")
            self._stop.wait(self.poll_s)

    def __enter__(self) -> RunMemory:
        self._thread = threading.Thread(target=self._poll, name="run-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def peak_mb(self, run_ids) -> dict[str, float]:
        return {r: self.peak_kb[r] / 1024 for r in run_ids if r in self.peak_kb}


def timestamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


def wait_until(condition, timeout_s: float, poll_s: float = 0.2, check=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check is not None:
            check()
        found = condition()
        if found:
            return found
        time.sleep(poll_s)
    return None
