"""Test support: start the simulator, build resources, run partitions through Dagster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult
from sqlalchemy import text

from sync_pipeline.definitions import ASSET_CHECKS, ASSETS
from sync_pipeline.jobs import sync_job
from sync_pipeline.partitions import SyncPartition, empreendimento_key
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource
from sync_pipeline.simulator.core import OdooSimulator
from sync_pipeline.simulator.faults import FaultConfig

try:
    from sync_pipeline.simulator.generator import generate
except ImportError:  # pragma: no cover
    generate = None
from sync_pipeline.simulator.server import SimulatorServer

START = date(2025, 1, 1)


@dataclass
class SimulatorHandle:
    sim: OdooSimulator
    server: SimulatorServer
    summary: dict

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def faults(self) -> FaultConfig:
        return self.server.faults

    def call(self, model: str, method: str, *args, **kwargs):
        """Act on the simulator as an Odoo user would (through its model methods)."""
        return self.sim.execute_kw(self.sim.admin_uid, model, method, list(args), kwargs)

    def company_ids(self) -> list[int]:
        return sorted(r["id"] for r in self.sim.rows("res.company"))

    def stop(self) -> None:
        self.server.stop()


def start_simulator(
    *,
    seed: int = 7,
    scale: float = 0.5,
    days: int = 10,
    companies: int = 2,
    generate_data=True,
    order_sequence: str = "shared",
) -> SimulatorHandle:
    sim = OdooSimulator(order_sequence=order_sequence)
    summary = (
        generate(sim, seed=seed, scale=scale, start_date=START, days=days, companies=companies) if generate_data else {}
    )
    server = SimulatorServer(sim, port=0, faults=FaultConfig())
    server.start()
    return SimulatorHandle(sim=sim, server=server, summary=summary)


def resources(handle: SimulatorHandle, database_url: str, *, protocol: str = "jsonrpc", page_size: int = 500) -> dict:
    return {
        "odoo": OdooResource(
            url=handle.url,
            db="odoo",
            username="admin",
            api_key="admin",
            protocol=protocol,
            page_size=page_size,
            backoff_seconds=0.01,
        ),
        "postgres": PostgresResource(database_url=database_url, backoff_seconds=0.01),
    }


def definitions(res: dict) -> Definitions:
    return Definitions(
        assets=ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=[sync_job],
        resources=res,
    )


def empreendimentos(handle: SimulatorHandle) -> list[str]:
    return [empreendimento_key(c) for c in handle.company_ids()]


def sync_range(
    instance: DagsterInstance,
    res: dict,
    emp: str,
    first: date,
    last: date,
    *,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """One run over the partitions (emp, first..last), as a backfill of that range would."""
    known = set(instance.get_dynamic_partitions("empreendimento"))
    if emp not in known:
        instance.add_dynamic_partitions("empreendimento", [emp])
    job = definitions(res).resolve_job_def("sync_job")
    return job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": SyncPartition(emp, first).key,
            "dagster/asset_partition_range_end": SyncPartition(emp, last).key,
        },
        raise_on_error=raise_on_error,
    )


def sync_partition(instance, res, emp: str, day: date, **kw) -> ExecuteInProcessResult:
    return sync_range(instance, res, emp, day, day, **kw)


def partition_metadata(instance: DagsterInstance, asset: str, partition_key: str) -> dict:
    """Metadata of the newest materialization of ``asset`` for one partition."""
    from dagster import AssetKey

    records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    for record in records:
        mat = record.asset_materialization
        if mat is not None and mat.partition == partition_key:
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {asset} for {partition_key}")


def table_rows(engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


# The tables a sync leaves in a state (the diff and alert logs are history: how it got there).
STATE_TABLES = (
    "faturamento_produto",
    "relatorio_faturamento_importado",
    "faturado_por_pedido",
    "separado_por_pedido",
    "carteira_principal",
    "carteira_saldo",
)
_VOLATILE = {"id", "created_at", "updated_at", "run_id", "staged_at"}


def synced_state(engine) -> dict[str, list[tuple]]:
    """The rows of ``STATE_TABLES`` without ids and timestamps, sorted: two syncs that reached the
    same state compare equal whatever their runs and order."""
    state = {}
    for table in STATE_TABLES:
        rows = table_rows(engine, f"SELECT * FROM {table}")
        state[table] = sorted(tuple(sorted((k, str(v)) for k, v in r.items() if k not in _VOLATILE)) for r in rows)
    return state
