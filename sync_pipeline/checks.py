"""Asset checks: what operators should look at, computed in PostgreSQL (never by loading a
partitioned asset as an input)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check
from sqlalchemy import text

from sync_pipeline.assets.carteira import CARTEIRA_KEY
from sync_pipeline.assets.faturamento import EXTRACT_KEY, FATURAMENTO_KEY
from sync_pipeline.resources.postgres import PostgresResource


@asset_check(
    asset=EXTRACT_KEY,
    name="no_rejected_invoice_lines",
    description="Warns when invoice lines were set aside (sync_rejeitado) instead of synced.",
    blocking=False,
)
def no_rejected_invoice_lines(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    with postgres.engine().connect() as conn:
        if not conn.execute(text("SELECT to_regclass('sync_rejeitado') IS NOT NULL")).scalar():
            return AssetCheckResult(passed=True, metadata={"rejects": 0})
        by_rule = dict(
            conn.execute(
                text("SELECT rule, count(*) FROM sync_rejeitado WHERE asset = :asset GROUP BY rule"),
                {"asset": EXTRACT_KEY.to_user_string()},
            ).all()
        )
        sample = conn.execute(
            text(
                "SELECT model, odoo_id, rule, message, partition_key FROM sync_rejeitado "
                "WHERE asset = :asset ORDER BY id DESC LIMIT 20"
            ),
            {"asset": EXTRACT_KEY.to_user_string()},
        ).all()
    total = sum(by_rule.values())
    return AssetCheckResult(
        passed=total == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rejects": total,
            **{f"rule:{rule}": n for rule, n in sorted(by_rule.items())},
            "latest": "\n".join(f"{m} {i} [{rule}] {msg} ({pk})" for m, i, rule, msg, pk in sample) or "none",
        },
        description=(f"{total} invoice lines set aside; see sync_rejeitado" if total else "no rejects"),
    )


@asset_check(
    asset=FATURAMENTO_KEY,
    name="relatorio_matches_lines",
    description="Every NF's relatorio_faturamento_importado total equals the sum of its lines.",
    blocking=False,
)
def relatorio_matches_lines(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    with postgres.engine().connect() as conn:
        if not conn.execute(text("SELECT to_regclass('faturamento_produto') IS NOT NULL")).scalar():
            return AssetCheckResult(passed=True, metadata={"mismatches": 0})
        mismatches = (
            conn.execute(
                text(
                    """
                SELECT r.numero_nf FROM relatorio_faturamento_importado r
                JOIN (SELECT odoo_move_id, sum(valor_produto_faturado) AS v
                      FROM faturamento_produto GROUP BY odoo_move_id) f USING (odoo_move_id)
                WHERE r.valor_total <> f.v LIMIT 20
                """
                )
            )
            .scalars()
            .all()
        )
    return AssetCheckResult(
        passed=not mismatches,
        severity=AssetCheckSeverity.WARN,
        metadata={"mismatches": len(mismatches), "sample": ", ".join(mismatches) or "none"},
    )


@asset_check(
    asset=CARTEIRA_KEY,
    name="no_critical_alerts",
    description=(
        "Warns when this run touched a COTADO separação or left a negative saldo: the critical "
        "alerts it wrote to alerta_separacao_cotada are listed for a human to act on."
    ),
    blocking=False,
)
def no_critical_alerts(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    with postgres.engine().connect() as conn:
        if not conn.execute(text("SELECT to_regclass('alerta_separacao_cotada') IS NOT NULL")).scalar():
            return AssetCheckResult(passed=True, metadata={"critical_alerts": 0})
        alerts = conn.execute(
            text(
                "SELECT separacao_lote_id, num_pedido, cod_produto, tipo_alteracao, qtd_anterior, qtd_nova "
                "FROM alerta_separacao_cotada WHERE run_id = :run AND nivel = 'CRITICO' ORDER BY id"
            ),
            {"run": context.run.run_id},
        ).all()
    listing = "\n".join(
        f"{tipo} {pedido}/{produto} lote {lote or '-'}: {antes} → {depois}"
        for lote, pedido, produto, tipo, antes, depois in alerts[:50]
    )
    return AssetCheckResult(
        passed=not alerts,
        severity=AssetCheckSeverity.WARN,
        metadata={"critical_alerts": len(alerts), "alerts": listing or "none"},
        description=f"{len(alerts)} critical alerts in this run" if alerts else "no critical alerts",
    )


@asset_check(
    asset=CARTEIRA_KEY,
    name="no_ambiguous_order_numbers",
    description=(
        "Warns when an order number exists in more than one empreendimento (Odoo numbering orders per "
        "company): separação and pré-separação rows carry no empreendimento, so the sync leaves those "
        "orders' decisions unadjusted instead of merging them; each order is in sync_rejeitado."
    ),
    blocking=False,
)
def no_ambiguous_order_numbers(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    from sync_pipeline.db.rejects import rejects_by_rule
    from sync_pipeline.domain.values import RULE_AMBIGUOUS_NUMBER

    rows = rejects_by_rule(postgres.engine(), RULE_AMBIGUOUS_NUMBER)
    listing = "\n".join(f"{r['payload'].get('empreendimento')} {r['payload'].get('num_pedido')}" for r in rows[:50])
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.WARN,
        metadata={"ambiguous_orders": len(rows), "orders": listing or "none"},
        description=f"{len(rows)} orders with a number another empreendimento also has" if rows else "none",
    )
