"""Deployments are chosen in settings.py: local falls back to the simulator, production never does.

A production deployment missing variables stops the code location with one message naming all of
them: checked in-process, by importing the definitions in a fresh interpreter, and through
`dagster definitions validate` as a code server loads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import EnvVar

from sync_pipeline import cli, settings
from sync_pipeline.resources.config import build_resources, odoo_resource_from_env

REPO = Path(__file__).resolve().parent.parent
VARIABLES = ("SYNC_DEPLOYMENT", "ODOO_URL", "ODOO_DB", "ODOO_USERNAME", "ODOO_API_KEY", "ODOO_PROTOCOL")
SECRET = "k3y-0f-the-sync-bot-7f2e"
PRODUCTION = {
    "SYNC_DEPLOYMENT": "production",
    "ODOO_URL": "https://erp.example.com",
    "ODOO_DB": "erp-prod",
    "ODOO_USERNAME": "sync-bot@example.com",
    "ODOO_API_KEY": SECRET,
    "DATABASE_URL": "postgresql://sync:pw@db.example.com:5432/erp",
}
# ODOO_URL set, ODOO_DB blank (a blank value counts as missing), the rest unset
MISSING_SEVERAL = {"SYNC_DEPLOYMENT": "production", "ODOO_URL": PRODUCTION["ODOO_URL"], "ODOO_DB": "  "}
MISSING_MESSAGE = (
    "SYNC_DEPLOYMENT=production requires ODOO_URL, ODOO_DB, ODOO_USERNAME, ODOO_API_KEY, DATABASE_URL; "
    "not set: ODOO_DB, ODOO_USERNAME, ODOO_API_KEY, DATABASE_URL (production never falls back to the "
    "simulator's defaults; set SYNC_DEPLOYMENT=local for the simulator)"
)


@pytest.fixture
def env(monkeypatch):
    """No deployment or Odoo variable inherited from the shell; DATABASE_URL stays (the test database)."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _production_missing_several(env) -> None:
    for name, value in MISSING_SEVERAL.items():
        env.setenv(name, value)
    env.delenv("DATABASE_URL", raising=False)


def _subprocess_env(overrides: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["DAGSTER_PG_URL"] = settings.dagster_pg_url()  # Dagster's storage in the test database
    env.update(overrides)
    for name in drop:
        env.pop(name, None)
    return env


def test_local_is_the_default_and_falls_back_to_the_simulator(env):
    assert settings.deployment() == "local"
    chosen = settings.deployment_settings()
    assert chosen.deployment == "local"
    assert chosen.odoo == {
        "url": "http://127.0.0.1:8069",
        "db": "odoo",
        "username": "admin",
        "api_key": "admin",
        "protocol": "auto",
    }
    assert chosen.from_environment == frozenset({"DATABASE_URL"})

    odoo = build_resources()["odoo"]
    assert (odoo.url, odoo.db, odoo.username, odoo.api_key, odoo.protocol) == (
        "http://127.0.0.1:8069",
        "odoo",
        "admin",
        "admin",
        "auto",
    )
    assert odoo_resource_from_env().api_key == "admin"

    env.setenv("SYNC_DEPLOYMENT", "local")
    env.setenv("ODOO_URL", "http://127.0.0.1:18069")
    env.setenv("ODOO_PROTOCOL", "jsonrpc")
    chosen = settings.deployment_settings()
    assert chosen.odoo["url"] == "http://127.0.0.1:18069"
    assert chosen.odoo["protocol"] == "jsonrpc"
    assert chosen.odoo["api_key"] == "admin"
    odoo = build_resources()["odoo"]
    # a value from the environment goes in as EnvVar, a default as itself
    assert isinstance(odoo.url, EnvVar) and odoo.url == "ODOO_URL"
    assert not isinstance(odoo.api_key, EnvVar) and odoo.api_key == "admin"


def test_production_with_every_variable_set(env):
    for name, value in PRODUCTION.items():
        env.setenv(name, value)
    chosen = settings.deployment_settings()
    assert chosen.deployment == "production"
    assert chosen.odoo == {
        "url": "https://erp.example.com",
        "db": "erp-prod",
        "username": "sync-bot@example.com",
        "api_key": SECRET,
        "protocol": "auto",
    }
    assert SECRET not in repr(chosen)

    resources = build_resources()
    odoo = resources["odoo"]
    fields = ("url", "db", "username", "api_key")
    assert [getattr(odoo, f) for f in fields] == ["ODOO_URL", "ODOO_DB", "ODOO_USERNAME", "ODOO_API_KEY"]
    assert all(isinstance(getattr(odoo, f), EnvVar) for f in fields)
    assert odoo.protocol == "auto"
    assert resources["postgres"].database_url == "DATABASE_URL"

    plain = odoo_resource_from_env()
    assert (plain.url, plain.db, plain.username, plain.api_key, plain.protocol) == (
        "https://erp.example.com",
        "erp-prod",
        "sync-bot@example.com",
        SECRET,
        "auto",
    )


def test_production_missing_several_is_one_error_naming_them_all(env):
    _production_missing_several(env)
    for build in (settings.deployment_settings, build_resources, odoo_resource_from_env):
        with pytest.raises(settings.SettingsError) as excinfo:
            build()
        assert str(excinfo.value) == MISSING_MESSAGE


def test_command_line_stops_with_the_same_message(env, capsys):
    _production_missing_several(env)
    env.setenv("DATABASE_URL", os.environ.get("DATABASE_URL") or PRODUCTION["DATABASE_URL"])
    assert cli.main(["backfill", "--start-date", "2025-01-01", "--dry-run"]) == 1
    assert capsys.readouterr().err == (
        "sync-pipeline backfill: error: SYNC_DEPLOYMENT=production requires ODOO_URL, ODOO_DB, ODOO_USERNAME, "
        "ODOO_API_KEY, DATABASE_URL; not set: ODOO_DB, ODOO_USERNAME, ODOO_API_KEY (production never falls back "
        "to the simulator's defaults; set SYNC_DEPLOYMENT=local for the simulator)\n"
    )
    # the demo writes generated data to DATABASE_URL: refused outside the local deployment
    for name, value in PRODUCTION.items():
        env.setenv(name, value)
    assert cli.main(["demo"]) == 1
    assert "SYNC_DEPLOYMENT=local only (it is production)" in capsys.readouterr().err


def test_unknown_deployment_names_it_and_the_accepted_values(env):
    env.setenv("SYNC_DEPLOYMENT", "staging")
    expected = "SYNC_DEPLOYMENT='staging' is not a deployment: expected one of local, production"
    for build in (settings.deployment, settings.deployment_settings, build_resources):
        with pytest.raises(settings.SettingsError) as excinfo:
            build()
        assert str(excinfo.value) == expected


def test_definitions_module_fails_to_load_with_the_message():
    env = _subprocess_env(MISSING_SEVERAL, drop=("DATABASE_URL",))
    proc = subprocess.run(
        [sys.executable, "-c", "import sync_pipeline.definitions"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"sync_pipeline.settings.SettingsError: {MISSING_MESSAGE}" in proc.stderr, proc.stderr


def test_dagster_definitions_validate_fails_with_the_message():
    from sync_pipeline.dagster_home import ensure_dagster_schema

    env = _subprocess_env(MISSING_SEVERAL, drop=("DATABASE_URL",))
    ensure_dagster_schema(env["DAGSTER_PG_URL"])
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Validation successful" not in output
    assert MISSING_MESSAGE in output, output


# What a code server sends the UI (resource page, launchpad); argv[1] is the API key to look for.
SNAPSHOT_RESOURCES = """
import json, sys
from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap
from dagster._serdes import serialize_value
from sync_pipeline.definitions import defs

snap = RepositorySnap.from_def(defs.get_repository_def())
odoo = next(r for r in snap.resources if r.name == "odoo")
configured = {
    k: {"env": v.name} if isinstance(v, ResourceConfigEnvVarSnap) else v for k, v in odoo.configured_values.items()
}
print(json.dumps({"configured": configured, "secret_in_snapshot": sys.argv[1] in serialize_value(snap)}))
"""


def test_api_key_is_not_in_the_resource_config_dagster_shows():
    env = _subprocess_env(PRODUCTION)
    proc = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_RESOURCES, SECRET],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    assert shown["secret_in_snapshot"] is False
    assert shown["configured"]["api_key"] == {"env": "ODOO_API_KEY"}
    assert shown["configured"]["url"] == {"env": "ODOO_URL"}
    assert shown["configured"]["protocol"] == json.dumps("auto")


def test_dagster_event_defaults_are_set_on_import_and_an_explicit_value_wins():
    """Every Dagster process of ours imports the package (run workers, code servers, the daemon
    through dagster.yaml's run queue and launcher): it turns on event batching and one planned
    event per asset for range runs (issue 8), unless the environment says otherwise."""
    names = ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS")
    code = f"import os, sync_pipeline; print([os.environ.get(n) for n in {names!r}])"
    clean = {k: v for k, v in os.environ.items() if k not in names}
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(["1000", "true"])
    explicit = {**clean, "DAGSTER_EVENT_BATCH_SIZE": "0", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "false"}
    out = subprocess.run([sys.executable, "-c", code], env=explicit, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(["0", "false"])
