"""`make demo`'s second act: a day in the life of the carteira.

After the backfill, logistics people take decisions on the open order book (pré-separações and
separação lots, some with a freight quote: COTADO); then Odoo changes under them (lines reduced
and increased, orders cancelled). The sensors find the partitions touched, the runs they request
are executed through Dagster, and the hierarchy adjusts the decisions, records every diff and
raises alerts where a human must look. One order is invoiced with a date days ahead: today's
partition holds that NF.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from dagster import DagsterInstance, Definitions, build_sensor_context
from sqlalchemy import text
from sqlalchemy.engine import Engine

from sync_pipeline.odoo.client import OdooClient

# Decisions planted on the carteira: deterministic picks (hash order) so the demo repeats.
_PLANT_SQL = """
WITH lines AS (
    SELECT num_pedido, cod_produto, qtd_saldo_produto_pedido AS saldo,
           row_number() OVER (ORDER BY md5(num_pedido || cod_produto)) AS rn
    FROM carteira_principal WHERE status_pedido = 'Pedido de venda' AND qtd_saldo_produto_pedido >= 4
      AND NOT EXISTS (SELECT 1 FROM separacao s WHERE s.num_pedido = carteira_principal.num_pedido)
      AND NOT EXISTS (SELECT 1 FROM pre_separacao_item p WHERE p.num_pedido = carteira_principal.num_pedido)
),
orders AS (
    SELECT num_pedido, row_number() OVER (ORDER BY md5(num_pedido)) AS rn
    FROM (SELECT DISTINCT num_pedido FROM lines) o
),
lots AS (SELECT num_pedido, rn FROM orders WHERE rn <= :lots),
pre AS (
    INSERT INTO pre_separacao_item (num_pedido, cod_produto, qtd_selecionada_usuario)
    SELECT l.num_pedido, l.cod_produto, floor(l.saldo * 0.3)
    FROM lines l WHERE l.num_pedido NOT IN (SELECT num_pedido FROM lots) AND l.rn <= :pre
    RETURNING 1
),
sep AS (
    INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio)
    SELECT 'DEMO-' || lots.rn, l.num_pedido, l.cod_produto, floor(l.saldo * 0.5),
           (ARRAY['PREVISAO', 'ABERTO', 'COTADO'])[1 + lots.rn % 3], 'total'
    FROM lines l JOIN lots USING (num_pedido)
    RETURNING 1
)
SELECT (SELECT count(*) FROM pre), (SELECT count(*) FROM sep)
"""


def plant_decisions(engine: Engine, *, lots: int = 12, pre: int = 60) -> tuple[int, int]:
    with engine.begin() as conn:
        row = conn.execute(text(_PLANT_SQL), {"lots": lots, "pre": pre}).one()
    return int(row[0]), int(row[1])


def change_odoo(client: OdooClient, engine: Engine) -> dict[str, int]:
    """What happens in Odoo during the day, done through its API as a user would."""
    with engine.connect() as conn:
        reduce = conn.execute(
            text(
                "SELECT c.num_pedido, c.cod_produto, c.qtd_produto_pedido FROM carteira_principal c "
                "WHERE c.qtd_saldo_produto_pedido = c.qtd_produto_pedido "
                "AND EXISTS (SELECT 1 FROM pre_separacao_item p WHERE p.num_pedido = c.num_pedido "
                "AND p.cod_produto = c.cod_produto) OR c.qtd_saldo_produto_pedido = c.qtd_produto_pedido "
                "AND EXISTS (SELECT 1 FROM separacao s "
                "WHERE s.num_pedido = c.num_pedido AND s.cod_produto = c.cod_produto AND s.status <> 'COTADO') "
                "ORDER BY md5(c.num_pedido || c.cod_produto) LIMIT 12"
            )
        ).all()
        cancel = (
            conn.execute(
                text("SELECT DISTINCT num_pedido FROM separacao WHERE status = 'COTADO' ORDER BY num_pedido LIMIT 2")
            )
            .scalars()
            .all()
        )
        increase = conn.execute(
            text(
                "SELECT c.num_pedido, c.cod_produto, c.qtd_produto_pedido FROM carteira_principal c "
                "JOIN separacao s ON s.num_pedido = c.num_pedido AND s.cod_produto = c.cod_produto "
                "WHERE s.status IN ('PREVISAO', 'ABERTO') AND c.num_pedido <> ALL(:cancel) "
                "ORDER BY md5(c.num_pedido) LIMIT 4"
            ),
            {"cancel": list(cancel)},
        ).all()
    orders = {
        o["name"]: o["id"]
        for o in client.search_read(
            "sale.order", [("name", "in", sorted({r[0] for r in (*reduce, *increase)} | set(cancel)))], ["name"]
        )
    }
    products = {
        p["default_code"]: p["id"]
        for p in client.search_read("product.product", [("default_code", "!=", False)], ["default_code"])
    }

    def line_id(pedido: str, produto: str) -> int | None:
        product = products.get(produto) or (int(produto[5:]) if produto.startswith("ODOO-") else None)
        found = client.search(
            "sale.order.line", [("order_id", "=", orders.get(pedido, 0)), ("product_id", "=", product)], limit=1
        )
        return found[0] if found else None

    done = {"reduced": 0, "increased": 0, "cancelled": 0}
    for pedido, produto, qty in reduce:
        if pedido in cancel or (lid := line_id(pedido, produto)) is None:
            continue
        client.write("sale.order.line", [lid], {"product_uom_qty": float(qty) * 0.2})
        done["reduced"] += 1
    for pedido, produto, qty in increase:
        if (lid := line_id(pedido, produto)) is not None:
            client.write("sale.order.line", [lid], {"product_uom_qty": float(qty) + 10})
            done["increased"] += 1
    for pedido in cancel:
        client.call_action("sale.order", "action_cancel", [orders[pedido]], context={"disable_cancel_warning": True})
        done["cancelled"] += 1
    return done


def invoice_ahead(client: OdooClient, engine: Engine, day: date) -> str | None:
    """A user invoices an order of the carteira with an invoice date days ahead (a real Odoo takes
    it): no partition exists for that date, so today's holds it. Returns the order, None if none."""
    with engine.connect() as conn:
        pedido = conn.execute(
            text(
                "SELECT c.num_pedido FROM carteira_principal c WHERE c.status_pedido = 'Pedido de venda' "
                "AND NOT EXISTS (SELECT 1 FROM separacao s WHERE s.num_pedido = c.num_pedido) "
                "AND NOT EXISTS (SELECT 1 FROM pre_separacao_item p WHERE p.num_pedido = c.num_pedido) "
                "ORDER BY md5(c.num_pedido) LIMIT 1"
            )
        ).scalar()
    order = client.search("sale.order", [("name", "=", pedido)], limit=1) if pedido else []
    if not order:
        return None
    wizard, context = "sale.advance.payment.inv", {"active_model": "sale.order", "active_ids": order}
    wizard_id = client.execute(wizard, "create", {"advance_payment_method": "delivered"}, context=context)
    move = client.execute(wizard, "create_invoices", [wizard_id], context=context)["res_id"]
    client.write("account.move", [move], {"invoice_date": day.isoformat()})
    client.call_action("account.move", "action_post", [move])
    return pedido


# The runs' step-by-step log goes to the Dagster UI, not the demo's terminal: warnings only.
_QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sensor_cursors(instance: DagsterInstance, resources: dict) -> dict[str, str]:
    """The sensors' first ticks: where Odoo is now."""
    from sync_pipeline.sensors import invoice_sensor, order_sensor

    cursors = {}
    for sensor in (order_sensor, invoice_sensor):
        result = sensor(build_sensor_context(instance=instance, resources=resources))
        cursors[sensor.name] = result.cursor
    return cursors


def run_sensor_requests(
    instance: DagsterInstance, defs: Definitions, resources: dict, cursors: dict[str, str], echo: Callable[[str], None]
) -> int:
    """One tick of each sensor, and the runs they request executed through Dagster."""
    from sync_pipeline.sensors import invoice_sensor, order_sensor

    job = defs.get_job_def("sync_job")
    runs = 0
    seen: set[str] = set()
    for sensor in (invoice_sensor, order_sensor):
        result = sensor(build_sensor_context(instance=instance, cursor=cursors[sensor.name], resources=resources))
        targets, failed = [], []
        for request in result.run_requests:
            target = request.partition_key or (
                f"{request.tags['dagster/asset_partition_range_start']}..{request.tags['dagster/asset_partition_range_end']}"
            )
            if target in seen:
                continue
            seen.add(target)
            outcome = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=dict(request.tags),
                run_config=_QUIET_RUN,
                raise_on_error=False,
            )
            targets.append(target)
            if not outcome.success:
                failed.append(f"run {outcome.run_id[:8]} for {target}")
        runs += len(targets)
        shown = ", ".join(sorted(targets)[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
        echo(
            f"  {sensor.name}: {len(targets)} runs{f' ({shown})' if targets else ''}, "
            + (f"{len(failed)} FAILED: {', '.join(failed)}" if failed else "all ok")
        )
    return runs
