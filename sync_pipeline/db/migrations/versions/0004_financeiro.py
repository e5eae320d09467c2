"""The financeiro tables (issue 9, docs/financeiro.md): the staging of receivable and payable
instalments and their payments (``odoo_financeiro_parcela``, ``odoo_financeiro_pagamento``), and the
tables finance reads: ``parcelas``, ``entradas_caixa``, ``saidas_caixa``, ``estatisticas_portfolio``
and ``inadimplencia``.

New tables of the sync's own, created empty (only where missing): the next run of a partition fills
its instalments and recomputes the months they touch; a backfill fills the history.

Frozen: written out here, never taken from ``db/schema.py``.

Revision ID: 0004_financeiro
Revises: 0003_aggregated_saldos
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_pipeline.db.migrations import where_missing

revision = "0004_financeiro"
down_revision = "0003_aggregated_saldos"
branch_labels = None
depends_on = None

_meta = sa.MetaData()
MONEY = sa.Numeric(15, 2)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _staged_at() -> sa.Column:
    return sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


sa.Table(
    "odoo_financeiro_parcela",
    _meta,
    sa.Column("odoo_line_id", sa.Integer, primary_key=True),
    sa.Column("odoo_move_id", sa.Integer, nullable=False),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("tipo", sa.String(8), nullable=False),
    sa.Column("move_type", sa.String(16), nullable=False),
    sa.Column("move_state", sa.String(16), nullable=False),
    sa.Column("numero_nf", sa.String(64)),
    sa.Column("num_pedido", sa.Text),
    sa.Column("data_emissao", sa.Date),
    sa.Column("data_vencimento", sa.Date),
    sa.Column("valor_original", MONEY, nullable=False),
    sa.Column("valor_residual", MONEY, nullable=False),
    sa.Column("categoria", sa.String(255)),
    sa.Column("odoo_write_date", sa.DateTime),
    _staged_at(),
    sa.Index("ix_odoo_financeiro_parcela_partition", "empreendimento", "partition_date"),
    sa.Index("ix_odoo_financeiro_parcela_move", "odoo_move_id"),
)
sa.Table(
    "odoo_financeiro_pagamento",
    _meta,
    sa.Column("odoo_partial_id", sa.Integer, primary_key=True),
    sa.Column("odoo_line_id", sa.Integer, nullable=False),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("valor", MONEY, nullable=False),
    sa.Column("data", sa.Date, nullable=False),
    sa.Column("em_caixa", sa.Boolean, nullable=False),
    _staged_at(),
    sa.Index("ix_odoo_financeiro_pagamento_partition", "empreendimento", "partition_date"),
    sa.Index("ix_odoo_financeiro_pagamento_line", "odoo_line_id"),
)
sa.Table(
    "parcelas",
    _meta,
    sa.Column("odoo_line_id", sa.Integer, primary_key=True),
    sa.Column("empreendimento", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("odoo_move_id", sa.Integer, nullable=False),
    sa.Column("numero_nf", sa.String(64)),
    sa.Column("num_pedido", sa.Text),
    sa.Column("numero_parcela", sa.Integer, nullable=False),
    sa.Column("data_vencimento", sa.Date),
    sa.Column("valor_original", MONEY, nullable=False),
    sa.Column("valor_pago", MONEY, nullable=False),
    sa.Column("data_ultimo_pagamento", sa.Date),
    sa.Column("valor_residual", MONEY, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    *_timestamps(),
    sa.Index("ix_parcelas_partition", "empreendimento", "partition_date"),
    sa.Index("ix_parcelas_vencimento", "empreendimento", "data_vencimento"),
)


def _monthly(name: str, *columns: sa.Column, categoria: bool = False) -> None:
    keys = [
        sa.Column("empreendimento", sa.String(64), primary_key=True),
        sa.Column("ref_month", sa.Date, primary_key=True),
    ]
    if categoria:
        keys.append(sa.Column("categoria", sa.String(255), primary_key=True))
    sa.Table(name, _meta, *keys, *columns, *_timestamps())


_monthly(
    "entradas_caixa",
    sa.Column("previsto", MONEY, nullable=False),
    sa.Column("realizado", MONEY, nullable=False),
    categoria=True,
)
_monthly(
    "saidas_caixa",
    sa.Column("orcamento", MONEY, nullable=False),
    sa.Column("realizado", MONEY, nullable=False),
    categoria=True,
)
_monthly(
    "estatisticas_portfolio",
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("valor_presente", MONEY, nullable=False),
    sa.Column("saldo_aberto", MONEY, nullable=False),
    sa.Column("total_contratos", sa.Integer, nullable=False),
    sa.Column("contratos_ativos", sa.Integer, nullable=False),
    sa.Column("prazo_medio_meses", sa.Numeric(8, 2), nullable=False),
    sa.Column("duration_anos", sa.Numeric(8, 4)),
)
_monthly(
    "inadimplencia",
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("ate_30", MONEY, nullable=False),
    sa.Column("de_31_a_60", MONEY, nullable=False),
    sa.Column("de_61_a_90", MONEY, nullable=False),
    sa.Column("de_91_a_180", MONEY, nullable=False),
    sa.Column("acima_180", MONEY, nullable=False),
    sa.Column("total_vencido", MONEY, nullable=False),
    sa.Column("parcelas_vencidas", sa.Integer, nullable=False),
    sa.Column("contratos_inadimplentes", sa.Integer, nullable=False),
)


def upgrade() -> None:
    for table in _meta.tables.values():
        where_missing.create_table(table)


def downgrade() -> None:
    for name in reversed(list(_meta.tables)):
        op.execute(f"DROP TABLE IF EXISTS {name}")
