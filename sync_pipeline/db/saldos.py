"""Saldos (DESIGN §5.2), one set-based statement each.

The aggregated saldos the carteira diff starts from, per order and product of a partition's orders
(``PARTITION_ORDERS_SQL``):

- ``faturado_por_pedido``: qtd_faturada = Σ invoiced − Σ refunded, not cancelled (Odoo's
  qty_invoiced), from ``faturamento_produto`` of any date;
- ``separado_por_pedido``: qtd_em_separacao = Σ separação not invoiced; qtd_pre_separada = Σ
  pré-separações not yet sent, from the operational app's tables.

And the saldos of the partition's open carteira lines (``carteira_saldo``), from the carteira and
those two: qtd_saldo = ordered − invoiced; saldo_livre = saldo − em separação − pré-separada.

The decisions of an order whose number another empreendimento also stages are not counted (they
cannot be told apart; the carteira reports the order). A row of an order that moved to another
partition stays until that partition rewrites it; a row of an order no partition owns any more
leaves with the partition of its date.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from sync_pipeline.db.carteira import INVOICED_SQL, OPEN_PRE_SQL, PARTITION_ORDERS_SQL, rule_params
from sync_pipeline.db.staging import Scope, owns


def _aggregate_sql(table: str, computed: str, values: list[str]) -> str:
    """Upsert ``computed`` (key columns, then ``values``) as the partition's rows of ``table``,
    rows unchanged left alone; delete its rows of the partition's orders that are gone, and rows of
    its date whose order no partition owns any more."""
    cols = ", ".join(values)
    excluded = ", ".join(f"EXCLUDED.{c}" for c in values)
    return f"""
WITH orders AS ({PARTITION_ORDERS_SQL}),
computed AS ({computed}),
up AS (
    INSERT INTO {table} AS t (empreendimento, num_pedido, cod_produto, partition_date, {cols})
    SELECT :emp, num_pedido, cod_produto, CAST(:day AS date), {cols} FROM computed
    ON CONFLICT (empreendimento, num_pedido, cod_produto) DO UPDATE SET
        partition_date = EXCLUDED.partition_date,
        {", ".join(f"{c} = EXCLUDED.{c}" for c in values)}, updated_at = now()
    WHERE (t.partition_date, {", ".join("t." + c for c in values)})
          IS DISTINCT FROM (EXCLUDED.partition_date, {excluded})
    RETURNING 1
),
gone AS (
    DELETE FROM {table} t
    WHERE t.empreendimento = :emp
      AND NOT EXISTS (SELECT 1 FROM computed c WHERE c.num_pedido = t.num_pedido AND c.cod_produto = t.cod_produto)
      AND (t.num_pedido IN (SELECT num_pedido FROM orders)
           OR ({owns("t", "partition_date")}
               AND NOT EXISTS (SELECT 1 FROM odoo_pedido_linha o
                               WHERE o.num_pedido = t.num_pedido AND o.empreendimento = :emp)
               AND NOT EXISTS (SELECT 1 FROM carteira_principal c
                               WHERE c.num_pedido = t.num_pedido AND c.empreendimento = :emp)))
    RETURNING 1
)
SELECT (SELECT count(*) FROM computed), (SELECT count(*) FROM up), (SELECT count(*) FROM gone),
       (SELECT COALESCE(sum({values[0]}), 0) FROM computed)
"""


_FATURADO_SQL = _aggregate_sql(
    "faturado_por_pedido",
    f"SELECT num_pedido, cod_produto, qtd AS qtd_faturada, notas FROM ({INVOICED_SQL.format(orders='orders')}) i",
    ["qtd_faturada", "notas"],
)

_SEPARADO_SQL = _aggregate_sql(
    "separado_por_pedido",
    f"""
    WITH unambiguous AS (
        SELECT o.num_pedido FROM orders o
        WHERE NOT EXISTS (SELECT 1 FROM odoo_pedido_linha x
                          WHERE x.num_pedido = o.num_pedido AND x.empreendimento <> :emp)
    ),
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
    )
    SELECT num_pedido, cod_produto, COALESCE(sep.qtd, 0) AS qtd_em_separacao, COALESCE(pre.qtd, 0) AS qtd_pre_separada
    FROM sep FULL JOIN pre USING (num_pedido, cod_produto)
    """,
    ["qtd_em_separacao", "qtd_pre_separada"],
)


# A carteira date depends on invoices of any date (an order of March invoiced in May). The orders
# this partition's NFs invoice whose faturado_por_pedido no longer equals their invoices were planned
# before those invoices existed — by an earlier run of a backfill split over several runs, say —
# and the partitions that own them must be planned again. One statement; on a partition whose
# invoices changed nothing elsewhere it finds nothing.
_STALE_ELSEWHERE_SQL = f"""
WITH invoiced_here AS (
    SELECT DISTINCT f.origem AS num_pedido FROM faturamento_produto f
    WHERE f.empreendimento = :emp AND {owns("f", "data_fatura")} AND f.origem IS NOT NULL
),
live AS ({INVOICED_SQL.format(orders="invoiced_here")}),
kept AS (
    SELECT t.num_pedido, t.cod_produto, t.qtd_faturada AS qtd FROM faturado_por_pedido t
    WHERE t.empreendimento = :emp AND t.num_pedido IN (SELECT num_pedido FROM invoiced_here)
),
stale AS (
    SELECT COALESCE(live.num_pedido, kept.num_pedido) AS num_pedido
    FROM live FULL JOIN kept ON kept.num_pedido = live.num_pedido AND kept.cod_produto = live.cod_produto
    WHERE live.qtd IS DISTINCT FROM kept.qtd
)
SELECT DISTINCT l.partition_date FROM odoo_pedido_linha l
WHERE l.empreendimento = :emp AND l.num_pedido IN (SELECT num_pedido FROM stale)
  AND NOT {owns("l", "partition_date")}
ORDER BY 1
"""


def partitions_stale_elsewhere(conn: Connection, scope: Scope) -> list:
    """The partition dates (same empreendimento, other than ``scope``'s) owning orders whose
    invoiced aggregate this partition's NFs made stale."""
    return list(conn.execute(text(_STALE_ELSEWHERE_SQL), {**scope.params(), **rule_params()}).scalars())


def _run_aggregate(conn: Connection, sql: str, scope: Scope, total: str) -> dict[str, object]:
    keys, written, deleted, summed = conn.execute(text(sql), {**scope.params(), **rule_params()}).one()
    return {"keys": keys, "rows_written": written, "rows_deleted": deleted, total: float(summed)}


def refresh_faturado(conn: Connection, scope: Scope) -> dict[str, object]:
    """Rewrite ``faturado_por_pedido`` for the partition's orders; one statement."""
    return _run_aggregate(conn, _FATURADO_SQL, scope, "qtd_faturada_total")


def refresh_separado(conn: Connection, scope: Scope) -> dict[str, object]:
    """Rewrite ``separado_por_pedido`` for the partition's orders; one statement."""
    return _run_aggregate(conn, _SEPARADO_SQL, scope, "qtd_em_separacao_total")


_SALDOS_SQL = f"""
WITH lines AS (
    SELECT c.num_pedido, c.cod_produto, c.empreendimento, c.data_pedido, c.qtd_produto_pedido,
           c.qtd_saldo_produto_pedido
    FROM carteira_principal c
    WHERE c.empreendimento = :emp AND {owns("c", "data_pedido")}
),
computed AS (
    SELECT l.empreendimento, l.num_pedido, l.cod_produto, l.data_pedido, l.qtd_produto_pedido,
           COALESCE(fat.qtd_faturada, 0) AS qtd_faturada, l.qtd_saldo_produto_pedido,
           COALESCE(sp.qtd_em_separacao, 0) AS qtd_em_separacao, COALESCE(sp.qtd_pre_separada, 0) AS qtd_pre_separada,
           l.qtd_saldo_produto_pedido - COALESCE(sp.qtd_em_separacao, 0) - COALESCE(sp.qtd_pre_separada, 0)
               AS saldo_livre
    FROM lines l
    LEFT JOIN faturado_por_pedido fat
        ON fat.empreendimento = l.empreendimento AND fat.num_pedido = l.num_pedido AND fat.cod_produto = l.cod_produto
    LEFT JOIN separado_por_pedido sp
        ON sp.empreendimento = l.empreendimento AND sp.num_pedido = l.num_pedido AND sp.cod_produto = l.cod_produto
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
