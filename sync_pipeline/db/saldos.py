"""Saldos (DESIGN §5.2) of a partition's open carteira lines, in one set-based statement.

qtd_faturada = Σ invoiced − Σ refunded (not cancelled: Odoo's qty_invoiced); qtd_saldo = ordered −
invoiced; qtd_em_separacao = Σ separação not invoiced; qtd_pre_separada = Σ pré-separações not yet
sent; saldo_livre = saldo − em separação − pré-separada. The decisions of an order whose number another
empreendimento also has are not counted (they cannot be told apart; the carteira reports the order).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from sync_pipeline.db.carteira import INVOICED_SQL, OPEN_PRE_SQL, rule_params
from sync_pipeline.db.staging import Scope, owns

_SALDOS_SQL = f"""
WITH lines AS (
    SELECT c.num_pedido, c.cod_produto, c.empreendimento, c.data_pedido, c.qtd_produto_pedido,
           c.qtd_saldo_produto_pedido
    FROM carteira_principal c
    WHERE c.empreendimento = :emp AND {owns("c", "data_pedido")}
),
unambiguous AS (
    SELECT DISTINCT l.num_pedido FROM lines l
    WHERE NOT EXISTS (SELECT 1 FROM odoo_pedido_linha o WHERE o.num_pedido = l.num_pedido AND o.empreendimento <> :emp)
),
fat AS ({INVOICED_SQL.format(orders="lines")}),
sep AS (
    SELECT s.num_pedido, s.cod_produto, sum(s.qtd_saldo) AS qtd
    FROM separacao s
    WHERE s.num_pedido IN (SELECT num_pedido FROM unambiguous) AND NOT s.sincronizado_nf
    GROUP BY 1, 2
),
pre AS (
    SELECT p.num_pedido, p.cod_produto, sum(p.qtd_selecionada_usuario) AS qtd
    FROM pre_separacao_item p
    WHERE p.num_pedido IN (SELECT num_pedido FROM unambiguous) AND {OPEN_PRE_SQL.format(p="p")}
    GROUP BY 1, 2
),
computed AS (
    SELECT l.empreendimento, l.num_pedido, l.cod_produto, l.data_pedido, l.qtd_produto_pedido,
           COALESCE(fat.qtd, 0) AS qtd_faturada, l.qtd_saldo_produto_pedido,
           COALESCE(sep.qtd, 0) AS qtd_em_separacao, COALESCE(pre.qtd, 0) AS qtd_pre_separada,
           l.qtd_saldo_produto_pedido - COALESCE(sep.qtd, 0) - COALESCE(pre.qtd, 0) AS saldo_livre
    FROM lines l
    LEFT JOIN fat USING (num_pedido, cod_produto)
    LEFT JOIN sep USING (num_pedido, cod_produto)
    LEFT JOIN pre USING (num_pedido, cod_produto)
),
up AS (
    INSERT INTO carteira_saldo AS t (empreendimento, num_pedido, cod_produto, data_pedido, qtd_produto_pedido,
        qtd_faturada, qtd_saldo_produto_pedido, qtd_em_separacao, qtd_pre_separada, saldo_livre)
    SELECT * FROM computed
    ON CONFLICT (empreendimento, num_pedido, cod_produto) DO UPDATE SET
        data_pedido = EXCLUDED.data_pedido,
        qtd_produto_pedido = EXCLUDED.qtd_produto_pedido, qtd_faturada = EXCLUDED.qtd_faturada,
        qtd_saldo_produto_pedido = EXCLUDED.qtd_saldo_produto_pedido,
        qtd_em_separacao = EXCLUDED.qtd_em_separacao, qtd_pre_separada = EXCLUDED.qtd_pre_separada,
        saldo_livre = EXCLUDED.saldo_livre, updated_at = now()
    WHERE (t.data_pedido, t.qtd_produto_pedido, t.qtd_faturada, t.qtd_saldo_produto_pedido,
           t.qtd_em_separacao, t.qtd_pre_separada, t.saldo_livre)
          IS DISTINCT FROM
          (EXCLUDED.data_pedido, EXCLUDED.qtd_produto_pedido, EXCLUDED.qtd_faturada,
           EXCLUDED.qtd_saldo_produto_pedido, EXCLUDED.qtd_em_separacao, EXCLUDED.qtd_pre_separada,
           EXCLUDED.saldo_livre)
    RETURNING 1
),
gone AS (
    DELETE FROM carteira_saldo t
    WHERE t.empreendimento = :emp
      AND ({owns("t", "data_pedido")} OR t.num_pedido IN (SELECT num_pedido FROM lines))
      AND NOT EXISTS (SELECT 1 FROM computed c WHERE c.num_pedido = t.num_pedido AND c.cod_produto = t.cod_produto)
    RETURNING 1
)
SELECT (SELECT count(*) FROM computed), (SELECT count(*) FROM up), (SELECT count(*) FROM gone),
       (SELECT COALESCE(sum(saldo_livre), 0) FROM computed)
"""


def refresh_saldos(conn: Connection, scope: Scope) -> dict[str, object]:
    """Rewrite the partition's saldos (only rows whose numbers changed); one statement."""
    lines, written, deleted, livre = conn.execute(text(_SALDOS_SQL), {**scope.params(), **rule_params()}).one()
    return {"lines": lines, "rows_written": written, "rows_deleted": deleted, "saldo_livre_total": float(livre)}
