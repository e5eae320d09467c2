"""An operator's mistake gets one line on stderr naming what to fix, and an exit code; `--debug`
gives the traceback. Each case runs the installed `sync-pipeline` in a subprocess, as an operator
would, against the real Odoo simulator and the real PostgreSQL; "down" is a port nothing listens on.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_pipeline import cli
from sync_pipeline_tests.support import START, SimulatorHandle, start_simulator

CLI = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "sync-pipeline"
OWN_VARIABLES = (
    "SYNC_DEPLOYMENT",
    "ODOO_URL",
    "ODOO_DB",
    "ODOO_USERNAME",
    "ODOO_API_KEY",
    "ODOO_PROTOCOL",
    "ODOO_MAX_RETRIES",
    "ODOO_BACKOFF_SECONDS",
    "SYNC_START_DATE",
    "SYNC_EMPREENDIMENTO_KEYS",
)
DRY_RUN = ["backfill", "--start-date", START.isoformat(), "--end-date", "2025-01-03", "--dry-run"]


@pytest.fixture(scope="module")
def odoo() -> Iterator[SimulatorHandle]:
    handle = start_simulator(scale=0.1, days=3, companies=2)
    yield handle
    handle.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening for the test's duration: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def run(odoo, database_url):
    """``run(*args, **env)``: the CLI with a working local configuration, ``env`` overriding it."""

    def call(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in OWN_VARIABLES}
        env.update(
            SYNC_DEPLOYMENT="local",
            ODOO_URL=odoo.url,
            ODOO_DB="odoo",
            ODOO_USERNAME="admin",
            ODOO_API_KEY="admin",
            DATABASE_URL=database_url,
            SYNC_START_DATE=START.isoformat(),
            # one quick retry: the retry path runs, the test stays fast
            ODOO_MAX_RETRIES="1",
            ODOO_BACKOFF_SECONDS="0.01",
        )
        env.update(overrides)
        return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=120, check=False)

    return call


def one_line(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The single stderr line of a failed command (no traceback), after checking its exit code."""
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_same_command_with_the_good_settings_succeeds(run):
    """The control: every failure below comes from the one thing its test gets wrong."""
    result = run(*DRY_RUN)
    assert result.returncode == 0, result.stderr
    assert "2 empreendimentos (empresa-1, empresa-2) × 3 days = 6 partitions" in result.stdout
    assert result.stderr == ""


def test_odoo_unreachable_names_its_url_and_ODOO_URL(run, closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    line = one_line(run(*DRY_RUN, ODOO_URL=url), 1)
    assert line == (
        f"sync-pipeline backfill: error: Odoo at {url} is unreachable (connection refused, 2 attempts): "
        "check ODOO_URL and that the server is up"
    )


def test_debug_shows_the_traceback_and_the_retries(run, closed_port):
    result = run("--debug", *DRY_RUN, ODOO_URL=f"http://127.0.0.1:{closed_port}")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "OdooTransientError" in result.stderr and "gave up after 2 attempts" in result.stderr
    assert "retry 1/1" in result.stderr  # the log lines a run without --debug keeps quiet
    assert "is unreachable" not in result.stderr


def test_wrong_api_key_names_the_login_and_ODOO_API_KEY(run, odoo):
    line = one_line(run(*DRY_RUN, ODOO_API_KEY="not-the-key"), 1)
    assert line == (
        f"sync-pipeline backfill: error: Odoo at {odoo.url} refused login 'admin' on database 'odoo': "
        "check ODOO_API_KEY (the user's API key or password) and ODOO_USERNAME"
    )
    assert "not-the-key" not in line


def test_missing_odoo_database_names_ODOO_DB(run, odoo):
    line = one_line(run(*DRY_RUN, ODOO_DB="nodb"), 1)
    assert line == f"sync-pipeline backfill: error: Odoo at {odoo.url} has no database 'nodb': check ODOO_DB"


def test_unknown_odoo_protocol_names_ODOO_PROTOCOL(run):
    line = one_line(run(*DRY_RUN, ODOO_PROTOCOL="jsonrpc2"), 1)
    assert line == (
        "sync-pipeline backfill: error: OdooResource.protocol is 'jsonrpc2': expected one of auto, xmlrpc, "
        "jsonrpc, json2 (set ODOO_PROTOCOL)"
    )


def test_malformed_start_date_names_the_option_and_the_format(run):
    line = one_line(run("backfill", "--start-date", "2026-13-01", "--dry-run"), 2)
    assert line == (
        "sync-pipeline backfill: error: argument --start-date: '2026-13-01' is not a date: expected YYYY-MM-DD "
        "(month must be in 1..12); see sync-pipeline backfill --help"
    )


@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"]], ids=["status", "db-upgrade"])
def test_postgres_unreachable_names_the_url_without_its_password(run, closed_port, command):
    url = f"postgresql://sync@127.0.0.1:{closed_port}/sync_pipeline"
    result = run(*command, DATABASE_URL=f"postgresql://sync:s3cret-pw@127.0.0.1:{closed_port}/sync_pipeline")
    line = one_line(result, 1)
    assert line == (
        f"sync-pipeline {command[0]}: error: PostgreSQL at {url} is unreachable (connection refused): check "
        "DATABASE_URL; for the project-local PostgreSQL run `sync-pipeline db start` (or `make pg-start`)"
    )
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_postgres_down_with_debug_shows_the_traceback(run, closed_port):
    result = run("--debug", "status", DATABASE_URL=f"postgresql://sync@127.0.0.1:{closed_port}/sync_pipeline")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "psycopg2.OperationalError" in result.stderr


def test_unknown_empreendimento_names_the_known_ones(run):
    line = one_line(run(*DRY_RUN, "--empreendimento", "empresa-1", "--empreendimento", "filial-x"), 2)
    assert line == (
        "sync-pipeline backfill: error: --empreendimento filial-x: not an empreendimento of Odoo's companies; "
        "they are empresa-1, empresa-2 (keys from SYNC_EMPREENDIMENTO_KEYS or empresa-<company id>)"
    )


def test_end_date_before_start_date_names_both(run):
    line = one_line(run("backfill", "--start-date", "2025-01-05", "--end-date", "2025-01-02", "--dry-run"), 2)
    assert line == "sync-pipeline backfill: error: --end-date 2025-01-02 is before --start-date 2025-01-05"


def test_unexpected_error_is_one_line_and_debug_raises_it(monkeypatch, capsys):
    """No operator mistake is known for a bug: it says so, and --debug shows where it happened."""

    def broken(args):  # noqa: ARG001
        raise KeyError("carteira_principal")

    monkeypatch.setattr(cli, "cmd_status", broken)
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().err == (
        "sync-pipeline status: error: unexpected error: KeyError: 'carteira_principal'; "
        "run with --debug for the traceback\n"
    )
    with pytest.raises(KeyError, match="carteira_principal"):
        cli.main(["--debug", "status"])
