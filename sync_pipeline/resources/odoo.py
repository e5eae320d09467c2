"""OdooResource: the Dagster face of the Odoo client (sync_pipeline.odoo.client).

Assets ask it for a fresh client per run or partition (``get_client``), so the call counts they
report as metadata are their own. Configure it from the environment with ``EnvVar`` so the API key
never appears in the run config shown by the UI.
"""

from __future__ import annotations

import logging

import dagster as dg
from pydantic import Field

from sync_pipeline.odoo.client import PROTOCOL_CHOICES, OdooClient


class OdooResource(dg.ConfigurableResource):
    """Connection settings for one Odoo database; the only way the pipeline reaches Odoo."""

    url: str = Field(description="Base URL of the Odoo server, e.g. https://erp.example.com")
    db: str = Field(description="Odoo database name")
    username: str = Field(description="Login of the (bot) user the sync runs as")
    api_key: str = Field(description="API key (or password) of that user", repr=False)
    protocol: str = Field(
        default="auto",
        description="External API: auto (default: json2 on Odoo 19+, jsonrpc before), jsonrpc, xmlrpc or json2",
    )
    page_size: int = Field(default=1000, description="Records per read page (ids ordered)")
    max_workers: int = Field(default=4, description="Pages read in parallel")
    timeout_seconds: float = Field(default=60.0, description="Read timeout of one call")
    max_retries: int = Field(default=5, description="Retries of a call failing transiently (502/503/504, drops)")
    backoff_seconds: float = Field(default=0.5, description="First retry delay; doubles per attempt, with full jitter")

    def get_client(
        self,
        logger: logging.Logger | None = None,
        *,
        timeout_seconds: float | None = None,
        max_retries: int | None = None,
        max_retry_after_seconds: float | None = None,
    ) -> OdooClient:
        """A new client (its own call counts); pass ``context.log`` to log retries in the run.

        ``timeout_seconds``/``max_retries``/``max_retry_after_seconds`` override the configuration
        for callers that must stay bounded (a sensor tick has 60 s in all).
        """
        if self.protocol not in PROTOCOL_CHOICES:
            raise dg.DagsterInvalidConfigError(
                f"OdooResource.protocol is {self.protocol!r}: expected one of "
                f"{', '.join(PROTOCOL_CHOICES)} (set ODOO_PROTOCOL)",
                [],
                self.protocol,
            )
        return OdooClient(
            url=self.url,
            db=self.db,
            username=self.username,
            api_key=self.api_key,
            protocol=self.protocol,
            page_size=self.page_size,
            max_workers=self.max_workers,
            timeout_seconds=self.timeout_seconds if timeout_seconds is None else timeout_seconds,
            max_retries=self.max_retries if max_retries is None else max_retries,
            backoff_seconds=self.backoff_seconds,
            logger=logger,
            **({} if max_retry_after_seconds is None else {"max_retry_after_seconds": max_retry_after_seconds}),
        )
