"""What the synced data holds, in a few numbers (`sync-pipeline status`, the demo's summary).

The cases a real Odoo produces that a naive sync gets wrong: NF numbers repeated across
empreendimentos (Odoo numbers invoices per company), one NF for several orders, credit notes (full
and partial), NFs dated after today (owned by today's partition). One read-only statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Connection

from sync_pipeline.domain.faturamento import INVOICE, LANCADO, REFUND

# Tables the statement reads: `numbers` needs all of them.
TABLES = ("relatorio_faturamento_importado", "faturamento_produto", "odoo_fatura_linha")

_NUMBERS_SQL = """
WITH collision AS (
    SELECT numero_nf, count(DISTINCT empreendimento) AS n,
           string_agg(DISTINCT empreendimento, ', ' ORDER BY empreendimento) AS empreendimentos
    FROM relatorio_faturamento_importado
    GROUP BY numero_nf HAVING count(DISTINCT empreendimento) > 1
),
nf AS (
    SELECT odoo_move_id, min(empreendimento) AS empreendimento, min(numero_nf) AS numero_nf,
           min(move_type) AS move_type, min(status_nf) AS status_nf, bool_or(revertida) AS revertida,
           min(nota_credito_id) AS nota_credito_id, count(*) AS rows_, count(DISTINCT origem) AS origens,
           string_agg(DISTINCT origem, ', ' ORDER BY origem) AS origem
    FROM faturamento_produto GROUP BY odoo_move_id
),
credit_note AS (SELECT * FROM nf WHERE move_type = :refund AND status_nf = :lancado),
ahead AS (
    SELECT r.empreendimento, r.numero_nf, r.data_fatura,
           (SELECT min(l.partition_date) FROM odoo_fatura_linha l WHERE l.odoo_move_id = r.odoo_move_id)
               AS partition_date
    FROM relatorio_faturamento_importado r
    WHERE r.data_fatura > :today AND r.status_nf = :lancado
)
SELECT
    (SELECT count(DISTINCT empreendimento) FROM relatorio_faturamento_importado) AS empreendimentos,
    (SELECT count(*) FROM collision) AS colliding,
    (SELECT ARRAY[numero_nf, empreendimentos] FROM collision ORDER BY n DESC, numero_nf LIMIT 1) AS colliding_example,
    (SELECT count(*) FROM nf WHERE origens > 1) AS grouped,
    (SELECT ARRAY[numero_nf, empreendimento, origem] FROM nf WHERE origens > 1
     ORDER BY origens DESC, numero_nf, empreendimento LIMIT 1) AS grouped_example,
    (SELECT count(*) FROM credit_note) AS credit_notes,
    (SELECT COALESCE(sum(rows_), 0) FROM credit_note) AS credit_note_rows,
    (SELECT count(*) FROM nf WHERE move_type = :invoice AND revertida) AS revertidas,
    (SELECT count(*) FROM credit_note c WHERE NOT EXISTS (
        SELECT 1 FROM nf i WHERE i.revertida AND i.nota_credito_id = c.odoo_move_id)) AS partial_credit_notes,
    (SELECT count(*) FROM ahead) AS ahead,
    (SELECT array_agg(DISTINCT partition_date::text) FROM ahead) AS ahead_partitions,
    (SELECT ARRAY[numero_nf, empreendimento, data_fatura::text] FROM ahead
     ORDER BY data_fatura DESC, numero_nf LIMIT 1) AS ahead_example
"""


@dataclass(frozen=True)
class DataSetNumbers:
    today: date
    empreendimentos: int
    colliding: int  # NF numbers held by more than one empreendimento
    colliding_example: list[str] | None  # [numero_nf, "empresa-1, empresa-2"]
    grouped: int  # NFs whose rows invoice more than one order (origem)
    grouped_example: list[str] | None  # [numero_nf, empreendimento, "S00044, S00045"]
    credit_notes: int  # posted NFs with move_type out_refund
    credit_note_rows: int
    revertidas: int  # invoices refunded in full (revertida)
    partial_credit_notes: int  # credit notes that revert no NF in full
    ahead: int  # posted NFs dated after today
    ahead_partitions: list[str] | None
    ahead_example: list[str] | None  # [numero_nf, empreendimento, data_fatura]

    def lines(self) -> list[str]:
        """The numbers as a short block of text, one line per case."""

        def example(text_: str | None) -> str:
            return f" ({text_})" if text_ else ""

        collide = self.colliding_example and f"{self.colliding_example[0]} in {self.colliding_example[1]}"
        grouped = self.grouped_example and "{} of {}: {}".format(*self.grouped_example)
        ahead = self.ahead_example and "{} of {}, dated {}".format(*self.ahead_example)
        partitions = f", synced into partition {', '.join(self.ahead_partitions)}" if self.ahead_partitions else ""
        return [
            f"numbers ({self.empreendimentos} empreendimentos):",
            f"  NF numbers in more than one empreendimento: {self.colliding}{example(collide)}",
            f"  grouped NFs (rows of more than one origem): {self.grouped}{example(grouped)}",
            f"  credit notes ({REFUND}, negative quantities): {self.credit_notes} with {self.credit_note_rows} rows; "
            f"{self.revertidas} NFs revertida (refunded in full), {self.partial_credit_notes} credit notes for part "
            "of an NF",
            f"  NFs dated after today ({self.today}): {self.ahead}{partitions}{example(ahead)}",
        ]


def numbers(conn: Connection, *, today: date) -> DataSetNumbers:
    """The numbers of the whole database; ``today`` is the newest date partition."""
    row = conn.execute(
        text(_NUMBERS_SQL), {"today": today, "lancado": LANCADO, "refund": REFUND, "invoice": INVOICE}
    ).one()
    return DataSetNumbers(today=today, **row._asdict())


@dataclass(frozen=True)
class TableSummary:
    """Rows per table and the counts an operator looks at first (`sync-pipeline status`)."""

    rows: dict[str, int | None]  # None: the table does not exist (yet)
    numbers: DataSetNumbers | None
    faturamento_by_status: list[tuple[str, int]]
    products_without_code: list[str]  # synced as ODOO-<id>
    carteira_open_lines: int
    carteira_saldo: object
    diffs_by_kind: list[tuple[str, int]]
    rejects_by_rule: list[tuple[str, int]]
    open_alerts_by_level: list[tuple[str, int]]


def summary(conn: Connection, tables: tuple[str, ...], *, today: date) -> TableSummary:
    """Read-only: rows per table in ``tables`` (None where missing) and the operator's counts."""
    present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())

    def count(table: str) -> int | None:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() if table in present else None

    def grouped(table: str, sql: str) -> list[tuple]:
        return [tuple(r) for r in conn.execute(text(sql))] if table in present else []

    open_lines, saldo = (
        conn.execute(text("SELECT count(*), COALESCE(sum(qtd_saldo_produto_pedido), 0) FROM carteira_principal")).one()
        if "carteira_principal" in present
        else (0, 0)
    )
    return TableSummary(
        rows={t: count(t) for t in tables},
        numbers=numbers(conn, today=today) if present.issuperset(TABLES) else None,
        faturamento_by_status=grouped(
            "faturamento_produto", "SELECT status_nf, count(*) FROM faturamento_produto GROUP BY 1 ORDER BY 1"
        ),
        products_without_code=[
            r[0]
            for r in grouped(
                "faturamento_produto",
                "SELECT DISTINCT cod_produto FROM faturamento_produto WHERE cod_produto LIKE 'ODOO-%' ORDER BY 1",
            )
        ],
        carteira_open_lines=open_lines,
        carteira_saldo=saldo,
        diffs_by_kind=grouped("carteira_diff", "SELECT tipo, count(*) FROM carteira_diff GROUP BY 1 ORDER BY 1"),
        rejects_by_rule=grouped("sync_rejeitado", "SELECT rule, count(*) FROM sync_rejeitado GROUP BY 1 ORDER BY 1"),
        open_alerts_by_level=grouped(
            "alerta_separacao_cotada",
            "SELECT nivel, count(*) FROM alerta_separacao_cotada WHERE NOT reconhecido GROUP BY 1 ORDER BY 1",
        ),
    )


def day_in_the_life(conn: Connection) -> tuple[list[tuple[str, int]], list[tuple]]:
    """The demo's incremental part: diffs that adjusted a decision, by kind; and every alert
    (nivel, tipo, lote, pedido, produto, antes, depois), critical first."""
    kinds = [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT tipo, count(*) FROM carteira_diff WHERE absorcao IS NOT NULL AND tipo <> 'NOVO'"
                " GROUP BY 1 ORDER BY 1"
            )
        )
    ]
    alerts = [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT nivel, tipo_alteracao, separacao_lote_id, num_pedido, cod_produto, qtd_anterior, qtd_nova "
                "FROM alerta_separacao_cotada ORDER BY nivel = 'CRITICO' DESC, id"
            )
        )
    ]
    return kinds, alerts


# The finance figures a user of seed 04 looks at first: per empreendimento and month, cash in by
# category (realizado; previsto on ATIVOS), cash out, and the delinquency buckets (docs/financeiro.md).
_FINANCEIRO_MONTHS_SQL = """
WITH moved AS (  -- months in which cash came in or went out (not months of dues only, nor empty ones)
    SELECT empreendimento, ref_month FROM entradas_caixa WHERE realizado <> 0
    UNION SELECT empreendimento, ref_month FROM saidas_caixa WHERE realizado <> 0
),
months AS (
    SELECT empreendimento, ref_month,
           row_number() OVER (PARTITION BY empreendimento ORDER BY ref_month DESC) AS recent
    FROM moved
)
SELECT m.empreendimento, m.ref_month,
       COALESCE((SELECT sum(previsto) FROM entradas_caixa e
                 WHERE e.empreendimento = m.empreendimento AND e.ref_month = m.ref_month), 0) AS previsto,
       COALESCE((SELECT jsonb_object_agg(categoria, realizado) FROM entradas_caixa e
                 WHERE e.empreendimento = m.empreendimento AND e.ref_month = m.ref_month), '{}') AS realizado,
       COALESCE((SELECT sum(realizado) FROM saidas_caixa s
                 WHERE s.empreendimento = m.empreendimento AND s.ref_month = m.ref_month), 0) AS saidas,
       COALESCE((SELECT sum(orcamento) FROM saidas_caixa s
                 WHERE s.empreendimento = m.empreendimento AND s.ref_month = m.ref_month), 0) AS orcamento,
       i.ate_30, i.de_31_a_60, i.de_61_a_90, i.de_91_a_180, i.acima_180, i.total_vencido,
       p.saldo_aberto, p.valor_presente, p.contratos_ativos
FROM months m
LEFT JOIN inadimplencia i ON i.empreendimento = m.empreendimento AND i.ref_month = m.ref_month
LEFT JOIN estatisticas_portfolio p ON p.empreendimento = m.empreendimento AND p.ref_month = m.ref_month
WHERE m.recent <= :months
ORDER BY m.empreendimento, m.ref_month
"""
FINANCEIRO_REPORT_TABLES = ("entradas_caixa", "saidas_caixa", "estatisticas_portfolio", "inadimplencia")
CASH_IN_CATEGORIES = ("ATIVOS", "ANTECIPACOES", "RECUPERACOES", "OUTRAS")


def financeiro_months(conn: Connection, *, months: int = 3) -> list[str]:
    """Lines: the last ``months`` months in which cash came in or went out, per empreendimento, with their
    figures (none when the finance tables are missing or empty). Read-only, one statement."""
    present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
    if not present.issuperset(FINANCEIRO_REPORT_TABLES):
        return []
    lines = []
    current = None
    for r in conn.execute(text(_FINANCEIRO_MONTHS_SQL), {"months": months}):
        if r.empreendimento != current:
            current = r.empreendimento
            lines.append(f"  {current}:")
        cash_in = ", ".join(f"{c} {_money(r.realizado.get(c, 0))}" for c in CASH_IN_CATEGORIES)
        lines.append(
            f"    {r.ref_month:%Y-%m}  cash in {cash_in} (due {_money(r.previsto)}); "
            f"cash out {_money(r.saidas)} (due {_money(r.orcamento)}); "
            f"overdue ≤30 {_money(r.ate_30)}, 31–60 {_money(r.de_31_a_60)}, 61–90 {_money(r.de_61_a_90)}, "
            f"91–180 {_money(r.de_91_a_180)}, >180 {_money(r.acima_180)} (total {_money(r.total_vencido)}); "
            f"open {_money(r.saldo_aberto)} in {r.contratos_ativos or 0} contracts, PV {_money(r.valor_presente)}"
        )
    return lines


def _money(value) -> str:
    return f"{float(value or 0):,.2f}"
