"""The Dagster UI in a real browser: headless Chromium (Debian's, /usr/bin/chromium, installed by
scripts/browser.sh) driven by Playwright against `dagster-webserver` and `dagster-daemon` as
`make dev` serves them, over a small synced data set.

The stack: a database of its own (operational tables, Dagster's storage in schema `dagster_ui`),
the Odoo simulator, a temp DAGSTER_HOME with the project's dagster.yaml and the webserver on a free
port, started first so it loads while two empreendimentos × 10 days sync in-process into the same
instance. An open CRITICO alert is planted before the sync, so `no_critical_alerts` fails. The
daemon starts with the backfill test, so no sensor run re-evaluates the checks the pages before
look at.

The tests walk what README's "What the UI shows" describes and save its screenshots to
docs/screenshots/: the lineage, a carteira_principal partition's metadata, the failed check, the
sensors, and a three-partition backfill launched from an asset's partitions dialog whose run
succeeds. Without /usr/bin/chromium they fail (run scripts/browser.sh) unless
SYNC_SKIP_BROWSER_TESTS=1 says to skip them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from psycopg2 import sql
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from sync_pipeline.backfill import DaemonProcess, wait_for_backfill
from sync_pipeline.dagster_home import ensure_dagster_schema
from sync_pipeline.db.checks import open_critical_alerts
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.schema import create_schema
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.settings import libpq_url, normalize_pg_url
from sync_pipeline_tests.support import (
    START,
    SimulatorHandle,
    empreendimentos,
    partition_metadata,
    resources,
    start_simulator,
    sync_range,
)
from sync_pipeline_tests.test_webserver import (
    LINEAGE,
    _free_port,
    _graphql,
    _wait_for_code_location,
    _wait_until_serving,
    _webserver,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("SYNC_CHROMIUM", "/usr/bin/chromium")
SKIP_VARIABLE = "SYNC_SKIP_BROWSER_TESTS"
DAYS = 10  # generated per company, all synced in-process before the browser opens
UI_TIMEOUT_MS = 30_000
BACKFILL_TIMEOUT_S = 180

pytestmark = pytest.mark.timeout(420)


@dataclass
class UIStack:
    url: str
    handle: SimulatorHandle
    instance: DagsterInstance
    engine: Engine
    daemon: DaemonProcess
    emps: list[str]
    planted_alert: int


def _require_chromium() -> None:
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: the browser test is skipped on purpose")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/browser.sh (as root it installs Debian's chromium with apt-get; "
            f"`make test` runs it through scripts/venv.sh), or set {SKIP_VARIABLE}=1 to skip the browser test"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("playwright is not installed: `make venv` (setup.py's dev extra) installs it")


def _admin(url: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(libpq_url(url), connect_timeout=10)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@contextlib.contextmanager
def _database_of_its_own() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail("DATABASE_URL is not set: run the suite through `make test` (it starts the local PostgreSQL)")
    server = normalize_pg_url(url)
    name = f"sync_ui_{uuid.uuid4().hex[:10]}"
    _admin(server, sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _plant_critical_alert(engine: Engine, emp: str) -> int:
    """An open CRITICO alert as a run adjusting a COTADO lot would have written it (the generated
    history has no decisions to adjust, so its sync writes none)."""
    with engine.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO alerta_separacao_cotada (separacao_lote_id, empreendimento, num_pedido, cod_produto, "
                "tipo_alteracao, qtd_anterior, qtd_nova, qtd_diferenca, nivel, run_id) "
                "VALUES ('LOTE-UI-1', :emp, 'S-UI-1', 'P-UI-1', 'REDUCAO', 10, 4, -6, 'CRITICO', 'planted') "
                "RETURNING id"
            ),
            {"emp": emp},
        ).scalar_one()


@contextlib.contextmanager
def ui_stack(work_dir: Path, *, port: int | None = None) -> Iterator[UIStack]:
    """The webserver and the daemon over a synced data set; everything stopped on exit."""
    with contextlib.ExitStack() as cleanup, pytest.MonkeyPatch.context() as mp:
        database_url = cleanup.enter_context(_database_of_its_own())
        engine = get_engine(database_url)
        cleanup.callback(engine.dispose)
        with engine.begin() as conn:
            create_schema(conn)
        sep = "&" if "?" in database_url else "?"
        dagster_pg_url = f"{database_url}{sep}options=-csearch_path%3Ddagster_ui"
        ensure_dagster_schema(dagster_pg_url)

        handle = start_simulator(seed=3, scale=0.5, days=DAYS, companies=2)
        cleanup.callback(handle.stop)
        emps = empreendimentos(handle)

        home = work_dir / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
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
        instance.add_dynamic_partitions("empreendimento", emps)

        # It loads the code location while the data syncs below.
        port = port or _free_port()
        webserver_log = work_dir / "webserver.log"
        webserver = cleanup.enter_context(_webserver(port, {**os.environ, **env}, webserver_log))
        # Started by the backfill test: its sensors' runs would otherwise evaluate the checks the
        # pages before it look at (and take a minute of this machine each).
        daemon = DaemonProcess("workspace.yaml", env={**os.environ, **env}, log_path=work_dir / "daemon.log")
        cleanup.callback(daemon.stop)

        planted = _plant_critical_alert(engine, emps[0])
        res = resources(handle, database_url)
        for emp in emps:
            assert sync_range(instance, res, emp, START, START + timedelta(days=DAYS - 1)).success

        _wait_until_serving(webserver, port, webserver_log)
        location = _wait_for_code_location(port, webserver_log)
        assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
        # Dagster's "Join the Dagster community" dialog, once per instance: seen already.
        assert _graphql(port, "mutation { setNuxSeen }") == {"setNuxSeen": True}
        yield UIStack(
            url=f"http://127.0.0.1:{port}",
            handle=handle,
            instance=instance,
            engine=engine,
            daemon=daemon,
            emps=emps,
            planted_alert=planted,
        )


def partition_key(emp: str, day: date) -> str:
    return str(SyncPartition(emp, day).key)


# --- the browser ------------------------------------------------------------------------------------
# Every asset but the operational app's own tables (external assets, never materialized).
MATERIALIZABLE = [
    n for n in LINEAGE if n not in ("separacao", "pre_separacao_item", "embarque_itens", "movimentacao_estoque")
]
SENSORS = ("empreendimento_sensor", "invoice_sensor", "financeiro_sensor", "order_sensor", "reconciliation_sensor")
# What the lineage must show: every table the sync writes and the app's own tables it reads.
SYNC_ASSETS = ("odoo_fatura_linha", "faturamento_produto", "odoo_pedido_linha", "carteira_principal", "carteira_saldo")
APP_ASSETS = ("separacao", "pre_separacao_item", "embarque_itens", "movimentacao_estoque")
CARTEIRA_STEP = (  # the carteira multi-asset: materializing carteira_principal materializes them all
    "faturado_por_pedido",
    "separado_por_pedido",
    "carteira_diff",
    "carteira_principal",
    "alerta_separacao_cotada",
)


@dataclass
class UI:
    stack: UIStack
    page: object  # playwright.sync_api.Page

    def open(self, path: str) -> None:
        self.page.goto(self.stack.url + path)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with ui_stack(tmp_path_factory.mktemp("browser_ui")) as stack, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = context.new_page()
            # In case Dagster shows its community dialog anyway (setNuxSeen above).
            page.add_locator_handler(
                page.get_by_text("Join the Dagster community"),
                lambda: page.get_by_role("button", name="Skip").click(),
            )
            yield UI(stack, page)
        finally:
            browser.close()


def _drawn_as(name: str, label: str) -> bool:
    """Whether a node label is ``name`` as the zoomed-out graph draws it (long names are cut in the
    middle: ``faturamen…_produto``)."""
    head, cut, tail = label.partition("…")
    return label == name or (bool(cut) and name.startswith(head) and name.endswith(tail))


def test_lineage_shows_the_sync_assets(ui: UI) -> None:
    from playwright.sync_api import expect

    page = ui.page
    page.set_viewport_size({"width": 1920, "height": 1400})
    ui.open("/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(rf"Materialize all \({len(MATERIALIZABLE)}\)"))).to_be_visible()
    page.keyboard.press("Alt+e")  # the graph's "Expand all groups" (its settings menu, ⌥E)
    expect(page.get_by_text("carteira_principal", exact=True).first).to_be_visible()
    page.reload()  # laid out again with the groups open
    expect(page.get_by_text("carteira_principal", exact=True).first).to_be_visible()
    # Zoomed out until every node is drawn (the graph draws only the nodes in view).
    page.mouse.move(1000, 750)
    page.keyboard.down("Control")
    page.mouse.wheel(0, 200)
    page.keyboard.up("Control")
    labels = page.locator("[class*=AssetNode_assetName]")
    expect(labels).to_have_count(len(LINEAGE))
    drawn = labels.all_inner_texts()
    missing = [name for name in LINEAGE if not any(_drawn_as(name, label) for label in drawn)]
    assert not missing, f"the lineage does not show {missing}: it shows {drawn}"
    for name in ("odoo_fatura_linha", "carteira_principal", "carteira_saldo"):
        expect(page.get_by_text(name, exact=True).first).to_be_in_viewport()
    for group in ("carteira", "faturamento", "financeiro", "operacional"):
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    ui.screenshot("lineage")
    page.set_viewport_size({"width": 1600, "height": 1000})


def test_a_partition_shows_its_materialization_metadata(ui: UI) -> None:
    from playwright.sync_api import expect

    page = ui.page
    key = partition_key(ui.stack.emps[0], START + timedelta(days=2))
    stored = partition_metadata(ui.stack.instance, "carteira_principal", key)
    assert stored["rows_inserted"] > 0 and stored["sql_statements"] > 0, stored
    ui.open(f"/assets/carteira_principal?view=partitions&partition={urllib.parse.quote(key)}")
    expect(page.get_by_text(key, exact=True).first).to_be_visible()
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    for name in ("rows_inserted", "rows_updated", "diffs", "sql_statements", "db_attempts"):
        row = page.locator("tr").filter(has=page.get_by_text(name, exact=True))
        expect(row.locator("td").nth(1)).to_have_text(str(stored[name]))
    ui.screenshot("partition_metadata")


def test_the_failed_check_shows_the_open_critical_alert(ui: UI) -> None:
    from playwright.sync_api import expect

    page = ui.page
    open_alerts = open_critical_alerts(ui.stack.engine)
    assert open_alerts.total >= 1 and ui.stack.planted_alert in {a.id for a in open_alerts.newest}
    ui.open("/assets/alerta_separacao_cotada?view=checks")
    expect(page.get_by_text("Checks (1)")).to_be_visible()
    expect(page.get_by_text("Failed", exact=True)).to_have_count(2)  # in the list and as the latest result
    expect(page.get_by_text(f"{open_alerts.total} open critical alerts; act on them")).to_be_visible()
    expect(page.get_by_text("Evaluation result")).to_be_visible()
    row = page.locator("tr").filter(has=page.get_by_text("critical_alerts", exact=True))
    expect(row.locator("td").nth(1)).to_have_text(str(open_alerts.total))
    expect(page.get_by_text(f"#{ui.stack.planted_alert} ", exact=False).first).to_contain_text(
        f"REDUCAO {ui.stack.emps[0]} S-UI-1/P-UI-1 lote LOTE-UI-1"
    )
    ui.screenshot("checks")


def test_the_sensors_page_lists_the_sync_sensors_running(ui: UI) -> None:
    from playwright.sync_api import expect

    page = ui.page
    ui.open("/automation")
    for name in SENSORS:
        expect(page.locator(f"a[href$='/sensors/{name}']")).to_contain_text(name)
    expect(page.get_by_text("Standard sensor")).to_have_count(len(SENSORS))
    # one switch per sensor, all on (DefaultSensorStatus.RUNNING); the row checkboxes are off
    expect(page.locator("input[type=checkbox]:checked")).to_have_count(len(SENSORS))
    ui.screenshot("sensors")


def test_a_three_partition_backfill_launched_from_the_partitions_dialog_succeeds(ui: UI) -> None:
    from playwright.sync_api import expect

    page = ui.page
    if not ui.stack.daemon.is_alive():
        ui.stack.daemon.start()  # runs the backfill (and the sensors from now on)
    emp = ui.stack.emps[-1]
    days = [START + timedelta(days=n) for n in (4, 5, 6)]
    ui.open("/assets/carteira_principal?view=partitions")
    expect(page.get_by_text("Partitions Selected")).to_be_visible()
    page.get_by_role("button", name="Materialize…").click()
    # carteira_principal is one output of the carteira step, which commits its five tables together
    page.get_by_role("button", name="Confirm").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    expect(dialog).to_contain_text(f"Launch runs to materialize {len(CARTEIRA_STEP)} assets")
    dates = dialog.get_by_placeholder(re.compile(r"^ex: "))
    dates.fill(f"[{days[0].isoformat()}...{days[-1].isoformat()}]")
    dates.press("Enter")
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name=emp).or_(page.get_by_role("checkbox", name=emp)).first.click()
    dialog.get_by_text("Launch runs to materialize").click()  # closes the list
    expect(dialog).to_contain_text(f"{len(days)} partitions")
    ui.screenshot("backfill_dialog")
    dialog.get_by_role("button", name="Launch backfill").click()

    created = page.get_by_text(re.compile(r"Created backfill \w+"))
    expect(created).to_be_visible()
    backfill_id = re.search(r"Created backfill (\w+)", created.inner_text()).group(1)
    outcome = wait_for_backfill(
        ui.stack.instance, backfill_id, timeout_seconds=BACKFILL_TIMEOUT_S, check=ui.stack.daemon.check_alive
    )
    assert outcome.succeeded, f"{outcome}\n{ui.stack.daemon.log_tail(60)}"
    runs = ui.stack.instance.get_runs(RunsFilter.for_backfill(backfill_id))
    assert runs and all(r.status == DagsterRunStatus.SUCCESS for r in runs), runs
    # one run (multi_run: up to 400 partitions per run) over exactly the three partitions
    assert [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in runs
    ] == [(partition_key(emp, days[0]), partition_key(emp, days[-1]))]

    ui.open(f"/runs/b/{backfill_id}")
    expect(page.locator("[data-tooltip='Succeeded']")).to_be_visible()
    for day in days:
        expect(page.get_by_text(partition_key(emp, day), exact=True).first).to_be_visible()
    for asset in CARTEIRA_STEP:
        row = page.locator("[class*=VirtualizedTable]").filter(has=page.locator(f"a[href='/assets/{asset}']"))
        expect(row.first).to_contain_text("100% completed")
    ui.screenshot("backfill")
    page.get_by_role("tab", name="Runs").click()
    for run in runs:
        expect(page.locator(f"a[href='/runs/{run.run_id}']").first).to_contain_text(run.run_id[:8])
    expect(page.get_by_text("Success", exact=True)).to_have_count(len(runs))
