"""Set-based SQL of the faturamento graph: a constant number of statements per chunk of partitions.

``apply_partitions`` turns the staged invoice lines of a scope's partitions (``odoo_fatura_linha``,
mirrored by the extract asset) into ``faturamento_produto``, ``cadastro_palletizacao``,
``relatorio_faturamento_importado`` and the cancellation cascade, inside the caller's transaction
(one per chunk), and counts what it did per date. Writes skip unchanged rows (IS DISTINCT FROM),
so an unchanged source changes nothing.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    delete,
    func,
    not_,
    select,
    text,
)
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection

from sync_pipeline.db.schema import faturamento_produto, relatorio_faturamento_importado
from sync_pipeline.db.staging import (
    SCOPE_DAYS,
    Scope,
    count_where,
    day_of,
    day_of_column,
    owns,
    owns_any,
    per_day,
    scope_days,
)
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
# quantity-weighted unit price; a credit note's quantities, values and weights are negative. Each
# row carries its partition's date (``day``). Two documents of the scope holding one number (a
# number moved between dates of the chunk): the one of the later date holds it, as if the dates
# were synced one after the other.
_SOURCE_SQL = """
CREATE TEMPORARY TABLE fat_src ON COMMIT DROP AS
SELECT s.empreendimento, s.numero_nf, s.move_type, s.data_fatura, s.cnpj_cliente, s.nome_cliente,
       s.municipio, s.estado, s.vendedor, s.equipe_vendas, s.origem, s.cod_produto, s.nome_produto,
       s.sign * s.qtd AS qtd_produto_faturado, s.preco_produto_faturado,
       s.sign * s.valor AS valor_produto_faturado, s.peso_unitario_produto,
       s.sign * round(s.qtd * s.peso_unitario_produto, 3) AS peso_total,
       COALESCE(CAST(:status_nf AS jsonb) ->> s.move_state, CAST(:status_nf AS jsonb) ->> 'draft') AS status_nf,
       s.revertida, s.nota_credito_id, s.data_reversao, s.odoo_move_id, s.odoo_write_date, s.day,
       p.status_nf AS prev_status
FROM (SELECT g.*, first_value(g.odoo_move_id) OVER (PARTITION BY g.numero_nf ORDER BY g.day DESC, g.odoo_move_id DESC)
             AS holder
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
           min(l.data_reversao) AS data_reversao, l.odoo_move_id, max(l.odoo_write_date) AS odoo_write_date,
           min(l.partition_date) AS day
    FROM odoo_fatura_linha l
    WHERE l.empreendimento = :emp AND {owns}
    GROUP BY l.empreendimento, l.odoo_move_id, l.cod_produto, l.origem
) g) s
LEFT JOIN faturamento_produto p
       ON p.odoo_move_id = s.odoo_move_id AND p.cod_produto = s.cod_produto AND p.origem IS NOT DISTINCT FROM s.origem
WHERE s.odoo_move_id = s.holder
"""

# A number is unique only within an empreendimento, and another document may take it over (a draft
# renumbered, a document deleted and its number reused, a database synced from another source):
# rows of another document holding a number of this partition leave, so the number moves to the
# document Odoo gives it now instead of failing the partition. First-seen products are created in
# the same statement.
_TAKEOVER_AND_PRODUCTS_SQL = f"""
WITH nf AS (SELECT DISTINCT empreendimento, numero_nf, odoo_move_id, day FROM fat_src),
fat AS (
    DELETE FROM faturamento_produto f USING nf
    WHERE f.empreendimento = nf.empreendimento AND f.numero_nf = nf.numero_nf AND f.odoo_move_id <> nf.odoo_move_id
    RETURNING nf.day
),
rel AS (
    DELETE FROM relatorio_faturamento_importado r USING nf
    WHERE r.empreendimento = nf.empreendimento AND r.numero_nf = nf.numero_nf AND r.odoo_move_id <> nf.odoo_move_id
    RETURNING nf.day
),
products AS (
    INSERT INTO cadastro_palletizacao (cod_produto, nome_produto, palletizacao, peso_bruto)
    SELECT DISTINCT ON (cod_produto) cod_produto, nome_produto, 1.0, COALESCE(NULLIF(peso_unitario_produto, 0), 1.0)
    FROM fat_src
    ORDER BY cod_produto, day
    ON CONFLICT (cod_produto) DO NOTHING
    RETURNING cod_produto
),
product_days AS (  -- a product first seen on several dates counts on the first
    SELECT p.cod_produto, min(s.day) AS day FROM products p JOIN fat_src s USING (cod_produto) GROUP BY p.cod_produto
)
SELECT d.day, (SELECT count(*) FROM fat WHERE fat.day = d.day), (SELECT count(*) FROM rel WHERE rel.day = d.day),
       (SELECT count(*) FROM product_days p WHERE p.day = d.day)
FROM {SCOPE_DAYS}
"""


def _same_line(a, b) -> ColumnElement[bool]:
    """The same faturamento row: move, product and order (an NF line may name no order)."""
    return and_(
        a.odoo_move_id == b.odoo_move_id, a.cod_produto == b.cod_produto, a.origem.is_not_distinct_from(b.origem)
    )


def _fat_upsert_statement() -> Select:
    """Upsert ``fat_src`` into ``faturamento_produto``, counting per day rows inserted, rows
    updated, and rows that turned 'Cancelado' (``fat_src.prev_status``: the row's status before
    this statement, read when fat_src was made).

    One join on top of the upsert and nothing more: the planner has no statistics for the
    upsert's RETURNING rows and takes their join with fat_src for one row, so anything joined
    above it would run as nested loops (a second join there made a 100,000-line partition that
    re-writes existing rows quadratic: minutes)."""
    f = faturamento_produto
    returning = [f.c.odoo_move_id, f.c.cod_produto, f.c.origem, f.c.status_nf]
    up = upsert_statement(f, _FAT_KEY, select(*_fat_src.c), returning=returning).cte("up")
    written = select(up, _src_day.c.day, _src_day.c.prev_status).join_from(up, _src_day, _same_line(up.c, _src_day.c))
    written = written.cte("written")
    cancelado = bindparam("cancelado")
    d = scope_days()
    on_day = written.c.day == d.c.day
    return select(
        d.c.day,
        count_where(written, on_day, written.c.inserted),
        count_where(written, on_day, not_(written.c.inserted)),
        count_where(
            written, on_day, written.c.status_nf == cancelado, written.c.prev_status.is_distinct_from(cancelado)
        ),
    )


# fat_src's rows with their partition's date and the status their row had before the upsert
_src_day = sql_table(
    "fat_src", column("odoo_move_id"), column("cod_produto"), column("origem"), column("day"), column("prev_status")
).alias("src_day")


def apply_partitions(conn: Connection, scope: Scope) -> dict[date, dict[str, int]]:
    """Bring the faturamento tables of the scope's partitions in line with their staged lines:
    nine statements whatever the number of partitions and lines; counts per day."""
    params = {**scope.params(), **_rule_params()}
    conn.execute(text(_SOURCE_SQL.format(owns=owns("l", "partition_date"))), params)
    # A temporary table gets no statistics by itself (autovacuum never sees it): without them the
    # planner takes it for a few rows and nests loops over it (30,000 lines: 13 s instead of 0.1 s).
    # About a millisecond for a small chunk: always, so the statements stay the same for every chunk.
    conn.execute(text("ANALYZE fat_src"))

    taken = per_day(
        conn.execute(text(_TAKEOVER_AND_PRODUCTS_SQL), params),
        ("rows_of_taken_numbers", "numbers_taken_over", "products_created"),
    )
    written = per_day(conn.execute(_fat_upsert_statement(), params), ("inserted", "updated", "cancelled"))

    # Rows of the partitions that the source no longer has (a deleted draft, a removed line, a line
    # linked to another order); an NF with a line set aside keeps its rows until the line is accepted.
    deleted = per_day(
        conn.execute(
            text(
                f"""
                WITH gone AS (
                    DELETE FROM faturamento_produto f
                    WHERE f.empreendimento = :emp AND {owns("f", "data_fatura")}
                      AND NOT EXISTS (SELECT 1 FROM fat_src s
                                      WHERE s.odoo_move_id = f.odoo_move_id AND s.cod_produto = f.cod_produto
                                        AND s.origem IS NOT DISTINCT FROM f.origem)
                      AND NOT EXISTS (SELECT 1 FROM sync_rejeitado r
                                      WHERE r.model = 'account.move.line' AND r.parent_id = f.odoo_move_id)
                    RETURNING {day_of("f", "data_fatura")} AS day
                )
                SELECT d.day, (SELECT count(*) FROM gone WHERE gone.day = d.day) FROM {SCOPE_DAYS}
                """
            ),
            params,
        ),
        ("deleted",),
    )
    cascade = per_day(
        conn.execute(text(_CANCEL_CASCADE_SQL), params),
        ("movimentacao_cancelled", "embarque_cleared", "separacao_released"),
    )
    invoiced = per_day(
        conn.execute(text(_INVOICE_SEPARACAO_SQL), params),
        ("separacao_invoiced", "movimentacao_written", "movimentacao_reactivated"),
    )
    relatorio = per_day(conn.execute(_relatorio_statement(), params), ("relatorio_upserted", "relatorio_deleted"))
    out = {}
    for day in scope.days:
        counts = taken[day] | written[day] | deleted[day] | cascade[day] | invoiced[day] | relatorio[day]
        counts["movimentacao_written"] += counts.pop("movimentacao_reactivated")
        out[day] = counts
    return out


# What apply_partitions counts for each day.
COUNTS = (
    "rows_of_taken_numbers",
    "numbers_taken_over",
    "products_created",
    "inserted",
    "updated",
    "cancelled",
    "deleted",
    "movimentacao_cancelled",
    "embarque_cleared",
    "separacao_released",
    "separacao_invoiced",
    "movimentacao_written",
    "relatorio_upserted",
    "relatorio_deleted",
)


def has_rows(conn: Connection, scope: Scope) -> bool:
    """Whether the scope holds anything to bring in line: staged lines, faturamento rows or NFs
    of its dates. One query; a scope without any has nothing to do."""
    return owns_any(
        conn,
        scope,
        ("odoo_fatura_linha", "partition_date"),
        ("faturamento_produto", "data_fatura"),
        ("relatorio_faturamento_importado", "data_fatura"),
    )


def apply_partition(conn: Connection, scope: Scope) -> dict[str, int]:
    """``apply_partitions`` for a scope of one day: that day's counts."""
    (counts,) = apply_partitions(conn, scope).values()
    return counts


# The operational app's tables carry no empreendimento: an NF there is told apart by its number AND
# its order (NF numbers repeat across companies; order numbers only where Odoo numbers them per
# company). An order whose number another empreendimento also stages is ambiguous: its decisions are
# left alone (reported by the carteira as a reject, see db/ambiguity.py). A row without an order
# matches by NF number alone only where no other empreendimento has that number.
_NF_ORDERS_SQL = """
    SELECT DISTINCT s.numero_nf, s.origem, s.day,
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
    RETURNING canc.day
),
emb AS (
    UPDATE embarque_itens e SET nota_fiscal = NULL, erro_validacao = 'NF cancelada no Odoo'
    FROM canc WHERE e.nota_fiscal = canc.numero_nf
      AND (e.pedido = canc.origem OR (e.pedido IS NULL AND NOT canc.nf_ambiguous))
    RETURNING canc.day
),
sep AS (
    UPDATE separacao s SET numero_nf = NULL, sincronizado_nf = false
    FROM canc WHERE s.numero_nf = canc.numero_nf AND s.num_pedido = canc.origem
    RETURNING canc.day
)
SELECT d.day, (SELECT count(*) FROM mov WHERE mov.day = d.day), (SELECT count(*) FROM emb WHERE emb.day = d.day),
       (SELECT count(*) FROM sep WHERE sep.day = d.day)
FROM {SCOPE_DAYS}
"""

# Invoicing an open separação (§5.1): a posted NF marks the rows of one open lot of each order it
# invoices (the lot holding most of its products, then the oldest) as invoiced, and writes the
# stock movements — re-activating those of an NF that was cancelled and posted again. Without it an
# invoiced quantity would count twice (invoiced and still in separação).
_INVOICE_SEPARACAO_SQL = f"""
WITH nfs AS ({_NF_ORDERS_SQL.format(status="s.status_nf = :lancado AND NOT s.revertida AND s.origem IS NOT NULL")}),
items AS (
    SELECT s.numero_nf, s.origem, s.cod_produto, s.nome_produto, s.data_fatura, s.qtd_produto_faturado, s.day
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
    RETURNING s.separacao_lote_id, s.num_pedido, s.cod_produto, s.numero_nf, i.day
),
reactivated AS (
    UPDATE movimentacao_estoque m SET status_nf = 'FATURADO', ativo = true
    FROM nfs WHERE m.numero_nf = nfs.numero_nf AND m.num_pedido = nfs.origem
      AND m.tipo_movimentacao = 'FATURAMENTO' AND NOT m.ativo
    RETURNING nfs.day
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
    RETURNING numero_nf, num_pedido, cod_produto
),
written_days AS (
    SELECT i.day FROM written w
    JOIN items i ON i.numero_nf = w.numero_nf AND i.origem = w.num_pedido AND i.cod_produto = w.cod_produto
)
SELECT d.day, (SELECT count(*) FROM marked WHERE marked.day = d.day),
       (SELECT count(*) FROM written_days w WHERE w.day = d.day),
       (SELECT count(*) FROM reactivated r WHERE r.day = d.day)
FROM {SCOPE_DAYS}
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
    """Upsert the scope's NFs into relatorio_faturamento_importado and remove the NFs that left
    it; counts both per day."""
    r = relatorio_faturamento_importado
    nf = text(_RELATORIO_NF_SQL).columns(*(column(c) for c in _RELATORIO_COLUMNS)).cte("nf")
    up = upsert_statement(r, "odoo_move_id", select(*nf.c), returning=[r.c.odoo_move_id]).cte("up")
    moves = select(_src_day.c.odoo_move_id, func.min(_src_day.c.day).label("day")).group_by(_src_day.c.odoo_move_id)
    moves = moves.cte("moves")
    lines = select(faturamento_produto.c.odoo_move_id).where(faturamento_produto.c.odoo_move_id == r.c.odoo_move_id)
    gone = (
        delete(r)
        .where(r.c.empreendimento == bindparam("emp"), text(owns(r.name, "data_fatura")), ~lines.exists())
        .returning(day_of_column(r.c.data_fatura).label("day"))
        .cte("gone")
    )
    d = scope_days()
    upserted = select(moves.c.day).join_from(up, moves, moves.c.odoo_move_id == up.c.odoo_move_id).cte("upserted")
    return select(d.c.day, count_where(upserted, upserted.c.day == d.c.day), count_where(gone, gone.c.day == d.c.day))


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
