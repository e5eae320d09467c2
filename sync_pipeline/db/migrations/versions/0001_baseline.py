"""Baseline: the schema as ``db/schema.py`` defined it at commit f13f814, before migrations.

Frozen: the tables are written out here and must never change (later schema changes are later
revisions). Databases this revision meets:

- empty: every table is created, with its keys and indexes;
- created by ``create_all`` before migrations (no version table): every table exists, nothing is
  created, and the revision is recorded;
- deployed before commit 1dc8502: the staging tables lack ``staged_at``, which is added (existing
  rows take the time of the upgrade: the next carteira run plans their lines once more);
- holding the operational application's own tables (``separacao``, ``pre_separacao_item``,
  ``embarque_itens``, ``movimentacao_estoque``, ``cadastro_palletizacao``), with more columns than
  these: they keep their columns and rows; only missing unique keys and indexes are added.

Revision ID: 0001_baseline
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from sync_pipeline.db.migrations import where_missing

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

_meta = sa.MetaData()

QTY = sa.Numeric(15, 3)
MONEY = sa.Numeric(15, 2)
PRICE = sa.Numeric(15, 4)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _staged_at() -> sa.Column:
    return sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _nf_header() -> list[sa.Column]:
    return [
        sa.Column("cnpj_cliente", sa.String(20)),
        sa.Column("nome_cliente", sa.String(255)),
        sa.Column("municipio", sa.String(100)),
        sa.Column("estado", sa.String(2)),
        sa.Column("vendedor", sa.String(100)),
        sa.Column("equipe_vendas", sa.String(100)),
        sa.Column("origem", sa.String(64)),
    ]


# --- staging -------------------------------------------------------------------------------------
odoo_fatura_linha = sa.Table(
    "odoo_fatura_linha",
    _meta,
    sa.Column("odoo_line_id", sa.Integer, primary_key=True),
    sa.Column("odoo_move_id", sa.Integer, nullable=False),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("numero_nf", sa.String(64), nullable=False),
    sa.Column("move_state", sa.String(16), nullable=False),
    sa.Column("data_fatura", sa.Date),
    *_nf_header(),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("nome_produto", sa.String(255)),
    sa.Column("quantidade", QTY, nullable=False),
    sa.Column("preco_unitario", PRICE),
    sa.Column("valor_total", MONEY),
    sa.Column("peso_unitario", QTY),
    sa.Column("nota_credito_id", sa.Integer),
    sa.Column("data_reversao", sa.Date),
    sa.Column("odoo_write_date", sa.DateTime),
    _staged_at(),
    sa.Index("ix_odoo_fatura_linha_partition", "empreendimento", "partition_date"),
    sa.Index("ix_odoo_fatura_linha_move", "odoo_move_id"),
)

odoo_pedido_linha = sa.Table(
    "odoo_pedido_linha",
    _meta,
    sa.Column("odoo_line_id", sa.Integer, primary_key=True),
    sa.Column("odoo_order_id", sa.Integer, nullable=False),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("num_pedido", sa.String(64), nullable=False),
    sa.Column("order_state", sa.String(16), nullable=False),
    sa.Column("data_pedido", sa.Date),
    sa.Column("data_entrega_pedido", sa.Date),
    sa.Column("cnpj_cpf", sa.String(20)),
    sa.Column("raz_social", sa.String(255)),
    sa.Column("municipio", sa.String(100)),
    sa.Column("estado", sa.String(2)),
    sa.Column("vendedor", sa.String(100)),
    sa.Column("equipe_vendas", sa.String(100)),
    sa.Column("pedido_cliente", sa.String(100)),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("nome_produto", sa.String(255)),
    sa.Column("qtd_produto_pedido", QTY, nullable=False),
    sa.Column("qtd_entregue", QTY),
    sa.Column("qtd_faturada_odoo", QTY),
    sa.Column("preco_produto_pedido", PRICE),
    sa.Column("odoo_write_date", sa.DateTime),
    _staged_at(),
    sa.Index("ix_odoo_pedido_linha_partition", "empreendimento", "partition_date"),
    sa.Index("ix_odoo_pedido_linha_pedido", "num_pedido", "cod_produto"),
)

# --- faturamento ---------------------------------------------------------------------------------
faturamento_produto = sa.Table(
    "faturamento_produto",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("numero_nf", sa.String(64), nullable=False),
    sa.Column("data_fatura", sa.Date),
    *_nf_header(),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("nome_produto", sa.String(255)),
    sa.Column("qtd_produto_faturado", QTY, nullable=False),
    sa.Column("preco_produto_faturado", PRICE),
    sa.Column("valor_produto_faturado", MONEY),
    sa.Column("peso_unitario_produto", QTY),
    sa.Column("peso_total", QTY),
    sa.Column("status_nf", sa.String(20), nullable=False),
    sa.Column("revertida", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("nota_credito_id", sa.Integer),
    sa.Column("data_reversao", sa.Date),
    sa.Column("odoo_move_id", sa.Integer, nullable=False),
    sa.Column("odoo_write_date", sa.DateTime),
    *_timestamps(),
    sa.UniqueConstraint("numero_nf", "cod_produto", name="uq_faturamento_nf_produto"),
    sa.UniqueConstraint("odoo_move_id", "cod_produto", name="uq_faturamento_move_produto"),
    sa.Index("ix_faturamento_origem_produto", "origem", "cod_produto"),
    sa.Index("ix_faturamento_data_status", "data_fatura", "status_nf"),
    sa.Index("ix_faturamento_empreendimento_data", "empreendimento", "data_fatura"),
)

relatorio_faturamento_importado = sa.Table(
    "relatorio_faturamento_importado",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("numero_nf", sa.String(64), nullable=False, unique=True),
    sa.Column("odoo_move_id", sa.Integer, nullable=False, unique=True),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("data_fatura", sa.Date),
    *_nf_header(),
    sa.Column("valor_total", MONEY, nullable=False),
    sa.Column("peso_bruto", QTY, nullable=False),
    sa.Column("status_nf", sa.String(20), nullable=False),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.text("true")),
    *_timestamps(),
    sa.Index("ix_relatorio_empreendimento_data", "empreendimento", "data_fatura"),
)

# --- the operational application's tables --------------------------------------------------------
cadastro_palletizacao = sa.Table(
    "cadastro_palletizacao",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cod_produto", sa.String(64), nullable=False, unique=True),
    sa.Column("nome_produto", sa.String(255)),
    sa.Column("palletizacao", QTY, nullable=False),
    sa.Column("peso_bruto", QTY, nullable=False),
    *_timestamps(),
)

separacao = sa.Table(
    "separacao",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("separacao_lote_id", sa.String(64), nullable=False),
    sa.Column("num_pedido", sa.String(64), nullable=False),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("qtd_saldo", QTY, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="ABERTO"),
    sa.Column("tipo_envio", sa.String(10), server_default="total"),
    sa.Column("sincronizado_nf", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("numero_nf", sa.String(64)),
    sa.Column("criado_em", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("ix_separacao_pedido_produto", "num_pedido", "cod_produto"),
    sa.Index("ix_separacao_numero_nf", "numero_nf"),
    sa.Index("ix_separacao_lote", "separacao_lote_id"),
)

pre_separacao_item = sa.Table(
    "pre_separacao_item",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("num_pedido", sa.String(64), nullable=False),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("qtd_selecionada_usuario", QTY, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="CRIADO"),
    sa.Column("data_criacao", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("ix_pre_separacao_pedido_produto", "num_pedido", "cod_produto"),
)

embarque_itens = sa.Table(
    "embarque_itens",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("embarque_id", sa.Integer),
    sa.Column("separacao_lote_id", sa.String(64)),
    sa.Column("pedido", sa.String(64)),
    sa.Column("nota_fiscal", sa.String(64)),
    sa.Column("erro_validacao", sa.String(255)),
    sa.Column("status", sa.String(20), nullable=False, server_default="ativo"),
    sa.Index("ix_embarque_itens_nota_fiscal", "nota_fiscal"),
    sa.Index("ix_embarque_itens_pedido", "pedido"),
)

movimentacao_estoque = sa.Table(
    "movimentacao_estoque",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("nome_produto", sa.String(255)),
    sa.Column("data_movimentacao", sa.Date),
    sa.Column("tipo_movimentacao", sa.String(32)),
    sa.Column("local_movimentacao", sa.String(32)),
    sa.Column("qtd_movimentacao", QTY),
    sa.Column("numero_nf", sa.String(64)),
    sa.Column("num_pedido", sa.String(64)),
    sa.Column("separacao_lote_id", sa.String(64)),
    sa.Column("status_nf", sa.String(20)),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("criado_em", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("ix_movimentacao_numero_nf", "numero_nf"),
)

# --- carteira ------------------------------------------------------------------------------------
carteira_principal = sa.Table(
    "carteira_principal",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("num_pedido", sa.String(64), nullable=False),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("data_pedido", sa.Date),
    sa.Column("status_pedido", sa.String(30)),
    sa.Column("cnpj_cpf", sa.String(20)),
    sa.Column("raz_social", sa.String(255)),
    sa.Column("municipio", sa.String(100)),
    sa.Column("estado", sa.String(2)),
    sa.Column("vendedor", sa.String(100)),
    sa.Column("equipe_vendas", sa.String(100)),
    sa.Column("pedido_cliente", sa.String(100)),
    sa.Column("data_entrega_pedido", sa.Date),
    sa.Column("nome_produto", sa.String(255)),
    sa.Column("qtd_produto_pedido", QTY, nullable=False),
    sa.Column("qtd_saldo_produto_pedido", QTY, nullable=False),
    sa.Column("qtd_cancelada_produto_pedido", QTY, server_default=sa.text("0")),
    sa.Column("preco_produto_pedido", PRICE),
    sa.Column("odoo_order_id", sa.Integer),
    sa.Column("odoo_write_date", sa.DateTime),
    *_timestamps(),
    sa.UniqueConstraint("num_pedido", "cod_produto", name="uq_carteira_pedido_produto"),
    sa.Index("ix_carteira_empreendimento_data", "empreendimento", "data_pedido"),
)

carteira_saldo = sa.Table(
    "carteira_saldo",
    _meta,
    sa.Column("num_pedido", sa.String(64), primary_key=True),
    sa.Column("cod_produto", sa.String(64), primary_key=True),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("data_pedido", sa.Date),
    sa.Column("qtd_produto_pedido", QTY, nullable=False),
    sa.Column("qtd_faturada", QTY, nullable=False),
    sa.Column("qtd_saldo_produto_pedido", QTY, nullable=False),
    sa.Column("qtd_em_separacao", QTY, nullable=False),
    sa.Column("qtd_pre_separada", QTY, nullable=False),
    sa.Column("saldo_livre", QTY, nullable=False),
    *_timestamps(),
    sa.Index("ix_carteira_saldo_empreendimento_data", "empreendimento", "data_pedido"),
)

carteira_diff = sa.Table(
    "carteira_diff",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("partition_key", sa.String(128), nullable=False),
    sa.Column("num_pedido", sa.String(64), nullable=False),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("tipo", sa.String(16), nullable=False),
    sa.Column("qtd_antes", QTY),
    sa.Column("qtd_depois", QTY),
    sa.Column("delta", QTY),
    sa.Column("absorcao", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_carteira_diff_run", "run_id"),
    sa.Index("ix_carteira_diff_pedido_produto", "num_pedido", "cod_produto"),
)

alerta_separacao_cotada = sa.Table(
    "alerta_separacao_cotada",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("separacao_lote_id", sa.String(64)),
    sa.Column("num_pedido", sa.String(64), nullable=False),
    sa.Column("cod_produto", sa.String(64), nullable=False),
    sa.Column("tipo_alteracao", sa.String(20), nullable=False),
    sa.Column("qtd_anterior", QTY),
    sa.Column("qtd_nova", QTY),
    sa.Column("qtd_diferenca", QTY),
    sa.Column("nivel", sa.String(10), nullable=False, server_default="CRITICO"),
    sa.Column("run_id", sa.String(64)),
    sa.Column("reconhecido", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("criado_em", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_alerta_run", "run_id"),
)

# --- rejects -------------------------------------------------------------------------------------
sync_rejeitado = sa.Table(
    "sync_rejeitado",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("odoo_id", sa.Integer, nullable=False),
    sa.Column("parent_id", sa.Integer),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("asset", sa.String(64), nullable=False),
    sa.Column("partition_key", sa.String(128), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("payload", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("model", "odoo_id", "rule", name="uq_sync_rejeitado_record_rule"),
    sa.Index("ix_sync_rejeitado_partition", "asset", "partition_key"),
    sa.Index("ix_sync_rejeitado_run", "run_id"),
)

# Columns added to a table that already exists: staged_at came in commit 1dc8502.
ADDED_COLUMNS = {"odoo_fatura_linha": ("staged_at",), "odoo_pedido_linha": ("staged_at",)}


def upgrade() -> None:
    for table in _meta.tables.values():
        where_missing.create_table(table, add_columns=ADDED_COLUMNS.get(table.name, ()))


def downgrade() -> None:
    # Which of these tables existed before (the operational application's, a create_all database)
    # is not recorded: dropping them could drop the application's data.
    raise NotImplementedError("the baseline cannot be downgraded")
