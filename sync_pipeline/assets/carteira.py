"""The carteira graph (DESIGN §5.2, §5.3): Odoo order lines → the open order book, with the
logistics decisions on it adjusted by the fixed hierarchy, traced and alerted."""

from dagster import AssetDep, AssetExecutionContext, AssetKey, MaterializeResult, asset

from sync_pipeline import settings
from sync_pipeline.assets.common import (
    BACKFILL_POLICY,
    Extracted,
    run_extract,
    run_transform,
    scope_of,
)
from sync_pipeline.assets.faturamento import FATURAMENTO_KEY
from sync_pipeline.db.carteira import load_partition, write_partition
from sync_pipeline.db.saldos import refresh_saldos
from sync_pipeline.db.schema import odoo_pedido_linha as odoo_pedido_linha_table
from sync_pipeline.domain.hierarchy import plan_partition
from sync_pipeline.odoo.carteira import extract_orders
from sync_pipeline.partitions import company_id_for, partition_day, sync_partitions
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

ORDERS_KEY = AssetKey("odoo_pedido_linha")
CARTEIRA_KEY = AssetKey("carteira_principal")
SALDO_KEY = AssetKey("carteira_saldo")


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
    tz = settings.timezone_name()

    def extract(client, emp: str, first, last, ids=None) -> Extracted:
        found = extract_orders(
            client,
            empreendimento=emp,
            company_id=company_id_for(emp),
            first=first,
            last=last,
            partition_day_of=partition_day,
            tz=tz,
            ids=ids,
        )
        summary = f"{len(found.documents)} orders, {found.lines} lines"
        return Extracted(found.staged.rows_by_day, found.staged.rejects, summary, found.documents)

    return run_extract(
        context, odoo, postgres, table=odoo_pedido_linha_table, document_column="odoo_order_id", extract=extract
    )


@asset(
    key=CARTEIRA_KEY,
    deps=[ORDERS_KEY, AssetDep(FATURAMENTO_KEY)],
    group_name="carteira",
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"postgres"},
)
def carteira_principal(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    """The open order book: one row per (num_pedido, cod_produto) with a positive saldo
    (`qtd_saldo_produto_pedido` = ordered − invoiced, from faturamento_produto).

    Partition: empreendimento × order date. Per partition, in one transaction: the carteira as it
    stands is compared with the source (NOVO / AUMENTO / REDUCAO / REMOVIDO / FATURADO, kept in
    `carteira_diff`), pré-separações and separações are adjusted by the hierarchy of DESIGN §5.3
    (alerts in `alerta_separacao_cotada`), then the rows are replaced.
    """
    run_id = context.run.run_id

    def sync(conn, p):
        lines = load_partition(conn, scope_of(p))
        plans = plan_partition(lines.changes, lines.pre, lines.seps)
        return write_partition(conn, scope_of(p), lines, plans, run_id=run_id, partition_key=p.key)

    return run_transform(context, postgres, sync)


@asset(
    key=SALDO_KEY,
    deps=[CARTEIRA_KEY],
    group_name="carteira",
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"postgres"},
)
def carteira_saldo(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    """Saldos of the open carteira lines (DESIGN §5.2), key (num_pedido, cod_produto): invoiced,
    saldo, in separação, pré-separada and `saldo_livre`, computed for each partition in one
    set-based statement. Partition: empreendimento × order date."""
    return run_transform(context, postgres, lambda conn, p: refresh_saldos(conn, scope_of(p)))
