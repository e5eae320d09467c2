"""What the asset checks read (``sync_pipeline/checks.py``): the tables as they stand now, never
the rows one run wrote. Read-only, a few statements per check whatever the size of the tables;
the one write is an operator acknowledging alerts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from sync_pipeline.db.schema import STAGING_TABLES

CRITICAL = "CRITICO"


def _exists(conn: Connection, table: str) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar())


# --- alerta_separacao_cotada ------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    id: int
    criado_em: datetime
    empreendimento: str | None
    separacao_lote_id: str | None
    num_pedido: str
    cod_produto: str
    tipo_alteracao: str
    qtd_anterior: Decimal | None
    qtd_nova: Decimal | None
    run_id: str | None


@dataclass(frozen=True)
class OpenAlerts:
    total: int
    by_empreendimento: list[tuple[str, int]]
    by_tipo: list[tuple[str, int]]
    newest: list[Alert]  # newest first, at most the limit asked


_OPEN_CRITICAL = "nivel = :nivel AND NOT reconhecido"


def open_critical_alerts(engine: Engine, *, limit: int = 50) -> OpenAlerts:
    """The CRITICO alerts no one has acknowledged yet (``reconhecido`` false), whichever run wrote
    them: counts per empreendimento and per kind, and the newest ``limit``."""
    with engine.connect() as conn:
        if not _exists(conn, "alerta_separacao_cotada"):
            return OpenAlerts(0, [], [], [])
        params = {"nivel": CRITICAL, "limit": limit}

        def grouped(column: str) -> list[tuple[str, int]]:
            sql = (
                f"SELECT COALESCE({column}, '-'), count(*) FROM alerta_separacao_cotada "
                f"WHERE {_OPEN_CRITICAL} GROUP BY 1 ORDER BY 1"
            )
            return [tuple(r) for r in conn.execute(text(sql), params)]

        by_emp = grouped("empreendimento")
        newest = [
            Alert(**r)
            for r in conn.execute(
                text(
                    "SELECT id, criado_em, empreendimento, separacao_lote_id, num_pedido, cod_produto, "
                    "tipo_alteracao, qtd_anterior, qtd_nova, run_id FROM alerta_separacao_cotada "
                    f"WHERE {_OPEN_CRITICAL} ORDER BY criado_em DESC, id DESC LIMIT :limit"
                ),
                params,
            ).mappings()
        ]
        return OpenAlerts(sum(n for _, n in by_emp), by_emp, grouped("tipo_alteracao"), newest)


def acknowledge_alerts(engine: Engine, ids: Iterable[int]) -> list[int]:
    """Mark alerts as seen by a human (``reconhecido = true``); the ids that were open before."""
    with engine.begin() as conn:
        return sorted(
            conn.execute(
                text(
                    "UPDATE alerta_separacao_cotada SET reconhecido = true "
                    "WHERE id = ANY(:ids) AND NOT reconhecido RETURNING id"
                ),
                {"ids": sorted({int(i) for i in ids})},
            ).scalars()
        )


# --- sync_rejeitado ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetAside:
    by_rule: dict[str, int]
    newest: list[tuple]  # (model, odoo_id, rule, message, partition_key), newest first

    @property
    def total(self) -> int:
        return sum(self.by_rule.values())


def set_aside_records(engine: Engine, asset: str, *, staged_in: str, sample: int = 20) -> SetAside:
    """Records of ``asset`` in sync_rejeitado that are still set aside.

    A reject is deleted when its partition syncs the record cleanly (``db/rejects.py``); one whose
    record was accepted meanwhile under another partition (its document re-dated) is still in the
    table until its old partition runs again: it is left out here because the record is staged in
    ``staged_in`` (by ``odoo_line_id``) now.
    """
    if staged_in not in STAGING_TABLES:
        raise ValueError(f"{staged_in!r} is not a staging table ({', '.join(STAGING_TABLES)})")
    with engine.connect() as conn:
        if not _exists(conn, "sync_rejeitado"):
            return SetAside({}, [])
        current = (
            f"SELECT r.* FROM sync_rejeitado r WHERE r.asset = :asset AND NOT EXISTS "
            f"(SELECT 1 FROM {staged_in} s WHERE s.odoo_line_id = r.odoo_id)"
        )
        params = {"asset": asset, "n": sample}
        by_rule = dict(conn.execute(text(f"SELECT rule, count(*) FROM ({current}) c GROUP BY rule"), params).all())
        newest = conn.execute(
            text(f"SELECT model, odoo_id, rule, message, partition_key FROM ({current}) c ORDER BY id DESC LIMIT :n"),
            params,
        ).all()
    return SetAside(by_rule, [tuple(r) for r in newest])


# --- relatorio_faturamento_importado ----------------------------------------------------------------
_NF_MISMATCH_SQL = """
    SELECT r.empreendimento, r.numero_nf, r.valor_total, l.v AS soma_linhas
    FROM relatorio_faturamento_importado r
    JOIN (SELECT odoo_move_id, sum(valor_produto_faturado) AS v FROM faturamento_produto GROUP BY odoo_move_id) l
        USING (odoo_move_id)
    WHERE r.valor_total <> l.v
"""


def nf_total_mismatches(engine: Engine, *, sample: int = 20) -> tuple[int, list[tuple]]:
    """NFs whose relatorio_faturamento_importado total differs from the sum of their lines in
    faturamento_produto: how many, and the first ``sample`` (empreendimento, numero_nf,
    valor_total, Σ lines)."""
    with engine.connect() as conn:
        if not (_exists(conn, "faturamento_produto") and _exists(conn, "relatorio_faturamento_importado")):
            return 0, []
        # one pass over the tables (a scan of every line: at a million lines, each pass costs a second)
        rows = conn.execute(
            text(
                f"SELECT m.*, count(*) OVER () AS total FROM ({_NF_MISMATCH_SQL}) m "
                "ORDER BY empreendimento, numero_nf LIMIT :n"
            ),
            {"n": sample},
        ).all()
    total = rows[0].total if rows else 0
    return total, [tuple(r)[:4] for r in rows]


# --- carteira_principal against Odoo ----------------------------------------------------------------
@dataclass(frozen=True)
class SampledLine:
    """An open carteira line and the staged Odoo order lines it sums (``{line id: write_date}``
    as staged; empty when no staged line backs the row)."""

    empreendimento: str
    num_pedido: str
    cod_produto: str
    qtd_saldo: Decimal
    of_run: bool  # one of its order lines is staged in a partition of the run
    staged: dict[int, datetime | None]

    @property
    def key(self) -> str:
        return f"{self.empreendimento} {self.num_pedido}/{self.cod_produto}"


@dataclass(frozen=True)
class CarteiraSample:
    open_lines: int  # in the whole carteira
    lines: list[SampledLine]


_SAMPLE_SQL = """
WITH run_partitions AS (
    SELECT * FROM unnest(CAST(:emps AS text[]), CAST(:days AS date[])) AS p(empreendimento, partition_date)
),
run_keys AS (
    SELECT DISTINCT l.empreendimento, l.num_pedido, l.cod_produto
    FROM odoo_pedido_linha l JOIN run_partitions p USING (empreendimento, partition_date)
),
picked AS (
    SELECT c.empreendimento, c.num_pedido, c.cod_produto, c.qtd_saldo_produto_pedido,
           r.num_pedido IS NOT NULL AS of_run
    FROM carteira_principal c LEFT JOIN run_keys r USING (empreendimento, num_pedido, cod_produto)
    ORDER BY of_run DESC, c.updated_at DESC, c.empreendimento, c.num_pedido, c.cod_produto
    LIMIT :limit
)
SELECT k.empreendimento, k.num_pedido, k.cod_produto, k.qtd_saldo_produto_pedido, k.of_run,
       l.odoo_line_id, l.odoo_write_date, (SELECT count(*) FROM carteira_principal) AS open_lines
FROM picked k
LEFT JOIN odoo_pedido_linha l
    ON l.empreendimento = k.empreendimento AND l.num_pedido = k.num_pedido AND l.cod_produto = k.cod_produto
ORDER BY k.of_run DESC, k.empreendimento, k.num_pedido, k.cod_produto, l.odoo_line_id
"""


def carteira_sample(engine: Engine, run_partitions: Sequence[tuple[str, date]], *, limit: int) -> CarteiraSample:
    """At most ``limit`` open carteira lines with the Odoo order lines they were computed from.

    Deterministic for a given database and run: first the lines whose orders are staged in one of
    ``run_partitions`` (what the run just wrote), then the most recently written others; ties by key.
    """
    with engine.connect() as conn:
        if not _exists(conn, "carteira_principal"):
            return CarteiraSample(0, [])
        rows = conn.execute(
            text(_SAMPLE_SQL),
            {"emps": [e for e, _ in run_partitions], "days": [d for _, d in run_partitions], "limit": limit},
        ).all()
    lines: dict[tuple[str, str, str], SampledLine] = {}
    for emp, pedido, produto, saldo, of_run, line_id, write_date, _ in rows:
        line = lines.setdefault((emp, pedido, produto), SampledLine(emp, pedido, produto, saldo, of_run, {}))
        if line_id is not None:
            line.staged[line_id] = write_date
    return CarteiraSample(rows[0][-1] if rows else 0, list(lines.values()))
