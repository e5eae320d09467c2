"""Human numbers are unique only within an empreendimento; one NF may invoice several orders.

A real Odoo numbers invoices per company (``INV/2026/00001`` exists in every company) and can number
orders per company too, so every key holding a ``numero_nf`` or ``num_pedido`` gains
``empreendimento``; a credit note becomes rows of its own document (``move_type``), and a
faturamento row is identified by its document, product and order (``origem``), since one invoice may
bill several orders of one customer. Existing rows satisfy the new keys (each is wider than the one
it replaces), so no row is lost; ``empreendimento`` of existing diffs and alerts is taken from the
partition key / the run's diffs.

After the upgrade, rows synced before keep the invoice-level ``origem`` until their partitions are
synced again (a backfill recomputes ``origem`` per line from ``sale_line_ids``).

Frozen: written in SQL here, never taken from ``db/schema.py``.

Revision ID: 0002_empreendimento_keys
Revises: 0001_baseline
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0002_empreendimento_keys"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def _constraint_exists(table: str, name: str) -> bool:
    return bool(
        op.get_bind()
        .execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE n.nspname = current_schema() AND t.relname = :t AND c.conname = :c)"
            ),
            {"t": table, "c": name},
        )
        .scalar()
    )


def _add_constraint(table: str, name: str, definition: str) -> None:
    if not _constraint_exists(table, name):
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def _drop_constraint(table: str, name: str) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")


def upgrade() -> None:
    # staging: a credit note's lines are staged as rows of their own document
    op.execute(
        "ALTER TABLE odoo_fatura_linha ADD COLUMN IF NOT EXISTS move_type varchar(16) NOT NULL DEFAULT 'out_invoice'"
    )
    op.execute("DROP INDEX IF EXISTS ix_odoo_pedido_linha_pedido")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_odoo_pedido_linha_pedido ON odoo_pedido_linha (num_pedido, empreendimento, "
        "cod_produto)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_odoo_pedido_linha_order ON odoo_pedido_linha (odoo_order_id)")

    # faturamento_produto: per empreendimento and order
    op.execute(
        "ALTER TABLE faturamento_produto ADD COLUMN IF NOT EXISTS move_type varchar(16) NOT NULL DEFAULT 'out_invoice'"
    )
    _drop_constraint("faturamento_produto", "uq_faturamento_nf_produto")
    _drop_constraint("faturamento_produto", "uq_faturamento_move_produto")
    _add_constraint(
        "faturamento_produto",
        "uq_faturamento_emp_nf_produto_origem",
        "UNIQUE NULLS NOT DISTINCT (empreendimento, numero_nf, cod_produto, origem)",
    )
    _add_constraint(
        "faturamento_produto",
        "uq_faturamento_move_produto_origem",
        "UNIQUE NULLS NOT DISTINCT (odoo_move_id, cod_produto, origem)",
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_faturamento_numero_nf ON faturamento_produto (numero_nf)")

    # relatorio_faturamento_importado: one row per NF of an empreendimento
    op.execute(
        "ALTER TABLE relatorio_faturamento_importado "
        "ADD COLUMN IF NOT EXISTS move_type varchar(16) NOT NULL DEFAULT 'out_invoice'"
    )
    _drop_constraint("relatorio_faturamento_importado", "relatorio_faturamento_importado_numero_nf_key")
    _add_constraint("relatorio_faturamento_importado", "uq_relatorio_emp_nf", "UNIQUE (empreendimento, numero_nf)")

    # carteira_principal and carteira_saldo: per empreendimento
    _drop_constraint("carteira_principal", "uq_carteira_pedido_produto")
    _add_constraint(
        "carteira_principal", "uq_carteira_emp_pedido_produto", "UNIQUE (empreendimento, num_pedido, cod_produto)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_carteira_pedido ON carteira_principal (num_pedido)")
    _drop_constraint("carteira_saldo", "carteira_saldo_pkey")
    _add_constraint("carteira_saldo", "carteira_saldo_pkey", "PRIMARY KEY (empreendimento, num_pedido, cod_produto)")

    # carteira_diff and alerts name their empreendimento
    op.execute("ALTER TABLE carteira_diff ADD COLUMN IF NOT EXISTS empreendimento varchar(64)")
    op.execute(
        "UPDATE carteira_diff SET empreendimento = split_part(partition_key, '|', 2) "
        "WHERE empreendimento IS NULL AND position('|' in partition_key) > 0"
    )
    op.execute("DROP INDEX IF EXISTS ix_carteira_diff_pedido_produto")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_carteira_diff_pedido_produto ON carteira_diff "
        "(empreendimento, num_pedido, cod_produto)"
    )
    op.execute("ALTER TABLE alerta_separacao_cotada ADD COLUMN IF NOT EXISTS empreendimento varchar(64)")
    op.execute(
        """
        UPDATE alerta_separacao_cotada a SET empreendimento = d.empreendimento
        FROM (SELECT DISTINCT ON (run_id, num_pedido) run_id, num_pedido, empreendimento
              FROM carteira_diff WHERE empreendimento IS NOT NULL ORDER BY run_id, num_pedido, id) d
        WHERE a.empreendimento IS NULL AND a.run_id = d.run_id AND a.num_pedido = d.num_pedido
        """
    )


def downgrade() -> None:
    # The narrower keys cannot hold what per-company numbering writes (INV/2026/00001 twice).
    raise NotImplementedError("0002 cannot be downgraded: the old keys reject per-company numbers")
