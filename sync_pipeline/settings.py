"""Configuration from the environment: the only place that reads environment variables.

Variables (README lists them for operators): SYNC_DEPLOYMENT, ODOO_URL, ODOO_DB, ODOO_USERNAME,
ODOO_API_KEY, ODOO_PROTOCOL, ODOO_MAX_RETRIES, ODOO_BACKOFF_SECONDS, DATABASE_URL, DAGSTER_PG_URL,
SYNC_START_DATE, SYNC_TIMEZONE, SYNC_EMPREENDIMENTO_KEYS, SYNC_SENSOR_INTERVAL_SECONDS.

The deployment is chosen here and only here (``deployment()``): ``local`` (the default) falls back
to the Odoo simulator's login and the project-local PostgreSQL that ``make`` exports as
DATABASE_URL; ``production`` requires every Odoo variable and DATABASE_URL and never falls back.
``deployment_settings()`` returns the validated choice; ``resources/config.py`` builds the
resources from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

DEFAULT_START_DATE = "2025-01-01"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
DAGSTER_SCHEMA = "dagster"

DEPLOYMENT_VARIABLE = "SYNC_DEPLOYMENT"
LOCAL = "local"
PRODUCTION = "production"
DEPLOYMENTS = (LOCAL, PRODUCTION)

# OdooResource field -> the variable that sets it.
ODOO_VARIABLES = {
    "url": "ODOO_URL",
    "db": "ODOO_DB",
    "username": "ODOO_USERNAME",
    "api_key": "ODOO_API_KEY",
    "protocol": "ODOO_PROTOCOL",
}
# The simulator's login (`sync-pipeline simulator`): the local deployment's defaults, never production's.
LOCAL_ODOO_DEFAULTS = {"url": "http://127.0.0.1:8069", "db": "odoo", "username": "admin", "api_key": "admin"}
DEFAULT_ODOO_PROTOCOL = "auto"
PRODUCTION_REQUIRED = ("ODOO_URL", "ODOO_DB", "ODOO_USERNAME", "ODOO_API_KEY", "DATABASE_URL")
# Optional OdooResource fields -> the variable that overrides the resource's default when set.
ODOO_RETRY_VARIABLES = {"max_retries": "ODOO_MAX_RETRIES", "backoff_seconds": "ODOO_BACKOFF_SECONDS"}


class SettingsError(RuntimeError):
    """The environment does not describe a usable deployment; the message names every variable at fault."""


def _env(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank (a blank value counts as missing)."""
    value = os.environ.get(name)
    return value if value and value.strip() else None


def deployment() -> str:
    """SYNC_DEPLOYMENT: ``local`` (the default) or ``production``."""
    raw = os.environ.get(DEPLOYMENT_VARIABLE, "").strip()
    if not raw:
        return LOCAL
    if raw not in DEPLOYMENTS:
        raise SettingsError(
            f"{DEPLOYMENT_VARIABLE}={raw!r} is not a deployment: expected one of {', '.join(DEPLOYMENTS)}"
        )
    return raw


@dataclass(frozen=True)
class DeploymentSettings:
    """The validated settings of one deployment.

    ``odoo`` holds the OdooResource fields with their values; ``from_environment`` the variables
    that are set, so resources can take them as ``EnvVar`` (the API key never shows in the UI).
    """

    deployment: str
    odoo: dict[str, str]
    from_environment: frozenset[str]

    def __repr__(self) -> str:  # never the API key
        shown = {k: ("***" if k == "api_key" else v) for k, v in self.odoo.items()}
        return f"DeploymentSettings(deployment={self.deployment!r}, odoo={shown!r})"


def deployment_settings() -> DeploymentSettings:
    """The chosen deployment's settings; production stops with one error naming every missing variable."""
    chosen = deployment()
    present = frozenset(name for name in (*ODOO_VARIABLES.values(), "DATABASE_URL") if _env(name))
    if chosen == PRODUCTION:
        missing = [name for name in PRODUCTION_REQUIRED if name not in present]
        if missing:
            raise SettingsError(
                f"{DEPLOYMENT_VARIABLE}={PRODUCTION} requires {', '.join(PRODUCTION_REQUIRED)}; not set: "
                f"{', '.join(missing)} (production never falls back to the simulator's defaults; "
                f"set {DEPLOYMENT_VARIABLE}={LOCAL} for the simulator)"
            )
    defaults = {**(LOCAL_ODOO_DEFAULTS if chosen == LOCAL else {}), "protocol": DEFAULT_ODOO_PROTOCOL}
    odoo = {field: os.environ[name] if name in present else defaults[field] for field, name in ODOO_VARIABLES.items()}
    return DeploymentSettings(deployment=chosen, odoo=odoo, from_environment=present)


def odoo_retry_overrides() -> dict[str, int | float]:
    """ODOO_MAX_RETRIES (retries of a transient failure) and ODOO_BACKOFF_SECONDS (first delay), as
    OdooResource fields, for those that are set; unset ones keep the resource's defaults."""
    found: dict[str, int | float] = {}
    for field, name in ODOO_RETRY_VARIABLES.items():
        raw = _env(name)
        if raw is None:
            continue
        try:
            value = int(raw) if field == "max_retries" else float(raw)
        except ValueError as exc:
            kind = "whole number" if field == "max_retries" else "number of seconds"
            raise SettingsError(f"{name}={raw!r} is not a {kind}") from exc
        if value < 0:
            raise SettingsError(f"{name}={raw!r} must be at least 0")
        found[field] = value
    return found


def normalize_pg_url(url: str) -> str:
    """Map plain ``postgres://``/``postgresql://`` URLs to the psycopg2 driver.

    SQLAlchemy 2.1 maps a plain ``postgresql://`` URL to psycopg 3, which is not installed.
    """
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver suffix (for psql, dagster-postgres, libpq)."""
    return normalize_pg_url(url).replace("postgresql+psycopg2://", "postgresql://", 1)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SettingsError(
            "DATABASE_URL is not set. Run through `make demo`/`make dev` (they start a project-local "
            "PostgreSQL), or export DATABASE_URL=postgresql://user:pass@host:5432/dbname"
        )
    return normalize_pg_url(url)


def dagster_pg_url() -> str:
    """Dagster's own storage: DAGSTER_PG_URL, else the operational database in schema `dagster`.

    Returned with the psycopg2 driver: dagster-postgres hands the URL to SQLAlchemy 2.1, which
    maps a plain ``postgresql://`` to psycopg 3 (not installed).
    """
    explicit = os.environ.get("DAGSTER_PG_URL")
    if explicit:
        return normalize_pg_url(explicit)
    base = database_url()
    sep = "&" if "?" in base else "?"
    # synchronous_commit=off for Dagster's own connections only: it writes two events per asset and
    # partition, each a commit waiting for fsync; off, a crash of the host loses at most the last
    # fraction of a second of events (the database stays consistent), and the operational tables'
    # commits, on other connections, still wait for the disk.
    options = f"-csearch_path={DAGSTER_SCHEMA} -csynchronous_commit=off"
    return f"{base}{sep}options={quote(options)}"


def start_date() -> date:
    raw = os.environ.get("SYNC_START_DATE", DEFAULT_START_DATE)
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"SYNC_START_DATE={raw!r} is not a date (YYYY-MM-DD)") from exc


def timezone_name() -> str:
    return os.environ.get("SYNC_TIMEZONE", DEFAULT_TIMEZONE)


def empreendimento_key_map() -> dict[int, str]:
    """Optional readable keys: SYNC_EMPREENDIMENTO_KEYS="1=matriz,2=filial-sp"."""
    raw = os.environ.get("SYNC_EMPREENDIMENTO_KEYS", "").strip()
    mapping: dict[int, str] = {}
    if not raw:
        return mapping
    for item in raw.split(","):
        company_id, _, key = item.partition("=")
        try:
            mapping[int(company_id)] = key.strip()
        except ValueError as exc:
            raise SettingsError(f"SYNC_EMPREENDIMENTO_KEYS entry {item!r} is not <company id>=<key>") from exc
    return mapping


DEFAULT_SENSOR_INTERVAL_SECONDS = 15


def sensor_interval_seconds() -> int:
    """SYNC_SENSOR_INTERVAL_SECONDS: how often the invoice, order and finance sensors poll Odoo
    (default 15: an invoice waits for the next tick, then its run's launch and the run itself — at 30 s
    the wait for the tick alone is up to 30 s, 28.5 s at the 95th percentile; a tick costs Odoo one
    small indexed read when nothing changed)."""
    raw = os.environ.get("SYNC_SENSOR_INTERVAL_SECONDS", str(DEFAULT_SENSOR_INTERVAL_SECONDS))
    try:
        return max(1, int(raw))
    except ValueError as exc:
        raise SettingsError(f"SYNC_SENSOR_INTERVAL_SECONDS={raw!r} is not a number of seconds") from exc


def max_partitions_per_run() -> int:
    """SYNC_MAX_PARTITIONS_PER_RUN: the most partitions one backfill run takes (default 400, about a
    year of one empreendimento; DESIGN §7)."""
    raw = os.environ.get("SYNC_MAX_PARTITIONS_PER_RUN", "400")
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"SYNC_MAX_PARTITIONS_PER_RUN={raw!r} is not a whole number") from exc
    if value < 1:
        raise SettingsError(f"SYNC_MAX_PARTITIONS_PER_RUN={raw!r} must be at least 1")
    return value


def discount_rate() -> Decimal:
    """SYNC_DISCOUNT_RATE: the yearly rate the portfolio's present value discounts at (default 0.10,
    docs/financeiro.md)."""
    raw = os.environ.get("SYNC_DISCOUNT_RATE", "0.10")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise SettingsError(f"SYNC_DISCOUNT_RATE={raw!r} is not a number (0.10 is 10 % a year)") from exc
    if not value.is_finite() or value <= -1 or value >= 10:
        raise SettingsError(f"SYNC_DISCOUNT_RATE={raw!r} must be a yearly rate such as 0.10")
    return value


def financeiro_daily_running() -> bool:
    """SYNC_FINANCEIRO_DAILY: ``on`` (default) starts the financeiro_daily schedule with the daemon,
    ``off`` leaves it stopped (turn it on in the UI); the test suite sets ``off`` so a daemon of a
    test never launches a run of its own at 00:30."""
    raw = os.environ.get("SYNC_FINANCEIRO_DAILY", "on").strip().lower()
    if raw not in ("on", "off"):
        raise SettingsError(f"SYNC_FINANCEIRO_DAILY={raw!r}: give on or off")
    return raw == "on"
