"""Set-based SQL of the faturamento graph: a constant number of statements per partition.

``apply_partition`` turns one partition's staged invoice lines (``odoo_fatura_linha``, mirrored by
the extract asset) into ``faturamento_produto``, ``cadastro_palletizacao``,
``relatorio_faturamento_importado`` and the cancellation cascade, inside the caller's transaction
(one per partition). Writes skip unchanged rows (IS DISTINCT FROM), so an unchanged source changes
nothing.
"""

from __future__ import annotations

import json

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    delete,
    func,
    literal_column,
    not_,
    select,
    text,
)
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection

from sync_pipeline.db.schema import faturamento_produto, relatorio_faturamento_importado
from sync_pipeline.db.staging import Scope, owns
from sync_pipeline.db.upsert import upsert_statement
from sync_pipeline.domain.faturamento import CANCELADO, INVOICE, LANCADO, QUANTITY_SIGN, STATUS_NF
from sync_pipeline.domain.hierarchy import OPEN_STATUSES

# --- faturamento_produto and friends -----------------------------------------------------------------

# Every column the sync writes (the key included); id and the timestamps are the database's.
_MANAGED = ("id", "created_at", "updated_at")
_FAT_COLUMNS = [c.name for c in faturamento_produto.columns if c.name not in _MANAGED]
# the row's identity: the Odoo document, the product, and the order the lines invoice
_FAT_KEY = "uq_faturamento_move_produto_origem"
_fat_src = sql_table("fat_src", *(column(c) for c in _FAT_COLUMNS))


def _rule_params() -> dict:
    """The rules of DESIGN §5.1 the SQL applies, from their one home in ``domain.faturamento``."""
    return {
        "status_nf": json.dumps(STATUS_NF),
        "sign": json.dumps(QUANTITY_SIGN),
        "cancelado": CANCELADO,
        "lancado": LANCADO,
        "invoice": INVOICE,
        "open_statuses": list(OPEN_STATUSES),
    }


# One source row per (move, product, order): duplicate lines of a product for one order in one NF
# are summed (lines of one product for different orders stay apart); the price is the
# quantity-weighted unit price; a credit note's quantities, values and weights are negative.
_SOURCE_SQL = """
CREATE TEMPORARY TABLE fat_src ON COMMIT DROP AS
SELECT s.empreendimento, s.numero_nf, s.move_type, s.data_fatura, s.cnpj_cliente, s.nome_cliente,
       s.municipio, s.estado, s.vendedor, s.equipe_vendas, s.origem, s.cod_produto, s.nome_produto,
       s.sign * s.qtd AS qtd_produto_faturado, s.preco_produto_faturado,
       s.sign * s.valor AS valor_produto_faturado, s.peso_unitario_produto,
       s.sign * round(s.qtd * s.peso_unitario_produto, 3) AS peso_total,
       COALESCE(CAST(:status_nf AS jsonb) ->> s.move_state, CAST(:status_nf AS jsonb) ->> 'draft') AS status_nf,
       s.revertida, s.nota_credito_id, s.data_reversao, s.odoo_move_id, s.odoo_write_date
FROM (
    SELECT l.empreendimento, min(l.numero_nf) AS numero_nf, min(l.move_type) AS move_type,
           min(l.data_fatura) AS data_fatura, min(l.cnpj_cliente) AS cnpj_cliente,
           min(l.nome_cliente) AS nome_cliente, min(l.municipio) AS municipio, min(l.estado) AS estado,
           min(l.vendedor) AS vendedor, min(l.equipe_vendas) AS equipe_vendas, l.origem, l.cod_produto,
           min(l.nome_produto) AS nome_produto, sum(l.quantidade) AS qtd,
           CASE WHEN sum(l.quantidade) = 0 THEN max(l.preco_unitario)
                ELSE round(sum(l.quantidade * l.preco_unitario) / sum(l.quantidade), 4)
           END AS preco_produto_faturado,
           sum(l.valor_total) AS valor, max(l.peso_unitario) AS peso_unitario_produto,
           min(l.move_state) AS move_state,
           COALESCE(CAST(CAST(:sign AS jsonb) ->> min(l.move_type) AS int), 1) AS sign,
           (min(l.nota_credito_id) IS NOT NULL) AS revertida, min(l.nota_credito_id) AS nota_credito_id,
           min(l.data_reversao) AS data_reversao, l.odoo_move_id, max(l.odoo_write_date) AS odoo_write_date
    FROM odoo_fatura_linha l
    WHERE l.empreendimento = :emp AND {owns}
    GROUP BY l.empreendimento, l.odoo_move_id, l.cod_produto, l.origem
) s
"""

# A number is unique only within an empreendimento, and another document may take it over (a draft
# renumbered, a document deleted and its number reused, a database synced from another source):
# rows of another document holding a number of this partition leave, so the number moves to the
# document Odoo gives it now instead of failing the partition. First-seen products are created in
# the same statement.
_TAKEOVER_AND_PRODUCTS_SQL = """
WITH nf AS (SELECT DISTINCT empreendimento, numero_nf, odoo_move_id FROM fat_src),
fat AS (
    DELETE FROM faturamento_produto f USING nf
    WHERE f.empreendimento = nf.empreendimento AND f.numero_nf = nf.numero_nf AND f.odoo_move_id <> nf.odoo_move_id
    RETURNING 1
),
rel AS (
    DELETE FROM relatorio_faturamento_importado r USING nf
    WHERE r.empreendimento = nf.empreendimento AND r.numero_nf = nf.numero_nf AND r.odoo_move_id <> nf.odoo_move_id
    RETURNING 1
),
products AS (
    INSERT INTO cadastro_palletizacao (cod_produto, nome_produto, palletizacao, peso_bruto)
    SELECT DISTINCT ON (cod_produto) cod_produto, nome_produto, 1.0, COALESCE(NULLIF(peso_unitario_produto, 0), 1.0)
    FROM fat_src
    ORDER BY cod_produto
    ON CONFLICT (cod_produto) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM fat), (SELECT count(*) FROM rel), (SELECT count(*) FROM products)
"""


def _same_line(a, b) -> ColumnElement[bool]:
    """The same faturamento row: move, product and order (an NF line may name no order)."""
    return and_(
        a.odoo_move_id == b.odoo_move_id, a.cod_produto == b.cod_produto, a.origem.is_not_distinct_from(b.origem)
    )


def _fat_upsert_statement() -> Select:
    """Upsert ``fat_src`` into ``faturamento_produto``, counting rows inserted, rows updated, and rows
    that turned 'Cancelado' (``prev``: the rows as they were before this statement)."""
    f = faturamento_produto
    prev = select(f.c.odoo_move_id, f.c.cod_produto, f.c.origem, f.c.status_nf).join(
        _fat_src, _same_line(f.c, _fat_src.c)
    )
    prev = prev.cte("prev")
    returning = [f.c.odoo_move_id, f.c.cod_produto, f.c.origem, f.c.status_nf]
    up = upsert_statement(f, _FAT_KEY, select(*_fat_src.c), returning=returning).cte("up")
    cancelado = bindparam("cancelado")
    return select(
        func.count().filter(up.c.inserted),
        func.count().filter(not_(up.c.inserted)),
        func.count().filter(and_(up.c.status_nf == cancelado, prev.c.status_nf.is_distinct_from(cancelado))),
    ).select_from(up.outerjoin(prev, _same_line(prev.c, up.c)))


def apply_partition(conn: Connection, scope: Scope) -> dict[str, int]:
    """Bring one partition's faturamento tables in line with its staged lines."""
    params = {**scope.params(), **_rule_params()}
    conn.execute(text(_SOURCE_SQL.format(owns=owns("l", "partition_date"))), params)

    taken_rows, taken_nfs, products_created = conn.execute(text(_TAKEOVER_AND_PRODUCTS_SQL)).one()

    counts = conn.execute(_fat_upsert_statement(), {"cancelado": CANCELADO}).one()

    # Rows of the partition that the source no longer has (a deleted draft, a removed line, a line
    # linked to another order); an NF with a line set aside keeps its rows until the line is accepted.
    deleted = conn.execute(
        text(
            f"""
            DELETE FROM faturamento_produto f
            WHERE f.empreendimento = :emp AND {owns("f", "data_fatura")}
              AND NOT EXISTS (SELECT 1 FROM fat_src s
                              WHERE s.odoo_move_id = f.odoo_move_id AND s.cod_produto = f.cod_produto
                                AND s.origem IS NOT DISTINCT FROM f.origem)
              AND NOT EXISTS (SELECT 1 FROM sync_rejeitado r
                              WHERE r.model = 'account.move.line' AND r.parent_id = f.odoo_move_id)
            """
        ),
        params,
    ).rowcount

    cascade = conn.execute(text(_CANCEL_CASCADE_SQL), params).one()
    invoiced = conn.execute(text(_INVOICE_SEPARACAO_SQL), params).one()

    relatorio = conn.execute(_relatorio_statement(), params).one()
    return {
        "inserted": counts[0],
        "updated": counts[1],
        "cancelled": counts[2],
        "deleted": deleted,
        "numbers_taken_over": taken_nfs,
        "rows_of_taken_numbers": taken_rows,
        "products_created": products_created,
        "movimentacao_cancelled": cascade[0],
        "embarque_cleared": cascade[1],
        "separacao_released": cascade[2],
        "separacao_invoiced": invoiced[0],
        "movimentacao_written": invoiced[1] + invoiced[2],
        "relatorio_upserted": relatorio[0],
        "relatorio_deleted": relatorio[1],
    }


# The operational app's tables carry no empreendimento: an NF there is told apart by its number AND
# its order (NF numbers repeat across companies; order numbers only where Odoo numbers them per
# company). An order whose number another empreendimento also stages is ambiguous: its decisions are
# left alone (reported by the carteira as a reject, see db/ambiguity.py). A row without an order
# matches by NF number alone only where no other empreendimento has that number.
_NF_ORDERS_SQL = """
    SELECT DISTINCT s.numero_nf, s.origem,
           EXISTS (SELECT 1 FROM faturamento_produto f2
                   WHERE f2.numero_nf = s.numero_nf AND f2.empreendimento <> :emp) AS nf_ambiguous
    FROM fat_src s
    WHERE s.move_type = :invoice AND {status}
      AND NOT EXISTS (SELECT 1 FROM odoo_pedido_linha o
                      WHERE o.num_pedido = s.origem AND o.empreendimento <> :emp)
"""

# Cancellation (§5.1) for every cancelled NF of the partition, in one statement; each UPDATE
# only touches rows not yet in the cancelled state, so a repeat is a no-op.
_CANCEL_CASCADE_SQL = f"""
WITH canc AS ({_NF_ORDERS_SQL.format(status="s.status_nf = :cancelado")}),
mov AS (
    UPDATE movimentacao_estoque m SET status_nf = 'CANCELADO', ativo = false
    FROM canc WHERE m.numero_nf = canc.numero_nf
      AND (m.num_pedido = canc.origem OR (m.num_pedido IS NULL AND NOT canc.nf_ambiguous))
      AND (m.status_nf IS DISTINCT FROM 'CANCELADO' OR m.ativo)
    RETURNING 1
),
emb AS (
    UPDATE embarque_itens e SET nota_fiscal = NULL, erro_validacao = 'NF cancelada no Odoo'
    FROM canc WHERE e.nota_fiscal = canc.numero_nf
      AND (e.pedido = canc.origem OR (e.pedido IS NULL AND NOT canc.nf_ambiguous))
    RETURNING 1
),
sep AS (
    UPDATE separacao s SET numero_nf = NULL, sincronizado_nf = false
    FROM canc WHERE s.numero_nf = canc.numero_nf AND s.num_pedido = canc.origem
    RETURNING 1
)
SELECT (SELECT count(*) FROM mov), (SELECT count(*) FROM emb), (SELECT count(*) FROM sep)
"""

# Invoicing an open separação (§5.1): a posted NF marks the rows of one open lot of each order it
# invoices (the lot holding most of its products, then the oldest) as invoiced, and writes the
# stock movements — re-activating those of an NF that was cancelled and posted again. Without it an
# invoiced quantity would count twice (invoiced and still in separação).
_INVOICE_SEPARACAO_SQL = f"""
WITH nfs AS ({_NF_ORDERS_SQL.format(status="s.status_nf = :lancado AND NOT s.revertida AND s.origem IS NOT NULL")}),
items AS (
    SELECT s.numero_nf, s.origem, s.cod_produto, s.nome_produto, s.data_fatura, s.qtd_produto_faturado
    FROM fat_src s JOIN nfs ON nfs.numero_nf = s.numero_nf AND nfs.origem = s.origem
    WHERE s.move_type = :invoice
),
cand AS (
    SELECT i.numero_nf, i.origem, s.separacao_lote_id AS lote, count(*) AS overlap, min(s.id) AS first_id
    FROM items i JOIN separacao s ON s.num_pedido = i.origem AND s.cod_produto = i.cod_produto
    WHERE NOT s.sincronizado_nf AND upper(s.status) = ANY(:open_statuses)
    GROUP BY i.numero_nf, i.origem, s.separacao_lote_id
),
chosen AS (
    SELECT DISTINCT ON (numero_nf, origem) numero_nf, origem, lote FROM cand
    ORDER BY numero_nf, origem, overlap DESC, first_id
),
marked AS (
    UPDATE separacao s SET sincronizado_nf = true, numero_nf = c.numero_nf
    FROM chosen c JOIN items i ON i.numero_nf = c.numero_nf AND i.origem = c.origem
    WHERE s.separacao_lote_id = c.lote AND s.num_pedido = i.origem AND s.cod_produto = i.cod_produto
      AND NOT s.sincronizado_nf
    RETURNING s.separacao_lote_id, s.num_pedido, s.cod_produto, s.numero_nf
),
reactivated AS (
    UPDATE movimentacao_estoque m SET status_nf = 'FATURADO', ativo = true
    FROM nfs WHERE m.numero_nf = nfs.numero_nf AND m.num_pedido = nfs.origem
      AND m.tipo_movimentacao = 'FATURAMENTO' AND NOT m.ativo
    RETURNING 1
),
written AS (
    INSERT INTO movimentacao_estoque (cod_produto, nome_produto, data_movimentacao, tipo_movimentacao,
        local_movimentacao, qtd_movimentacao, numero_nf, num_pedido, separacao_lote_id, status_nf, ativo)
    SELECT i.cod_produto, i.nome_produto, i.data_fatura, 'FATURAMENTO', 'VENDA', -i.qtd_produto_faturado,
           i.numero_nf, i.origem, mk.separacao_lote_id, 'FATURADO', true
    FROM marked mk JOIN items i ON i.numero_nf = mk.numero_nf AND i.origem = mk.num_pedido
                               AND i.cod_produto = mk.cod_produto
    WHERE NOT EXISTS (SELECT 1 FROM movimentacao_estoque m
                      WHERE m.numero_nf = i.numero_nf AND m.num_pedido = i.origem AND m.cod_produto = i.cod_produto
                        AND m.tipo_movimentacao = 'FATURAMENTO')
    RETURNING 1
)
SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM written), (SELECT count(*) FROM reactivated)
"""

# One row per NF of the partition (valor_total = Σ valor, peso_bruto = Σ peso; origem: the orders it
# invoices), in relatorio_faturamento_importado's column order.
_RELATORIO_COLUMNS = [c.name for c in relatorio_faturamento_importado.columns if c.name not in _MANAGED]
_RELATORIO_NF_SQL = """
SELECT min(f.numero_nf) AS numero_nf, f.odoo_move_id, min(f.empreendimento) AS empreendimento,
       min(f.move_type) AS move_type, min(f.data_fatura) AS data_fatura,
       min(f.cnpj_cliente) AS cnpj_cliente, min(f.nome_cliente) AS nome_cliente,
       min(f.municipio) AS municipio, min(f.estado) AS estado, min(f.vendedor) AS vendedor,
       min(f.equipe_vendas) AS equipe_vendas,
       left(string_agg(DISTINCT f.origem, ', ' ORDER BY f.origem), 64) AS origem,
       sum(f.valor_produto_faturado) AS valor_total, sum(f.peso_total) AS peso_bruto,
       min(f.status_nf) AS status_nf, bool_and(f.status_nf <> :cancelado) AS ativo
FROM faturamento_produto f
WHERE f.odoo_move_id IN (SELECT odoo_move_id FROM fat_src)
GROUP BY f.odoo_move_id
"""


def _relatorio_statement() -> Select:
    """Upsert the partition's NFs into relatorio_faturamento_importado and remove the NFs that left
    it; counts both."""
    r = relatorio_faturamento_importado
    nf = text(_RELATORIO_NF_SQL).columns(*(column(c) for c in _RELATORIO_COLUMNS)).cte("nf")
    up = upsert_statement(r, "odoo_move_id", select(*nf.c)).cte("up")
    lines = select(faturamento_produto.c.odoo_move_id).where(faturamento_produto.c.odoo_move_id == r.c.odoo_move_id)
    gone = (
        delete(r)
        .where(r.c.empreendimento == bindparam("emp"), text(owns(r.name, "data_fatura")), ~lines.exists())
        .returning(literal_column("1"))
        .cte("gone")
    )
    return select(
        select(func.count()).select_from(up).scalar_subquery(),
        select(func.count()).select_from(gone).scalar_subquery(),
    )


def relatorio_mismatches(engine, limit: int = 20) -> list[str]:
    """NFs whose relatorio_faturamento_importado total differs from the sum of their lines."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('faturamento_produto') IS NOT NULL")).scalar():
            return []
        return list(
            conn.execute(
                text(
                    """
                    SELECT r.empreendimento || ' ' || r.numero_nf FROM relatorio_faturamento_importado r
                    JOIN (SELECT odoo_move_id, sum(valor_produto_faturado) AS v
                          FROM faturamento_produto GROUP BY odoo_move_id) f USING (odoo_move_id)
                    WHERE r.valor_total <> f.v LIMIT :limit
                    """
                ),
                {"limit": limit},
            ).scalars()
        )
