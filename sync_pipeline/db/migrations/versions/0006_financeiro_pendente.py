"""``financeiro_pendente``: the months of an empreendimento's monthly financeiro tables still to
recompute (docs/financeiro.md). A run now applies the parcelas of its chunks first and recomputes
the monthly tables once, after its last chunk (they were recomputed by every chunk: a year of
twelve chunks recomputed its months twelve times); the row says which months a run in flight, or
one that failed between its chunks and its end, left stale, and the next run takes them in.

Existing rows: none to fill (before this revision every chunk left the months up to date). Safe to
run again: it creates the table only where missing.

Frozen: written out here, never taken from ``db/schema.py``.

Revision ID: 0006_financeiro_pendente
Revises: 0005_financeiro_particao
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_pipeline.db.migrations import where_missing

revision = "0006_financeiro_pendente"
down_revision = "0005_financeiro_particao"
branch_labels = None
depends_on = None

_meta = sa.MetaData()
sa.Table(
    "financeiro_pendente",
    _meta,
    sa.Column("empreendimento", sa.String(64), primary_key=True),
    sa.Column("desde", sa.Date, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


def upgrade() -> None:
    for table in _meta.tables.values():
        where_missing.create_table(table)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS financeiro_pendente")
