"""The Dagster instance config (dagster.yaml) and the UI server over the project's workspace.yaml.

Both run against PostgreSQL (DATABASE_URL, set by `make test`) in a throw-away schema, so Dagster's
storage of the rest of the suite is not touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from sync_pipeline.backfill import with_default_signals
from sync_pipeline.dagster_home import ensure_dagster_schema
from sync_pipeline.processes import port_is_free
from sync_pipeline.settings import libpq_url, normalize_pg_url

REPO_ROOT = Path(__file__).resolve().parents[1]
KNOWN_ASSET = ["faturamento_produto"]
# Each asset and what it depends on, as the UI's lineage shows them (DESIGN §3).
LINEAGE = {
    "separacao": [],
    "pre_separacao_item": [],
    "embarque_itens": [],
    "movimentacao_estoque": [],
    "odoo_fatura_linha": [],
    "faturamento_produto": ["embarque_itens", "movimentacao_estoque", "odoo_fatura_linha", "separacao"],
    "relatorio_faturamento_importado": ["faturamento_produto"],
    "cadastro_palletizacao": ["odoo_fatura_linha"],
    "odoo_pedido_linha": [],
    "faturado_por_pedido": ["faturamento_produto", "odoo_pedido_linha"],
    "separado_por_pedido": ["odoo_pedido_linha", "pre_separacao_item", "separacao"],
    "carteira_diff": [
        "faturado_por_pedido",
        "odoo_pedido_linha",
        "pre_separacao_item",
        "separacao",
        "separado_por_pedido",
    ],
    "carteira_principal": ["carteira_diff"],
    "alerta_separacao_cotada": ["carteira_diff"],
    "carteira_saldo": ["carteira_principal", "faturado_por_pedido", "separado_por_pedido"],
    "odoo_financeiro": [],
    "parcelas": ["odoo_financeiro"],
    "entradas_caixa": ["odoo_financeiro"],
    "saidas_caixa": ["odoo_financeiro"],
    "estatisticas_portfolio": ["odoo_financeiro"],
    "inadimplencia": ["odoo_financeiro"],
}
STARTUP_TIMEOUT_S = 240


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail(
            "DATABASE_URL is not set: run the suite with `make test` (it starts the project-local PostgreSQL), "
            "or export DATABASE_URL=postgresql://... of a database these tests may write to"
        )
    return url


@pytest.fixture
def dagster_storage() -> Iterator[tuple[str, str]]:
    """(DAGSTER_PG_URL, schema): a fresh schema in DATABASE_URL's database, dropped afterwards."""
    base = normalize_pg_url(_database_url())
    schema = f"dagster_test_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    ensure_dagster_schema(url)
    try:
        yield url, schema
    finally:
        conn = psycopg2.connect(libpq_url(base))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        finally:
            conn.close()


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def _tables_by_schema(url: str) -> dict[str, int]:
    conn = psycopg2.connect(libpq_url(url.split("?")[0]))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_schema, count(*) FROM information_schema.tables "
                "WHERE table_name IN ('runs', 'event_logs', 'alembic_version', 'jobs', 'instigators') "
                "GROUP BY table_schema"
            )
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_dagster_yaml_configures_postgres_storage_and_run_queue(
    dagster_storage: tuple[str, str], dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    url, schema = dagster_storage
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        run_queue = instance.get_concurrency_config().run_queue_config
        assert run_queue is not None
        assert run_queue.max_concurrent_runs == 4
        assert run_queue.tag_concurrency_limits == [
            {"key": "sync/empreendimento", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        ]
        # every run gets that tag from the coordinator, whoever launched it (test_daemon_e2e)
        assert type(instance.run_coordinator).__name__ == "OneWriterPerEmpreendimentoRunCoordinator"
        assert instance.get_settings("telemetry") == {"enabled": False}
        # Compute logs and artifacts stay under DAGSTER_HOME (project-local in make dev/test).
        assert Path(instance.root_directory) == dagster_home
    finally:
        instance.dispose()

    # Dagster's tables land in the schema of the URL, none in public.
    tables = _tables_by_schema(url)
    assert tables.get(schema) == 5, tables
    assert "public" not in tables, tables


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server by its pid, wait, kill; then the rest of its own session (its code server)."""
    pgid = proc.pid  # start_new_session=True: the group id is the server's pid
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        time.sleep(1.0)


@contextlib.contextmanager
def _webserver(port: int, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    webserver = Path(sys.executable).parent / "dagster-webserver"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            # SIGINT/SIGTERM at their defaults, so terminate() really stops the server
            with_default_signals([str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        _stop_process_group(proc)
        deadline = time.monotonic() + 10
        while not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is not None, f"dagster-webserver (pid {proc.pid}) is still running"
        assert port_is_free(port), f"port {port} still in use after stopping dagster-webserver"


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer within {STARTUP_TIMEOUT_S} s:\n{_log_tail(log_path)}")


WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


def _wait_for_code_location(port: int, log_path: Path) -> dict:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        entries = _graphql(port, WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            assert len(entries) == 1, entries
            return entries[0]
        time.sleep(1.0)
    pytest.fail(f"the code location did not load within {STARTUP_TIMEOUT_S} s:\n{_log_tail(log_path)}")


def test_webserver_serves_the_asset_graph(dagster_storage: tuple[str, str], dagster_home: Path, tmp_path: Path) -> None:
    url, schema = dagster_storage
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_URL": url}
    log_path = tmp_path / "webserver.log"

    with _webserver(port, env, log_path) as proc:
        _wait_until_serving(proc, port, log_path)
        location = _wait_for_code_location(port, log_path)
        load_result = location["locationOrLoadError"]

        assert load_result["__typename"] == "RepositoryLocation", (
            f"sync_pipeline.definitions failed to load: {load_result.get('message')}\n{_log_tail(log_path)}"
        )
        nodes = _graphql(port, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")["assetNodes"]
        keys = [node["assetKey"]["path"] for node in nodes]
        assert KNOWN_ASSET in keys, f"{KNOWN_ASSET} not among the served assets: {sorted(keys)}"
        # The lineage the UI draws: every table the sync writes and the app's own tables it reads.
        served = {
            "/".join(n["assetKey"]["path"]): sorted("/".join(d["path"]) for d in n["dependencyKeys"]) for n in nodes
        }
        assert served == LINEAGE, f"served lineage differs: {served}"

    # The webserver used the temp schema for its storage, nothing in public.
    assert _tables_by_schema(url).get(schema) == 5
