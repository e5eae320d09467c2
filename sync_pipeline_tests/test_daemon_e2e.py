"""End to end through a real Dagster instance and `dagster-daemon`: no mocks, no in-process runs.

One module-wide stack: a dedicated PostgreSQL database (operational tables + Dagster's storage in
its own schema), the Odoo simulator over HTTP, a temp DAGSTER_HOME holding the project's
dagster.yaml, and one `dagster-daemon run -w workspace.yaml` whose run workers read the simulator
and write the database. The daemon is stopped (and its whole process group checked gone) even
when a test fails.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import TickStatus
from psycopg2 import sql
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from sync_pipeline.assets.carteira import CARTEIRA_KEY, FATURADO_KEY, ORDERS_KEY, SALDO_KEY
from sync_pipeline.assets.common import MAX_PARTITIONS_PER_RUN
from sync_pipeline.assets.faturamento import EXTRACT_KEY, FATURAMENTO_KEY
from sync_pipeline.backfill import DaemonProcess, submit_asset_backfill, wait_for_backfill
from sync_pipeline.dagster_home import ensure_dagster_schema
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.schema import create_schema
from sync_pipeline.odoo.changes import Cursor
from sync_pipeline.partitions import SyncPartition, date_range, empreendimento_key, last_day
from sync_pipeline.run_launcher import run_worker_pid
from sync_pipeline.settings import libpq_url, normalize_pg_url
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.oracle import expected_faturamento
from sync_pipeline_tests.support import (
    START,
    SimulatorHandle,
    empreendimentos,
    resources,
    start_simulator,
    sync_range,
    synced_state,
    table_rows,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKFILL_DAYS = 10
BACKFILL_TIMEOUT_S = 360  # three empreendimentos; generous for a loaded CI machine
SENSOR_TIMEOUT_S = 120
INVOICE_SENSOR = "invoice_sensor"

pytestmark = pytest.mark.timeout(480)


@dataclass
class Stack:
    handle: SimulatorHandle
    instance: DagsterInstance
    daemon: DaemonProcess
    engine: Engine
    database_url: str


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail("DATABASE_URL is not set: run the suite through `make test` (it starts the local PostgreSQL)")
    return normalize_pg_url(url)


def _admin(url: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(libpq_url(url), connect_timeout=10)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@contextlib.contextmanager
def _dedicated_database() -> Iterator[str]:
    """A fresh database on DATABASE_URL's server, dropped afterwards (its sessions cut)."""
    server = _server_url()
    name = f"sync_e2e_{uuid.uuid4().hex[:10]}"
    _admin(server, sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _initialise_invoice_sensor(instance: DagsterInstance, cursor: Cursor) -> None:
    """Store the invoice sensor's state with a cursor, as `dagster sensor cursor --set` would.

    The sensor is looked up in the same workspace.yaml the daemon loads (so the stored state is
    the one the daemon reads), and stays running as declared in code.
    """
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
        request = workspace.create_request_context()
        (entry,) = request.get_code_location_entries().values()
        assert entry.code_location is not None, f"the code location failed to load: {entry.load_error}"
        (repo,) = entry.code_location.get_repositories().values()
        sensor = repo.get_sensor(INVOICE_SENSOR)
        assert instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id) is None
        instance.add_instigator_state(
            InstigatorState(
                sensor.get_remote_origin(),
                InstigatorType.SENSOR,
                InstigatorStatus.DECLARED_IN_CODE,
                SensorInstigatorData(
                    min_interval=sensor.min_interval_seconds,
                    cursor=cursor.serialize(),
                    last_sensor_start_timestamp=get_current_timestamp(),
                    sensor_type=sensor.sensor_type,
                ),
            )
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup, pytest.MonkeyPatch.context() as mp:
        database_url = cleanup.enter_context(_dedicated_database())
        engine = get_engine(database_url)
        cleanup.callback(engine.dispose)
        with engine.begin() as conn:
            create_schema(conn)
        sep = "&" if "?" in database_url else "?"
        dagster_pg_url = f"{database_url}{sep}options=-csearch_path%3Ddagster_e2e"
        ensure_dagster_schema(dagster_pg_url)

        # three companies: invoice numbers collide across them, as on a real Odoo
        handle = start_simulator(seed=11, scale=0.5, days=BACKFILL_DAYS, companies=3)
        cleanup.callback(handle.stop)

        home = tmp_path_factory.mktemp("dagster_home")
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        env = {
            "ODOO_URL": handle.url,
            "ODOO_DB": "odoo",
            "ODOO_USERNAME": "admin",
            "ODOO_API_KEY": "admin",
            "ODOO_PROTOCOL": "jsonrpc",
            "DATABASE_URL": database_url,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": dagster_pg_url,
            "SYNC_START_DATE": START.isoformat(),
        }
        for name, value in env.items():
            mp.setenv(name, value)

        instance = cleanup.enter_context(DagsterInstance.from_config(str(home)))
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))
        # The sensor starts from "now": the generated history is the backfill's job, not the sensor's.
        _initialise_invoice_sensor(instance, Cursor(write_date=handle.sim.clock.now().strftime("%Y-%m-%d %H:%M:%S")))

        daemon = DaemonProcess("workspace.yaml", env={**os.environ, **env}, log_path=home / "daemon.log")
        cleanup.enter_context(daemon)
        try:
            yield Stack(handle=handle, instance=instance, daemon=daemon, engine=engine, database_url=database_url)
        finally:
            daemon.stop()
            assert not daemon.is_alive(), f"dagster-daemon (pid {daemon.pid}) is still running"
            assert daemon.leftover_pids() == [], f"left in the daemon's process group: {daemon.leftover_pids()}"


def _failure_context(stack: Stack) -> str:
    return f"\n--- dagster-daemon log (tail) ---\n{stack.daemon.log_tail(60)}"


def test_one_backfill_runs_in_the_daemon(stack: Stack) -> None:
    emps = empreendimentos(stack.handle)
    start, end = START, START + timedelta(days=BACKFILL_DAYS - 1)
    days = date_range(start, end)
    t0 = time.monotonic()
    backfill_id = submit_asset_backfill(stack.instance, empreendimentos=emps, start=start, end=end, title="e2e")
    progress: list[tuple[int, int, int, str]] = []
    outcome = wait_for_backfill(
        stack.instance,
        backfill_id,
        timeout_seconds=BACKFILL_TIMEOUT_S,
        on_progress=lambda *p: progress.append(p),
        check=stack.daemon.check_alive,
    )
    print(f"backfill {backfill_id}: {outcome} in {time.monotonic() - t0:.1f}s; progress {progress}")
    assert outcome.status == "COMPLETED_SUCCESS" and outcome.succeeded, f"{outcome}{_failure_context(stack)}"
    assert progress[-1] == (len(outcome.run_ids), len(outcome.run_ids), 0, "COMPLETED_SUCCESS")

    # multi_run(max_partitions_per_run=400): one run per empreendimento for ten days, every asset
    # of the graph in it (a child joins its parents' run when all share partitions and policy).
    runs_per_emp = math.ceil(len(days) / MAX_PARTITIONS_PER_RUN)
    ranges: dict[tuple[str, str], int] = {}
    for run_id in outcome.run_ids:
        run = stack.instance.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/backfill"] == backfill_id
        rng = (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"])
        ranges[rng] = ranges.get(rng, 0) + 1
    assert set(ranges) == {(SyncPartition(e, start).key, SyncPartition(e, end).key) for e in emps}
    assert len(outcome.run_ids) == len(emps) * runs_per_emp

    # Every partition of the graph is materialized in the instance.
    expected_keys = {SyncPartition(e, d).key for e in emps for d in days}
    for key in (EXTRACT_KEY, FATURAMENTO_KEY, ORDERS_KEY, FATURADO_KEY, CARTEIRA_KEY, SALDO_KEY):
        assert stack.instance.get_materialized_partitions(key) == expected_keys, key

    # The daemon's runs end in exactly the state of one in-process run per empreendimento.
    assert synced_state(stack.engine) == _state_of_one_run(stack, emps, start, end)

    # And the rows equal the oracle's for those dates and empreendimentos.
    wanted = {d.isoformat() for d in days}
    expected = {
        k
        for k, v in expected_faturamento(stack.handle.sim).items()
        if v["data_fatura"] in wanted and v["empreendimento"] in emps
    }
    assert expected, "the generated data has no invoices in the backfilled range"
    rows = table_rows(stack.engine, "SELECT odoo_move_id, cod_produto, origem FROM faturamento_produto")
    assert len(rows) == len(expected)
    assert {(r["odoo_move_id"], r["cod_produto"], r["origem"]) for r in rows} == expected
    # the same NF numbers in every empreendimento, each its own document
    shared = table_rows(
        stack.engine,
        "SELECT numero_nf FROM relatorio_faturamento_importado GROUP BY numero_nf "
        "HAVING count(DISTINCT empreendimento) = :n",
        n=len(emps),
    )
    assert shared, "no NF number repeats across the empreendimentos"


def _state_of_one_run(stack: Stack, emps: list[str], start, end) -> dict[str, list[tuple]]:
    """The same range synced in one in-process run per empreendimento, into a database of its own."""
    from dagster import instance_for_test

    with _dedicated_database() as url, instance_for_test() as instance:
        engine = get_engine(url)
        try:
            with engine.begin() as conn:
                create_schema(conn)
            res = resources(stack.handle, url)
            for emp in emps:
                assert sync_range(instance, res, emp, start, end).success
            return synced_state(engine)
        finally:
            engine.dispose()


def test_runs_of_one_empreendimento_never_overlap(stack: Stack) -> None:
    """Two overlapping backfills and a one-date backfill of the same empreendimento, submitted at
    once: the run queue runs them one at a time (sync_pipeline/run_queue.py tags every run with its
    empreendimento), though max_concurrent_runs would allow four."""
    emp = empreendimentos(stack.handle)[0]
    end = START + timedelta(days=BACKFILL_DAYS - 1)
    ranges = [(START, end), (START + timedelta(days=4), end), (START + timedelta(days=2), START + timedelta(days=2))]
    ids = [
        submit_asset_backfill(stack.instance, empreendimentos=[emp], start=a, end=b, title=f"overlap {i}")
        for i, (a, b) in enumerate(ranges)
    ]
    run_ids: list[str] = []
    for backfill_id in ids:
        outcome = wait_for_backfill(
            stack.instance, backfill_id, timeout_seconds=BACKFILL_TIMEOUT_S, check=stack.daemon.check_alive
        )
        assert outcome.status == "COMPLETED_SUCCESS" and outcome.succeeded, f"{outcome}{_failure_context(stack)}"
        run_ids += outcome.run_ids
    records = [stack.instance.get_run_record_by_id(r) for r in run_ids]
    assert len(records) >= len(ranges)
    spans = sorted((r.start_time, r.end_time) for r in records)
    overlaps = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert not overlaps, f"runs of {emp} ran at once: {overlaps}"
    assert {r.dagster_run.tags.get("sync/empreendimento") for r in records} == {emp}


def _wait(condition, timeout_s: float, what: str, stack: Stack):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.daemon.check_alive()
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}{_failure_context(stack)}")


def test_a_killed_run_worker_fails_its_run_and_run_retries_launch_it_again(stack: Stack) -> None:
    """SIGKILL a run worker mid-run: the run is marked failed (by its code server here; by run
    monitoring through sync_pipeline/run_launcher.py's pid check when the code server is gone
    too), its empreendimento's queue slot is freed, run retries launch it again, the retry rebuilds
    what the killed run had not committed, and the end state equals one run."""
    emps = empreendimentos(stack.handle)
    emp = emps[-1]
    end = START + timedelta(days=BACKFILL_DAYS - 1)
    with stack.engine.begin() as conn:  # the retry must rebuild this empreendimento's carteira
        for table in ("carteira_saldo", "carteira_principal", "faturado_por_pedido", "separado_por_pedido"):
            conn.execute(text(f"DELETE FROM {table} WHERE empreendimento = :e"), {"e": emp})
    # Odoo answers slowly while the run goes, so the kill lands in its steps however fast the run
    # is otherwise (a run of these partitions now takes about as long as a fixed pause used to give).
    stack.handle.faults.update(latency_per_call=0.5)
    backfill_id = submit_asset_backfill(stack.instance, empreendimentos=[emp], start=START, end=end, title="killed")

    def started_with_pid():
        runs = stack.instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        if runs and runs[0].status == DagsterRunStatus.STARTED:
            pid = run_worker_pid(stack.instance, runs[0].run_id)
            return (runs[0].run_id, pid) if pid else None
        return None

    try:
        run_id, pid = _wait(started_with_pid, BACKFILL_TIMEOUT_S, "the backfill's run to start", stack)
        time.sleep(3)  # into its steps, which wait on Odoo for seconds
        os.kill(pid, signal.SIGKILL)
    finally:
        stack.handle.faults.clear()
    killed_at = time.monotonic()

    def failed():
        run = stack.instance.get_run_by_id(run_id)
        return run if run is not None and run.status == DagsterRunStatus.FAILURE else None

    _wait(failed, 90, f"run {run_id} to be marked failed", stack)
    noticed_s = time.monotonic() - killed_at
    assert noticed_s < 60, f"the killed run was marked failed after {noticed_s:.0f}s"

    def retried():
        runs = stack.instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return runs[0] if runs and runs[0].status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) else None

    retry = _wait(retried, BACKFILL_TIMEOUT_S, f"the retry of run {run_id}", stack)
    assert retry.status == DagsterRunStatus.SUCCESS, f"{retry.run_id}{_failure_context(stack)}"
    assert retry.tags.get("sync/empreendimento") == emp
    print(f"killed pid {pid} of {run_id}; failed after {noticed_s:.1f}s; retry {retry.run_id} succeeded")
    assert synced_state(stack.engine) == _state_of_one_run(stack, emps, START, end)


def test_invoice_sensor_in_the_daemon_syncs_a_new_invoice(stack: Stack) -> None:
    handle = stack.handle
    handle.sim.clock.advance(600)  # the new invoice is written well after everything before it
    company = handle.company_ids()[1]
    emp = empreendimento_key(company)
    day = START + timedelta(days=20)  # outside the backfilled range: only the sensor syncs it
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[0]["id"]
    t0 = time.monotonic()
    move = add_invoice(handle.sim, company, partner, [(product, 7, 3.5, None)], day.isoformat())
    key = SyncPartition(emp, day).key

    sensor_runs = RunsFilter(tags={"sync/trigger": "invoice_sensor"})
    deadline = time.monotonic() + SENSOR_TIMEOUT_S
    runs = []
    while time.monotonic() < deadline:
        stack.daemon.check_alive()
        runs = stack.instance.get_runs(filters=sensor_runs)
        if runs and all(r.is_finished for r in runs):
            break
        time.sleep(1.0)
    else:
        pytest.fail(f"no finished invoice_sensor run within {SENSOR_TIMEOUT_S}s: {runs}{_failure_context(stack)}")
    print(f"invoice {move} → run for {key} finished {time.monotonic() - t0:.1f}s after posting")

    # Exactly the new invoice's partition, nothing from the history. (Two runs only if a tick
    # fell between the invoice's create and its action_post: two changes, two run keys.)
    assert {r.tags["dagster/partition"] for r in runs} == {key}
    assert 1 <= len(runs) <= 2, runs
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), f"{runs}{_failure_context(stack)}"
    rows = table_rows(
        stack.engine,
        "SELECT empreendimento, data_fatura, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m",
        m=move,
    )
    assert rows == [{"empreendimento": emp, "data_fatura": day, "qtd_produto_faturado": 7}]


def test_invoice_dated_ahead_never_stalls_the_invoice_sensor(stack: Stack) -> None:
    """Odoo posts an invoice dated three days ahead: no partition exists for that date. The sensor
    requests the last partition (which owns it), its ticks never fail, and the run syncs it now."""
    handle = stack.handle
    handle.sim.clock.advance(600)
    company = handle.company_ids()[2]
    emp = empreendimento_key(company)
    ahead = last_day() + timedelta(days=3)
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[1]["id"]
    move = add_invoice(handle.sim, company, partner, [(product, 4, 2.0, None)], ahead.isoformat())
    key = SyncPartition(emp, last_day()).key

    deadline = time.monotonic() + SENSOR_TIMEOUT_S
    runs = []
    while time.monotonic() < deadline:
        stack.daemon.check_alive()
        runs = [
            r
            for r in stack.instance.get_runs(filters=RunsFilter(tags={"sync/trigger": "invoice_sensor"}))
            if r.tags.get("dagster/partition") == key
        ]
        if runs and all(r.is_finished for r in runs):
            break
        time.sleep(1.0)
    else:
        pytest.fail(f"no finished invoice_sensor run for {key} within {SENSOR_TIMEOUT_S}s{_failure_context(stack)}")
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), f"{runs}{_failure_context(stack)}"
    rows = table_rows(
        stack.engine,
        "SELECT data_fatura, qtd_produto_faturado FROM faturamento_produto WHERE odoo_move_id = :m",
        m=move,
    )
    assert rows == [{"data_fatura": ahead, "qtd_produto_faturado": 4}]
    failed = [t for t in _sensor_ticks(stack) if t.status == TickStatus.FAILURE]
    assert not failed, [t.tick_data.error for t in failed]


def _sensor_ticks(stack: Stack) -> list:
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    target = WorkspaceFileTarget(paths=[str(REPO_ROOT / "workspace.yaml")])
    with WorkspaceProcessContext(stack.instance, target) as workspace:
        (entry,) = workspace.create_request_context().get_code_location_entries().values()
        (repo,) = entry.code_location.get_repositories().values()
        sensor = repo.get_sensor(INVOICE_SENSOR)
        return list(stack.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id, limit=200))
