"""The operational tables (DESIGN §5), the staging tables of the extract assets, and rejects.

Table and column names are the operational application's contract (Portuguese, as given in the
design). Tables the application owns may already exist with more columns: ``create_schema`` only
creates what is missing (``checkfirst``), and the sync reads and writes only the columns named here.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

metadata = MetaData()

QTY = Numeric(15, 3)
MONEY = Numeric(15, 2)
PRICE = Numeric(15, 4)


def _timestamps() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _staged_at() -> list[Column]:
    """When the staged row last changed (set by the mirror): lets a transform skip rows whose
    source did not change since it last wrote them."""
    return [Column("staged_at", DateTime(timezone=True), nullable=False, server_default=func.now())]


def _nf_header() -> list[Column]:
    """Who an NF was for and who sold it, as every NF-level table stores it."""
    return [
        Column("cnpj_cliente", String(20)),
        Column("nome_cliente", String(255)),
        Column("municipio", String(100)),
        Column("estado", String(2)),
        Column("vendedor", String(100)),
        Column("equipe_vendas", String(100)),
        Column("origem", String(64)),
    ]


# --- staging: what the extract assets read from Odoo, one row per invoice product line ----------
odoo_fatura_linha = Table(
    "odoo_fatura_linha",
    metadata,
    Column("odoo_line_id", Integer, primary_key=True),
    Column("odoo_move_id", Integer, nullable=False),
    Column("empreendimento", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("numero_nf", String(64), nullable=False),
    Column("move_type", String(16), nullable=False, server_default="out_invoice"),
    Column("move_state", String(16), nullable=False),
    Column("data_fatura", Date),
    *_nf_header(),  # origem: the order of the line's sale_line_ids, else the invoice's invoice_origin
    Column("cod_produto", String(64), nullable=False),
    Column("nome_produto", String(255)),
    Column("quantidade", QTY, nullable=False),
    Column("preco_unitario", PRICE),
    Column("valor_total", MONEY),
    Column("peso_unitario", QTY),
    Column("nota_credito_id", Integer),
    Column("data_reversao", Date),
    Column("odoo_write_date", DateTime),
    *_staged_at(),
    Index("ix_odoo_fatura_linha_partition", "empreendimento", "partition_date"),
    Index("ix_odoo_fatura_linha_move", "odoo_move_id"),
)

# staging: sale order lines as read from Odoo, one row per sale.order.line (product lines only)
odoo_pedido_linha = Table(
    "odoo_pedido_linha",
    metadata,
    Column("odoo_line_id", Integer, primary_key=True),
    Column("odoo_order_id", Integer, nullable=False),
    Column("empreendimento", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("num_pedido", String(64), nullable=False),
    Column("order_state", String(16), nullable=False),
    Column("data_pedido", Date),
    Column("data_entrega_pedido", Date),
    Column("cnpj_cpf", String(20)),
    Column("raz_social", String(255)),
    Column("municipio", String(100)),
    Column("estado", String(2)),
    Column("vendedor", String(100)),
    Column("equipe_vendas", String(100)),
    Column("pedido_cliente", String(100)),
    Column("cod_produto", String(64), nullable=False),
    Column("nome_produto", String(255)),
    Column("qtd_produto_pedido", QTY, nullable=False),
    Column("qtd_entregue", QTY),
    Column("qtd_faturada_odoo", QTY),
    Column("preco_produto_pedido", PRICE),
    Column("odoo_write_date", DateTime),
    *_staged_at(),
    Index("ix_odoo_pedido_linha_partition", "empreendimento", "partition_date"),
    # num_pedido first: also finds the same number in another empreendimento (ambiguity, §5)
    Index("ix_odoo_pedido_linha_pedido", "num_pedido", "empreendimento", "cod_produto"),
    Index("ix_odoo_pedido_linha_order", "odoo_order_id"),
)

# --- faturamento (§5.1) -----------------------------------------------------------------------------
faturamento_produto = Table(
    "faturamento_produto",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("empreendimento", String(64), nullable=False),
    Column("numero_nf", String(64), nullable=False),
    Column("move_type", String(16), nullable=False, server_default="out_invoice"),
    Column("data_fatura", Date),
    *_nf_header(),
    Column("cod_produto", String(64), nullable=False),
    Column("nome_produto", String(255)),
    # signed: a credit note's rows are negative, so Σ over an order is Odoo's qty_invoiced
    Column("qtd_produto_faturado", QTY, nullable=False),
    Column("preco_produto_faturado", PRICE),
    Column("valor_produto_faturado", MONEY),
    Column("peso_unitario_produto", QTY),
    Column("peso_total", QTY),
    Column("status_nf", String(20), nullable=False),
    Column("revertida", Boolean, nullable=False, server_default=text("false")),
    Column("nota_credito_id", Integer),
    Column("data_reversao", Date),
    Column("odoo_move_id", Integer, nullable=False),
    Column("odoo_write_date", DateTime),
    *_timestamps(),
    # Numbers are unique only within an empreendimento (Odoo numbers invoices per company), and
    # one NF may invoice several orders (one row per order and product). origem may be NULL.
    UniqueConstraint(
        "empreendimento",
        "numero_nf",
        "cod_produto",
        "origem",
        name="uq_faturamento_emp_nf_produto_origem",
        postgresql_nulls_not_distinct=True,
    ),
    UniqueConstraint(
        "odoo_move_id",
        "cod_produto",
        "origem",
        name="uq_faturamento_move_produto_origem",
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_faturamento_origem_produto", "origem", "cod_produto"),
    Index("ix_faturamento_numero_nf", "numero_nf"),
    Index("ix_faturamento_data_status", "data_fatura", "status_nf"),
    Index("ix_faturamento_empreendimento_data", "empreendimento", "data_fatura"),
)

relatorio_faturamento_importado = Table(
    "relatorio_faturamento_importado",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("numero_nf", String(64), nullable=False),
    Column("odoo_move_id", Integer, nullable=False, unique=True),
    Column("empreendimento", String(64), nullable=False),
    Column("move_type", String(16), nullable=False, server_default="out_invoice"),
    Column("data_fatura", Date),
    *_nf_header(),
    Column("valor_total", MONEY, nullable=False),
    Column("peso_bruto", QTY, nullable=False),
    Column("status_nf", String(20), nullable=False),
    Column("ativo", Boolean, nullable=False, server_default=text("true")),
    *_timestamps(),
    UniqueConstraint("empreendimento", "numero_nf", name="uq_relatorio_emp_nf"),
    Index("ix_relatorio_empreendimento_data", "empreendimento", "data_fatura"),
)

cadastro_palletizacao = Table(
    "cadastro_palletizacao",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cod_produto", String(64), nullable=False, unique=True),
    Column("nome_produto", String(255)),
    Column("palletizacao", QTY, nullable=False),
    Column("peso_bruto", QTY, nullable=False),
    *_timestamps(),
)

# --- operational decisions (owned by the operational application) -------------------------------
separacao = Table(
    "separacao",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("separacao_lote_id", String(64), nullable=False),
    Column("num_pedido", String(64), nullable=False),
    Column("cod_produto", String(64), nullable=False),
    Column("qtd_saldo", QTY, nullable=False),
    Column("status", String(20), nullable=False, server_default="ABERTO"),
    Column("tipo_envio", String(10), server_default="total"),
    Column("sincronizado_nf", Boolean, nullable=False, server_default=text("false")),
    Column("numero_nf", String(64)),
    Column("criado_em", DateTime(timezone=True), server_default=func.now()),
    Index("ix_separacao_pedido_produto", "num_pedido", "cod_produto"),
    Index("ix_separacao_numero_nf", "numero_nf"),
    Index("ix_separacao_lote", "separacao_lote_id"),
)

pre_separacao_item = Table(
    "pre_separacao_item",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("num_pedido", String(64), nullable=False),
    Column("cod_produto", String(64), nullable=False),
    Column("qtd_selecionada_usuario", QTY, nullable=False),
    Column("status", String(20), nullable=False, server_default="CRIADO"),
    Column("data_criacao", DateTime(timezone=True), server_default=func.now()),
    Index("ix_pre_separacao_pedido_produto", "num_pedido", "cod_produto"),
)

embarque_itens = Table(
    "embarque_itens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("embarque_id", Integer),
    Column("separacao_lote_id", String(64)),
    Column("pedido", String(64)),
    Column("nota_fiscal", String(64)),
    Column("erro_validacao", String(255)),
    Column("status", String(20), nullable=False, server_default="ativo"),
    Index("ix_embarque_itens_nota_fiscal", "nota_fiscal"),
    Index("ix_embarque_itens_pedido", "pedido"),
)

movimentacao_estoque = Table(
    "movimentacao_estoque",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cod_produto", String(64), nullable=False),
    Column("nome_produto", String(255)),
    Column("data_movimentacao", Date),
    Column("tipo_movimentacao", String(32)),
    Column("local_movimentacao", String(32)),
    Column("qtd_movimentacao", QTY),
    Column("numero_nf", String(64)),
    Column("num_pedido", String(64)),
    Column("separacao_lote_id", String(64)),
    Column("status_nf", String(20)),
    Column("ativo", Boolean, nullable=False, server_default=text("true")),
    Column("criado_em", DateTime(timezone=True), server_default=func.now()),
    Index("ix_movimentacao_numero_nf", "numero_nf"),
)

# --- carteira (§5.2, §5.3) -------------------------------------------------------------------------
carteira_principal = Table(
    "carteira_principal",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("empreendimento", String(64), nullable=False),
    Column("num_pedido", String(64), nullable=False),
    Column("cod_produto", String(64), nullable=False),
    Column("data_pedido", Date),
    Column("status_pedido", String(30)),
    Column("cnpj_cpf", String(20)),
    Column("raz_social", String(255)),
    Column("municipio", String(100)),
    Column("estado", String(2)),
    Column("vendedor", String(100)),
    Column("equipe_vendas", String(100)),
    Column("pedido_cliente", String(100)),
    Column("data_entrega_pedido", Date),
    Column("nome_produto", String(255)),
    Column("qtd_produto_pedido", QTY, nullable=False),
    Column("qtd_saldo_produto_pedido", QTY, nullable=False),
    Column("qtd_cancelada_produto_pedido", QTY, server_default=text("0")),
    Column("preco_produto_pedido", PRICE),
    Column("odoo_order_id", Integer),
    Column("odoo_write_date", DateTime),
    *_timestamps(),
    UniqueConstraint("empreendimento", "num_pedido", "cod_produto", name="uq_carteira_emp_pedido_produto"),
    Index("ix_carteira_pedido", "num_pedido"),
    Index("ix_carteira_empreendimento_data", "empreendimento", "data_pedido"),
)

# Saldos (§5.2) of the carteira's open lines, per partition: what logistics plans against.
carteira_saldo = Table(
    "carteira_saldo",
    metadata,
    Column("empreendimento", String(64), primary_key=True),
    Column("num_pedido", String(64), primary_key=True),
    Column("cod_produto", String(64), primary_key=True),
    Column("data_pedido", Date),
    Column("qtd_produto_pedido", QTY, nullable=False),
    Column("qtd_faturada", QTY, nullable=False),
    Column("qtd_saldo_produto_pedido", QTY, nullable=False),
    Column("qtd_em_separacao", QTY, nullable=False),
    Column("qtd_pre_separada", QTY, nullable=False),
    Column("saldo_livre", QTY, nullable=False),
    *_timestamps(),
    Index("ix_carteira_saldo_empreendimento_data", "empreendimento", "data_pedido"),
)

# The aggregated saldos the carteira diff starts from (DESIGN §3, §5.2), one row per order and
# product of the partition's orders (an order belongs to the partition that stages it, or, staged
# nowhere, to the partition of its carteira rows); `partition_date` is that partition's date.
faturado_por_pedido = Table(
    "faturado_por_pedido",
    metadata,
    Column("empreendimento", String(64), primary_key=True),
    Column("num_pedido", String(64), primary_key=True),
    Column("cod_produto", String(64), primary_key=True),
    Column("partition_date", Date, nullable=False),
    Column("qtd_faturada", QTY, nullable=False),  # Σ invoiced − Σ refunded, not cancelled: Odoo's qty_invoiced
    Column("notas", Integer, nullable=False),  # NFs (invoices and credit notes) counted
    *_timestamps(),
    Index("ix_faturado_por_pedido_data", "empreendimento", "partition_date"),
)

separado_por_pedido = Table(
    "separado_por_pedido",
    metadata,
    Column("empreendimento", String(64), primary_key=True),
    Column("num_pedido", String(64), primary_key=True),
    Column("cod_produto", String(64), primary_key=True),
    Column("partition_date", Date, nullable=False),
    Column("qtd_em_separacao", QTY, nullable=False),  # Σ separação not yet invoiced
    Column("qtd_pre_separada", QTY, nullable=False),  # Σ pré-separações not yet sent
    *_timestamps(),
    Index("ix_separado_por_pedido_data", "empreendimento", "partition_date"),
)

carteira_diff = Table(
    "carteira_diff",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("partition_key", String(128), nullable=False),
    Column("empreendimento", String(64)),
    Column("num_pedido", String(64), nullable=False),
    Column("cod_produto", String(64), nullable=False),
    Column("tipo", String(16), nullable=False),
    Column("qtd_antes", QTY),
    Column("qtd_depois", QTY),
    Column("delta", QTY),
    Column("absorcao", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_carteira_diff_run", "run_id"),
    Index("ix_carteira_diff_pedido_produto", "empreendimento", "num_pedido", "cod_produto"),
)

alerta_separacao_cotada = Table(
    "alerta_separacao_cotada",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("separacao_lote_id", String(64)),
    Column("empreendimento", String(64)),
    Column("num_pedido", String(64), nullable=False),
    Column("cod_produto", String(64), nullable=False),
    Column("tipo_alteracao", String(20), nullable=False),
    Column("qtd_anterior", QTY),
    Column("qtd_nova", QTY),
    Column("qtd_diferenca", QTY),
    Column("nivel", String(10), nullable=False, server_default="CRITICO"),
    Column("run_id", String(64)),
    Column("reconhecido", Boolean, nullable=False, server_default=text("false")),
    Column("criado_em", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_alerta_run", "run_id"),
)

# --- rejects (§6.7) ---------------------------------------------------------------------------------
sync_rejeitado = Table(
    "sync_rejeitado",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model", String(64), nullable=False),
    Column("odoo_id", Integer, nullable=False),
    Column("parent_id", Integer),  # e.g. the account.move of a rejected line
    Column("rule", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("asset", String(64), nullable=False),
    Column("partition_key", String(128), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("payload", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("model", "odoo_id", "rule", name="uq_sync_rejeitado_record_rule"),
    Index("ix_sync_rejeitado_partition", "asset", "partition_key"),
    Index("ix_sync_rejeitado_run", "run_id"),
)

# --- financeiro (§5.4, docs/financeiro.md) ------------------------------------------------------
# staging: receivable and payable instalments and unmatched customer payments, one row per
# account.move.line; and the account.partial.reconcile rows paying the instalments.
odoo_financeiro_parcela = Table(
    "odoo_financeiro_parcela",
    metadata,
    Column("odoo_line_id", Integer, primary_key=True),
    Column("odoo_move_id", Integer, nullable=False),
    Column("empreendimento", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("tipo", String(8), nullable=False),  # RECEBER, PAGAR, AVULSO
    Column("move_type", String(16), nullable=False),
    Column("move_state", String(16), nullable=False),
    Column("numero_nf", String(64)),
    Column("num_pedido", Text),
    Column("data_emissao", Date),
    Column("data_vencimento", Date),
    Column("valor_original", MONEY, nullable=False),
    Column("valor_residual", MONEY, nullable=False),
    Column("categoria", String(255)),
    Column("odoo_write_date", DateTime),
    *_staged_at(),
    Index("ix_odoo_financeiro_parcela_partition", "empreendimento", "partition_date"),
    Index("ix_odoo_financeiro_parcela_move", "odoo_move_id"),
)

odoo_financeiro_pagamento = Table(
    "odoo_financeiro_pagamento",
    metadata,
    Column("odoo_partial_id", Integer, primary_key=True),
    Column("odoo_line_id", Integer, nullable=False),
    Column("empreendimento", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("valor", MONEY, nullable=False),
    Column("data", Date, nullable=False),
    Column("em_caixa", Boolean, nullable=False),
    *_staged_at(),
    Index("ix_odoo_financeiro_pagamento_partition", "empreendimento", "partition_date"),
    Index("ix_odoo_financeiro_pagamento_line", "odoo_line_id"),
)

parcelas = Table(
    "parcelas",
    metadata,
    Column("odoo_line_id", Integer, primary_key=True),
    Column("empreendimento", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("odoo_move_id", Integer, nullable=False),
    Column("numero_nf", String(64)),
    Column("num_pedido", Text),
    Column("numero_parcela", Integer, nullable=False),
    Column("data_vencimento", Date),
    Column("valor_original", MONEY, nullable=False),
    Column("valor_pago", MONEY, nullable=False),
    Column("data_ultimo_pagamento", Date),
    Column("valor_residual", MONEY, nullable=False),
    Column("status", String(12), nullable=False),
    *_timestamps(),
    Index("ix_parcelas_partition", "empreendimento", "partition_date"),
    Index("ix_parcelas_vencimento", "empreendimento", "data_vencimento"),
)


# What each financeiro partition last contributed to the monthly tables: the earliest month its
# staged rows touched when it was last applied. Its rows may leave staging (a payment undone, a bill
# deleted): the months they counted in are then still known, and recomputed.
financeiro_particao = Table(
    "financeiro_particao",
    metadata,
    Column("empreendimento", String(64), primary_key=True),
    Column("partition_date", Date, primary_key=True),
    Column("primeiro_mes", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


# The months of an empreendimento's monthly financeiro tables still to recompute, from ``desde``:
# a run's chunks apply their parcelas and note here the earliest month they touched; the run
# recomputes the months once, after its last chunk, and removes the row in that transaction. A row
# left by a run that failed in between is taken in by the next run of the empreendimento.
financeiro_pendente = Table(
    "financeiro_pendente",
    metadata,
    Column("empreendimento", String(64), primary_key=True),
    Column("desde", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def _monthly(name: str, *columns, categoria: bool = False) -> Table:
    keys = [
        Column("empreendimento", String(64), primary_key=True),
        Column("ref_month", Date, primary_key=True),  # the first of the month
    ]
    if categoria:
        keys.append(Column("categoria", String(255), primary_key=True))
    return Table(name, metadata, *keys, *columns, *_timestamps())


entradas_caixa = _monthly(
    "entradas_caixa",
    Column("previsto", MONEY, nullable=False),
    Column("realizado", MONEY, nullable=False),
    categoria=True,
)
saidas_caixa = _monthly(
    "saidas_caixa",
    Column("orcamento", MONEY, nullable=False),
    Column("realizado", MONEY, nullable=False),
    categoria=True,
)
estatisticas_portfolio = _monthly(
    "estatisticas_portfolio",
    Column("as_of", Date, nullable=False),
    Column("valor_presente", MONEY, nullable=False),
    Column("saldo_aberto", MONEY, nullable=False),
    Column("total_contratos", Integer, nullable=False),
    Column("contratos_ativos", Integer, nullable=False),
    Column("prazo_medio_meses", Numeric(8, 2), nullable=False),
    Column("duration_anos", Numeric(8, 4)),
)
inadimplencia = _monthly(
    "inadimplencia",
    Column("as_of", Date, nullable=False),
    Column("ate_30", MONEY, nullable=False),
    Column("de_31_a_60", MONEY, nullable=False),
    Column("de_61_a_90", MONEY, nullable=False),
    Column("de_91_a_180", MONEY, nullable=False),
    Column("acima_180", MONEY, nullable=False),
    Column("total_vencido", MONEY, nullable=False),
    Column("parcelas_vencidas", Integer, nullable=False),
    Column("contratos_inadimplentes", Integer, nullable=False),
)

FINANCEIRO_STAGING_TABLES = ("odoo_financeiro_parcela", "odoo_financeiro_pagamento")
FINANCEIRO_TABLES = ("parcelas", "entradas_caixa", "saidas_caixa", "estatisticas_portfolio", "inadimplencia")

STAGING_TABLES = ("odoo_fatura_linha", "odoo_pedido_linha")

OPERATIONAL_TABLES = (
    "faturamento_produto",
    "relatorio_faturamento_importado",
    "cadastro_palletizacao",
    "separacao",
    "pre_separacao_item",
    "embarque_itens",
    "movimentacao_estoque",
    "carteira_principal",
    "carteira_saldo",
    "faturado_por_pedido",
    "separado_por_pedido",
    "carteira_diff",
    "alerta_separacao_cotada",
    "sync_rejeitado",
)


def create_schema(conn: Connection) -> list[str]:
    """Upgrade the schema to the newest migration (``db/migrate.py``, under its advisory lock: two
    first runs starting together migrate once); return the names of tables that were created."""
    from sync_pipeline.db.migrate import run

    return run(conn).created_tables
