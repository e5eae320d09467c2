"""Resources built from the environment, in one place (local simulator or a production Odoo)."""

from __future__ import annotations

import os

from dagster import EnvVar

from sync_pipeline import settings
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource


def _env_or_default(name: str, default: str):
    # EnvVar keeps the value out of the UI's resource config; defaults reach the embedded simulator.
    return EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict:
    odoo_defaults = settings.odoo_settings()
    return {
        "odoo": OdooResource(
            url=_env_or_default("ODOO_URL", odoo_defaults["url"]),
            db=_env_or_default("ODOO_DB", odoo_defaults["db"]),
            username=_env_or_default("ODOO_USERNAME", odoo_defaults["username"]),
            api_key=_env_or_default("ODOO_API_KEY", odoo_defaults["api_key"]),
            protocol=_env_or_default("ODOO_PROTOCOL", odoo_defaults["protocol"]),
        ),
        "postgres": PostgresResource(database_url=EnvVar("DATABASE_URL")),
    }


def odoo_resource_from_env() -> OdooResource:
    """The same settings as plain values, for code outside a Dagster run (the command line)."""
    return OdooResource(**settings.odoo_settings())
