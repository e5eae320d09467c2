"""The project-local PostgreSQL (sync_pipeline.db.localpg), on its own data dir and port; its
command line (`sync-pipeline db ...`) and the process helpers it stops with (sync_pipeline.processes).

These tests start a second, throw-away cluster so they never disturb the suite's own one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from sync_pipeline.cli import main
from sync_pipeline.dagster_home import ensure_dagster_schema, schema_from_url
from sync_pipeline.db.localpg import LocalPostgres
from sync_pipeline.processes import group_members, pid_alive, port_is_free, stop_group, stop_pid
from sync_pipeline.settings import normalize_pg_url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalPostgres]:
    # Directly under the temp dir (not pytest's 0700 tmp_path): as root the server runs as an
    # unprivileged user that must traverse the parents.
    base = Path(tempfile.mkdtemp(prefix="localpg-test-"))
    pg = LocalPostgres(data_dir=base / "pg", port=_free_port())
    try:
        yield pg
    finally:
        try:
            pg.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def test_start_is_idempotent(cluster: LocalPostgres) -> None:
    url = cluster.start()
    assert url == f"postgresql://postgres@127.0.0.1:{cluster.port}/sync_pipeline"
    assert cluster.is_running()
    pid = cluster.postmaster_pid()

    assert cluster.start() == url
    assert cluster.postmaster_pid() == pid, "a second start() must not restart the server"


def test_url_connects_with_fsync_on(cluster: LocalPostgres) -> None:
    cluster.start()
    conn = psycopg2.connect(cluster.url("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW fsync")
            assert cur.fetchone() == ("on",)
            cur.execute("SHOW server_encoding")
            assert cur.fetchone() == ("UTF8",)
            cur.execute("SELECT current_user")
            assert cur.fetchone() == ("postgres",)
    finally:
        conn.close()

    engine = sa.create_engine(normalize_pg_url(cluster.url("postgres")))
    try:
        with engine.connect() as sa_conn:
            assert sa_conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_create_database_is_idempotent(cluster: LocalPostgres) -> None:
    cluster.start()
    cluster.drop_database("localpg_probe")
    assert cluster.create_database("localpg_probe") is True
    assert cluster.create_database("localpg_probe") is False

    conn = psycopg2.connect(cluster.url("localpg_probe"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == ("localpg_probe",)
    finally:
        conn.close()

    assert cluster.drop_database("localpg_probe") is True
    assert cluster.drop_database("localpg_probe") is False


def test_ensure_dagster_schema_creates_the_schema_of_the_url(cluster: LocalPostgres) -> None:
    cluster.start()
    cluster.create_database("localpg_schema")
    url = normalize_pg_url(cluster.url("localpg_schema")) + "?options=-csearch_path%3Ddagster_probe"
    assert schema_from_url(url) == "dagster_probe"
    assert ensure_dagster_schema(url) == "dagster_probe"
    assert ensure_dagster_schema(url) == "dagster_probe"  # idempotent

    conn = psycopg2.connect(cluster.url("localpg_schema"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'dagster_probe'")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()
    cluster.drop_database("localpg_schema")


def test_schema_from_url_defaults_to_dagster() -> None:
    assert schema_from_url("postgresql://u@h:5432/db") == "dagster"
    assert schema_from_url("postgresql://u@h/db?sslmode=require&options=-csearch_path%3Dother") == "other"


def test_stop_frees_the_port_and_is_idempotent(cluster: LocalPostgres) -> None:
    cluster.start()
    pid = cluster.postmaster_pid()
    assert pid is not None
    cluster.stop()

    assert not cluster.is_running()
    assert port_is_free(cluster.port)
    assert not pid_alive(pid)  # gone, or an unreaped zombie
    cluster.stop()  # already stopped: a no-op


def test_start_after_a_crash_ignores_the_stale_pid_file(cluster: LocalPostgres) -> None:
    cluster.start()
    cluster.stop()
    # A postmaster.pid naming a live process that is not our server (a recycled pid).
    (cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster.data_dir}\n")
    assert not cluster.is_running()

    cluster.start()
    assert cluster.is_running()
    assert cluster.postmaster_pid() != os.getpid()
    cluster.stop()
    assert port_is_free(cluster.port)


def test_command_line_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "url", "some_db"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("postgresql://postgres@127.0.0.1:")
    assert out[0].endswith("/some_db")
    with pytest.raises(SystemExit) as exc:
        main(["db", "frobnicate"])
    assert exc.value.code == 2


def test_command_line_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "db", "url"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("/sync_pipeline")


_IGNORES_SIGTERM = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"  # inherits SIG_IGN
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_escalates_to_sigkill_and_stops_the_group() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert len(group_members(proc.pid)) == 2

        assert stop_pid(proc.pid, ((signal.SIGTERM, 0.5),)) is False  # ignored
        assert stop_pid(proc.pid, ((signal.SIGTERM, 0.5), (signal.SIGKILL, 5.0))) is True
        assert not pid_alive(proc.pid)  # a zombie until reaped counts as gone
        assert proc.wait(timeout=5) == -signal.SIGKILL

        assert len(group_members(proc.pid)) == 1  # the grandchild is left in the group
        assert stop_group(proc.pid, ((signal.SIGTERM, 0.5), (signal.SIGKILL, 5.0))) == []
        assert group_members(proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop_group(proc.pid, ((signal.SIGKILL, 5.0),))
