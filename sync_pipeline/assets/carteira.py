"""The carteira graph (DESIGN §3, §5.2, §5.3): Odoo order lines and the invoices of any date → the
aggregated saldos (invoiced; in separação and pré-separada, per order and product) → the carteira
diff, with the logistics decisions adjusted by the fixed hierarchy and alerted → the open order
book → its saldos. What must commit together (decisions, diff, alerts, carteira rows) is one
multi-asset: one transaction per chunk of partitions."""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    asset,
    multi_asset,
)
from sqlalchemy.engine import Connection

from sync_pipeline import settings
from sync_pipeline.assets.common import (
    BACKFILL_POLICY,
    Extracted,
    keys_of,
    pick,
    run_extract,
    run_transform,
    scope_of,
)
from sync_pipeline.assets.faturamento import FATURAMENTO_KEY
from sync_pipeline.assets.operational import PRE_SEPARACAO_KEY, SEPARACAO_KEY
from sync_pipeline.db.carteira import COUNTS as CARTEIRA_COUNTS
from sync_pipeline.db.carteira import carteira_has_rows, load_partitions, write_partitions
from sync_pipeline.db.saldos import (
    SALDO_COUNTS,
    partitions_stale_elsewhere,
    refresh_faturado,
    refresh_saldos,
    refresh_separado,
    saldos_have_rows,
)
from sync_pipeline.db.schema import carteira_diff as carteira_diff_table
from sync_pipeline.db.schema import carteira_principal as carteira_principal_table
from sync_pipeline.db.schema import odoo_pedido_linha as odoo_pedido_linha_table
from sync_pipeline.db.staging import Scope
from sync_pipeline.domain.hierarchy import plan_partition
from sync_pipeline.odoo.carteira import extract_orders
from sync_pipeline.partitions import (
    SyncPartition,
    company_id_for,
    partition_day,
    sync_partitions,
)
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

ORDERS_KEY = AssetKey("odoo_pedido_linha")
CARTEIRA_KEY = AssetKey("carteira_principal")
SALDO_KEY = AssetKey("carteira_saldo")
FATURADO_KEY = AssetKey("faturado_por_pedido")
SEPARADO_KEY = AssetKey("separado_por_pedido")
DIFF_KEY = AssetKey("carteira_diff")
ALERTA_KEY = AssetKey("alerta_separacao_cotada")


def extract_carteira(client, emp: str, first, last, ids=None) -> Extracted:
    """What ``odoo_pedido_linha`` reads of one empreendimento, dates [first, last] or orders ``ids``."""
    found = extract_orders(
        client,
        empreendimento=emp,
        company_id=company_id_for(emp),
        first=first,
        last=last,
        partition_day_of=partition_day,
        tz=settings.timezone_name(),
        ids=ids,
    )
    summary = f"{len(found.documents)} orders, {found.lines} lines"
    return Extracted(found.staged.rows_by_day, found.staged.rejects, summary, found.documents)


@asset(
    key=ORDERS_KEY,
    group_name="carteira",
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"odoo", "postgres"},
)
def odoo_pedido_linha(
    context: AssetExecutionContext, odoo: OdooResource, postgres: PostgresResource
) -> MaterializeResult:
    """Sale order product lines as read from Odoo, one row per `sale.order.line`.

    Key: `odoo_line_id`. Partition: the empreendimento (Odoo company) and the order date in
    SYNC_TIMEZONE (orders older than SYNC_START_DATE belong to the first date). Section and note
    lines are left out; lines that break a rule are set aside in `sync_rejeitado`.
    """
    return run_extract(
        context,
        odoo,
        postgres,
        table=odoo_pedido_linha_table,
        document_column="odoo_order_id",
        extract=extract_carteira,
    )


# A carteira date depends on the invoices of every date of its empreendimento (an order of March
# invoiced in May): faturado_por_pedido reads them all. The edge to faturamento_produto is drawn
# partition for partition, not as a mapping to every date: Dagster 1.13's backfill daemon expands
# such a mapping to every downstream partition on each iteration (measured: a 30-partition
# backfill over 700 dates stayed REQUESTED for minutes after its last run). The invoice sensor
# requests the partitions of the orders an invoice touches instead.
@multi_asset(
    name="carteira",
    specs=[
        AssetSpec(
            FATURADO_KEY,
            deps=[ORDERS_KEY, FATURAMENTO_KEY],
            group_name="carteira",
            kinds={"postgres"},
            description=(
                "Aggregated saldo: invoiced quantity per order and product of the partition's orders "
                "(Σ invoiced − Σ refunded, not cancelled: Odoo's qty_invoiced), from the invoices of "
                "any date of the empreendimento."
            ),
        ),
        AssetSpec(
            SEPARADO_KEY,
            deps=[ORDERS_KEY, SEPARACAO_KEY, PRE_SEPARACAO_KEY],
            group_name="carteira",
            kinds={"postgres"},
            description=(
                "Aggregated saldo: quantity in separação (not invoiced) and pré-separada (not sent) per "
                "order and product of the partition's orders, read before the diff and rewritten after "
                "the hierarchy adjusts the decisions."
            ),
        ),
        AssetSpec(
            DIFF_KEY,
            deps=[ORDERS_KEY, FATURADO_KEY, SEPARADO_KEY, SEPARACAO_KEY, PRE_SEPARACAO_KEY],
            group_name="carteira",
            kinds={"postgres"},
            description=(
                "What changed per order and product since the last sync (NOVO / AUMENTO / REDUCAO / "
                "REMOVIDO / FATURADO / AJUSTE) and how the reduction hierarchy absorbed it (DESIGN §5.3): "
                "pré-separações and separações adjusted in the same transaction."
            ),
        ),
        AssetSpec(
            CARTEIRA_KEY,
            deps=[DIFF_KEY],
            group_name="carteira",
            kinds={"postgres"},
            description=(
                "The open order book: one row per (empreendimento, num_pedido, cod_produto) with a positive "
                "saldo (`qtd_saldo_produto_pedido` = ordered − invoiced)."
            ),
        ),
        AssetSpec(
            ALERTA_KEY,
            deps=[DIFF_KEY],
            group_name="carteira",
            kinds={"postgres"},
            description=(
                "Alerts for logistics: a COTADO separação reduced or removed, or a negative saldo (CRITICO); "
                "other reductions of a separação (ATENCAO)."
            ),
        ),
    ],
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    can_subset=False,
)
def carteira(context: AssetExecutionContext, postgres: PostgresResource):
    """The carteira of each partition (empreendimento × order date), in one transaction per chunk
    of partitions: the aggregated saldos of their orders, the diff against the carteira as it
    stands with the decisions adjusted by the hierarchy of DESIGN §5.3 (and alerts), then the
    carteira rows replaced — a constant number of set-based statements per chunk."""
    run_id = context.run.run_id

    def unit(conn, scope, keys):
        return carteira_unit(conn, scope, run_id=run_id, partition_keys=keys)

    return run_transform(
        context,
        postgres,
        unit,
        active=carteira_has_rows,
        counts=CARTEIRA_COUNTS,
        by_asset=_carteira_metadata,
        analyze=(carteira_principal_table, carteira_diff_table),
    )


def carteira_unit(conn: Connection, scope: Scope, *, run_id: str, partition_keys: dict[date, str]) -> dict[date, dict]:
    """The carteira multi-asset's work for the scope's partitions, in the caller's transaction (no
    Dagster here: the convergence tests and the benchmark run it directly too); counts per day.

    A carteira date depends on the invoices of every date of its empreendimento: when the scope's
    NFs changed what an order of another date has invoiced since that order was planned (a
    backfill split over several runs planned March before May's invoices existed), those
    partitions are planned again here, in the same transaction and in one set-based pass, with
    their saldos — so a split backfill ends in the state of one run. Their diffs carry their own
    partition keys; the scope's first partition names them (``replanned``)."""
    counts = _plan_partitions(conn, scope, run_id=run_id, partition_keys=partition_keys)
    others = [SyncPartition(scope.empreendimento, day) for day in partitions_stale_elsewhere(conn, scope)]
    if others:
        other_scope = scope_of(*others)
        _plan_partitions(conn, other_scope, run_id=run_id, partition_keys=keys_of(others))
        refresh_saldos(conn, other_scope)
    for day in scope.days:
        counts[day]["partitions_replanned"] = 0
    if others:
        counts[scope.start]["partitions_replanned"] = len(others)
        counts[scope.start]["replanned"] = ", ".join(o.day.isoformat() for o in others)
    return counts


def _plan_partitions(
    conn: Connection, scope: Scope, *, run_id: str, partition_keys: dict[date, str]
) -> dict[date, dict]:
    faturado = refresh_faturado(conn, scope)
    separado = refresh_separado(conn, scope)
    lines = load_partitions(conn, scope)
    plans = plan_partition(lines.changes, lines.pre, lines.seps)
    counts = write_partitions(conn, scope, lines, plans, run_id=run_id, partition_keys=partition_keys)
    if any(of_day[k] for of_day in counts.values() for k in _DECISION_COUNTS):
        separado = refresh_separado(conn, scope)  # after the hierarchy's adjustments
    return {
        day: counts[day]
        | {f"faturado_{k}": v for k, v in faturado[day].items()}
        | {f"separado_{k}": v for k, v in separado[day].items()}
        for day in scope.days
    }


_DECISION_COUNTS = (
    "pre_separacao_updated",
    "pre_separacao_deleted",
    "separacao_updated",
    "separacao_deleted",
    "separacao_created",
)


def _carteira_metadata(counts: dict) -> dict:
    def prefixed(prefix: str) -> dict:
        return {k.removeprefix(prefix): v for k, v in counts.items() if k.startswith(prefix)}

    diff_kinds = [k for k in counts if k.startswith("diff_")]
    return {
        FATURADO_KEY: prefixed("faturado_"),
        SEPARADO_KEY: prefixed("separado_"),
        DIFF_KEY: pick(counts, "diffs", *diff_kinds, *_DECISION_COUNTS, "embarques_cancelled"),
        ALERTA_KEY: pick(counts, "alerts", "critical_alerts"),
        # the carteira's own rows, and a summary of the partition's changes
        CARTEIRA_KEY: {k: v for k, v in counts.items() if not k.startswith(("faturado_", "separado_"))},
    }


@asset(
    key=SALDO_KEY,
    deps=[CARTEIRA_KEY, FATURADO_KEY, SEPARADO_KEY],
    group_name="carteira",
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"postgres"},
)
def carteira_saldo(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    """Saldos of the open carteira lines (DESIGN §5.2), key (empreendimento, num_pedido,
    cod_produto): invoiced, saldo, in separação, pré-separada and `saldo_livre`, from
    carteira_principal and the aggregated saldos, in one set-based statement per chunk of
    partitions.
    Partition: empreendimento × order date."""
    return run_transform(
        context,
        postgres,
        lambda conn, scope, _keys: refresh_saldos(conn, scope),
        active=saldos_have_rows,
        counts=SALDO_COUNTS,
    )
