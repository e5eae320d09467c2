"""The Dagster instance the command line uses: DAGSTER_HOME and Dagster's storage schema."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sync_pipeline import settings
from sync_pipeline.db.localpg import ensure_dagster_schema

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
