"""The Dagster instance the command line uses: DAGSTER_HOME and Dagster's storage schema."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from sync_pipeline import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / ".local" / "dagster_home"


def prepare_dagster_home() -> Path:
    """DAGSTER_HOME (default .local/dagster_home) holding the project's dagster.yaml, and
    DAGSTER_PG_URL set with Dagster's schema created first (dagster-postgres needs it)."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    pg_url = settings.dagster_pg_url()
    os.environ["DAGSTER_PG_URL"] = pg_url
    ensure_dagster_schema(pg_url)
    return home


def schema_from_url(url: str) -> str:
    """The schema named by ``options=-csearch_path=<schema>`` in a URL, else ``dagster``."""
    query = parse_qs(urlsplit(url).query)
    for option in query.get("options", []):
        for part in unquote(option).split():
            if part.startswith("-csearch_path="):
                return part.split("=", 1)[1].split(",")[0].strip().strip('"')
    return settings.DAGSTER_SCHEMA


def ensure_dagster_schema(url: str, schema: str | None = None) -> str:
    """Create Dagster's storage schema (default: the one in the URL's search_path) if missing.

    dagster-postgres creates its tables in the first schema of search_path, which must exist before
    Dagster connects. Returns the schema name.
    """
    import psycopg2
    from psycopg2 import sql

    schema = schema or schema_from_url(url)
    conn = psycopg2.connect(settings.libpq_url(url), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            except psycopg2.errors.UniqueViolation:
                pass  # created concurrently by another process
    finally:
        conn.close()
    return schema
