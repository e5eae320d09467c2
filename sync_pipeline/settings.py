"""Configuration from the environment: the only place that reads environment variables.

Variables (README lists them for operators): ODOO_URL, ODOO_DB, ODOO_USERNAME, ODOO_API_KEY,
ODOO_PROTOCOL, DATABASE_URL, DAGSTER_PG_URL, SYNC_START_DATE, SYNC_TIMEZONE,
SYNC_EMPREENDIMENTO_KEYS, SYNC_SENSOR_INTERVAL_SECONDS.
"""

from __future__ import annotations

import os
from datetime import date
from urllib.parse import quote

DEFAULT_START_DATE = "2025-01-01"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
DAGSTER_SCHEMA = "dagster"


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
        raise RuntimeError(
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
    return f"{base}{sep}options={quote('-csearch_path=' + DAGSTER_SCHEMA)}"


def start_date() -> date:
    raw = os.environ.get("SYNC_START_DATE", DEFAULT_START_DATE)
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise RuntimeError(f"SYNC_START_DATE={raw!r} is not a date (YYYY-MM-DD)") from exc


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
            raise RuntimeError(f"SYNC_EMPREENDIMENTO_KEYS entry {item!r} is not <company id>=<key>") from exc
    return mapping


def odoo_settings() -> dict[str, str]:
    """Odoo connection settings; defaults point at the embedded simulator on localhost:8069."""
    return {
        "url": os.environ.get("ODOO_URL", "http://127.0.0.1:8069"),
        "db": os.environ.get("ODOO_DB", "odoo"),
        "username": os.environ.get("ODOO_USERNAME", "admin"),
        "api_key": os.environ.get("ODOO_API_KEY", "admin"),
        "protocol": os.environ.get("ODOO_PROTOCOL", "auto"),
    }


def sensor_interval_seconds() -> int:
    """SYNC_SENSOR_INTERVAL_SECONDS: how often the invoice sensor polls Odoo (default 30)."""
    raw = os.environ.get("SYNC_SENSOR_INTERVAL_SECONDS", "30")
    try:
        return max(1, int(raw))
    except ValueError as exc:
        raise RuntimeError(f"SYNC_SENSOR_INTERVAL_SECONDS={raw!r} is not a number of seconds") from exc
