"""The aggregated saldos the carteira diff starts from: ``faturado_por_pedido`` (invoiced per order
and product) and ``separado_por_pedido`` (separação and pré-separação per order and product).

New tables of the sync's own, created empty: the next run of a carteira partition fills its rows
(until then, ``carteira_saldo`` keeps the figures it had).

Frozen: written out here, never taken from ``db/schema.py``.

Revision ID: 0003_aggregated_saldos
Revises: 0002_empreendimento_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_pipeline.db.migrations import where_missing

revision = "0003_aggregated_saldos"
down_revision = "0002_empreendimento_keys"
branch_labels = None
depends_on = None

_meta = sa.MetaData()
QTY = sa.Numeric(15, 3)


def _keyed(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        _meta,
        sa.Column("empreendimento", sa.String(64), primary_key=True),
        sa.Column("num_pedido", sa.String(64), primary_key=True),
        sa.Column("cod_produto", sa.String(64), primary_key=True),
        sa.Column("partition_date", sa.Date, nullable=False),
        *columns,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index(f"ix_{name}_data", "empreendimento", "partition_date"),
    )


faturado_por_pedido = _keyed(
    "faturado_por_pedido",
    sa.Column("qtd_faturada", QTY, nullable=False),
    sa.Column("notas", sa.Integer, nullable=False),
)
separado_por_pedido = _keyed(
    "separado_por_pedido",
    sa.Column("qtd_em_separacao", QTY, nullable=False),
    sa.Column("qtd_pre_separada", QTY, nullable=False),
)


def upgrade() -> None:
    for table in _meta.tables.values():
        where_missing.create_table(table)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS separado_por_pedido")
    op.execute("DROP TABLE IF EXISTS faturado_por_pedido")
