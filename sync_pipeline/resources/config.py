"""Resources of the chosen deployment (``settings.deployment()``: the local simulator or a production Odoo)."""

from __future__ import annotations

from dagster import EnvVar

from sync_pipeline import settings
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource


def build_resources() -> dict:
    """The Definitions' resources; a production deployment missing a variable stops the code location here.

    Values set in the environment go in as ``EnvVar`` so the API key never appears in the resource
    config the UI shows; only the local deployment has defaults (the simulator's).
    """
    chosen = settings.deployment_settings()
    odoo = {
        field: EnvVar(name) if name in chosen.from_environment else chosen.odoo[field]
        for field, name in settings.ODOO_VARIABLES.items()
    }
    return {
        "odoo": OdooResource(**odoo, **settings.odoo_retry_overrides()),
        "postgres": PostgresResource(database_url=EnvVar("DATABASE_URL")),
    }


def odoo_resource_from_env() -> OdooResource:
    """The same settings as plain values, for code outside a Dagster run (the command line)."""
    return OdooResource(**settings.deployment_settings().odoo, **settings.odoo_retry_overrides())
