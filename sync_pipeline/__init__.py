"""sync_pipeline: Odoo → PostgreSQL on Dagster (README.md, DESIGN in ../shared)."""

import os

# Dagster writes an ASSET_MATERIALIZATION_PLANNED and an ASSET_MATERIALIZATION event per asset and
# partition, one connection and commit each unless batching is on: a run over a year of partitions
# spent most of its time there (issue 8). Every process that writes events imports this package
# (run workers and code servers load the definitions; the daemon and the webserver load the run
# queue and launcher from dagster.yaml; the CLI), so the default is set here; an explicit
# DAGSTER_EVENT_BATCH_SIZE wins.
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")
