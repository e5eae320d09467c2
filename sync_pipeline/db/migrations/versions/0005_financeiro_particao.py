"""``financeiro_particao``: the earliest month each financeiro partition's staged rows touched when
it was last applied (docs/financeiro.md). Without it, rows that leave staging (a payment reset to
draft, a bill deleted, an outstanding payment matched) left their months stale when nothing else
of the partition remained: the transform skipped the partition and never recomputed those months.

Existing rows: the table is filled from the staging as it stands (what the last extract of each
partition staged is what its last transform applied), so a departure after the upgrade is
recomputed too. Safe to run again: it creates the table only where missing and fills only the
partitions it does not hold.

Frozen: written out here, never taken from ``db/schema.py``.

Revision ID: 0005_financeiro_particao
Revises: 0004_financeiro
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_pipeline.db.migrations import where_missing

revision = "0005_financeiro_particao"
down_revision = "0004_financeiro"
branch_labels = None
depends_on = None

_meta = sa.MetaData()
sa.Table(
    "financeiro_particao",
    _meta,
    sa.Column("empreendimento", sa.String(64), primary_key=True),
    sa.Column("partition_date", sa.Date, primary_key=True),
    sa.Column("primeiro_mes", sa.Date, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


def upgrade() -> None:
    for table in _meta.tables.values():
        where_missing.create_table(table)
    op.execute(
        """
        INSERT INTO financeiro_particao (empreendimento, partition_date, primeiro_mes)
        SELECT x.empreendimento, x.partition_date,
               CAST(date_trunc('month', CAST(COALESCE(min(x.low), x.partition_date) AS timestamp)) AS date)
        FROM (SELECT empreendimento, partition_date, least(data_emissao, data_vencimento) AS low
              FROM odoo_financeiro_parcela
              UNION ALL
              SELECT empreendimento, partition_date, data FROM odoo_financeiro_pagamento) x
        GROUP BY x.empreendimento, x.partition_date
        ON CONFLICT (empreendimento, partition_date) DO NOTHING
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS financeiro_particao")
