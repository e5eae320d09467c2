"""Set-based SQL of the financeiro graph (docs/financeiro.md): a constant number of statements per
chunk of partitions, whatever the number of instalments, and per run.

``apply_parcelas`` brings ``parcelas`` of a scope's partitions in line with their staged
instalments (``odoo_financeiro_parcela`` / ``odoo_financeiro_pagamento``, mirrored by the extract)
and notes the earliest month the scope's rows touch (old or new: due dates, payments, issue dates)
in ``financeiro_pendente``. ``apply_months``, once per run after its last chunk, recomputes the
monthly tables of the whole empreendimento from the earliest month noted — to the last month with
a figure for the cash tables, to the current month for the portfolio and delinquency — and removes
the note. A row that did not change is not written (IS DISTINCT FROM), so an unchanged source
writes nothing; rows of those months the recomputation no longer produces are deleted.

The rules (categories, statuses, buckets, the discount rate) come from ``domain.financeiro`` as bind
parameters.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Table, bindparam, column, delete, exists, func, literal_column, select, text
from sqlalchemy.engine import Connection

from sync_pipeline.db.schema import entradas_caixa, estatisticas_portfolio, inadimplencia, parcelas, saidas_caixa
from sync_pipeline.db.staging import Scope, count_where, day_of, day_of_column, owns, owns_any, per_day, scope_days
from sync_pipeline.db.upsert import upsert_statement
from sync_pipeline.domain import financeiro as rules

_MANAGED = ("created_at", "updated_at")


def _month(expr: str) -> str:
    """SQL: the first day of ``expr``'s month, as a date."""
    return f"CAST(date_trunc('month', CAST({expr} AS timestamp)) AS date)"


def rule_params(today: date, rate: Decimal) -> dict:
    return {
        "today": today,
        "rate": str(rate),
        "receber": rules.RECEBER,
        "pagar": rules.PAGAR,
        "avulso": rules.AVULSO,
        "cancel": rules.CANCELLED,
        "ativos": rules.ATIVOS,
        "antecipacoes": rules.ANTECIPACOES,
        "recuperacoes": rules.RECUPERACOES,
        "outras": rules.OUTRAS,
        "cancelada": rules.CANCELADA,
        "paga": rules.PAGA,
        "vencida": rules.VENCIDA,
        "parcial": rules.PARCIAL,
        "aberta": rules.ABERTA,
        "days_per_year": rules.DAYS_PER_YEAR,
        **rules.bucket_params(),
    }


# The earliest month the scope's rows touch, old (as last applied: the ledger, parcelas) or new
# (staged now): issue dates, due dates, payment dates, never later than the scope's own first month.
# The same statement brings the ledger in line with what each partition of the scope contributes
# now (its CTEs write; the SELECT sees the ledger as it was, PostgreSQL's one snapshot per statement);
# partitions with nothing staged any more leave it.
_LOWER_SQL = f"""
WITH low AS (
    SELECT x.day, CAST(date_trunc('month', CAST(COALESCE(min(x.low), x.day) AS timestamp)) AS date) AS mes
    FROM (SELECT {day_of("s", "partition_date")} AS day, least(s.data_emissao, s.data_vencimento) AS low
          FROM odoo_financeiro_parcela s WHERE s.empreendimento = :emp AND {owns("s", "partition_date")}
          UNION ALL
          SELECT {day_of("p", "partition_date")}, p.data
          FROM odoo_financeiro_pagamento p WHERE p.empreendimento = :emp AND {owns("p", "partition_date")}) x
    GROUP BY x.day
),
gone AS (
    DELETE FROM financeiro_particao f
    WHERE f.empreendimento = :emp AND {owns("f", "partition_date")}
      AND NOT EXISTS (SELECT 1 FROM low WHERE low.day = f.partition_date)
),
kept AS (
    INSERT INTO financeiro_particao AS f (empreendimento, partition_date, primeiro_mes)
    SELECT :emp, low.day, low.mes FROM low
    ON CONFLICT (empreendimento, partition_date)
    DO UPDATE SET primeiro_mes = EXCLUDED.primeiro_mes, updated_at = now()
    WHERE f.primeiro_mes IS DISTINCT FROM EXCLUDED.primeiro_mes
)
SELECT {_month("least(CAST(:start AS date), s.low, p.low, x.low, f.low)")}
FROM (SELECT min(least(s.data_emissao, s.data_vencimento)) AS low FROM odoo_financeiro_parcela s
      WHERE s.empreendimento = :emp AND {owns("s", "partition_date")}) s,
     (SELECT min(p.data) AS low FROM odoo_financeiro_pagamento p
      WHERE p.empreendimento = :emp AND {owns("p", "partition_date")}) p,
     (SELECT min(least(x.data_vencimento, x.data_ultimo_pagamento, x.partition_date)) AS low FROM parcelas x
      WHERE x.empreendimento = :emp AND {owns("x", "partition_date")}) x,
     (SELECT min(f.primeiro_mes) AS low FROM financeiro_particao f
      WHERE f.empreendimento = :emp AND {owns("f", "partition_date")}) f
"""

# parcelas of the scope: numbered within the contract by due date then line id; paid = Σ payments
# (cash or not); status as domain.financeiro.status_parcela.
_PARCELAS_SQL = f"""
SELECT s.odoo_line_id, s.empreendimento, s.partition_date, s.odoo_move_id, s.numero_nf, s.num_pedido,
       CAST(row_number() OVER (PARTITION BY s.odoo_move_id ORDER BY s.data_vencimento, s.odoo_line_id) AS integer)
           AS numero_parcela,
       s.data_vencimento, s.valor_original, COALESCE(pg.pago, 0) AS valor_pago, pg.ultimo AS data_ultimo_pagamento,
       s.valor_residual,
       CASE WHEN s.move_state = :cancel THEN :cancelada
            WHEN s.valor_residual = 0 THEN :paga
            WHEN s.data_vencimento < CAST(:today AS date) THEN :vencida
            WHEN COALESCE(pg.pago, 0) > 0 THEN :parcial
            ELSE :aberta END AS status
FROM odoo_financeiro_parcela s
LEFT JOIN (SELECT p.odoo_line_id, sum(p.valor) AS pago, max(p.data) AS ultimo FROM odoo_financeiro_pagamento p
           WHERE p.empreendimento = :emp AND {owns("p", "partition_date")} GROUP BY p.odoo_line_id) pg
       ON pg.odoo_line_id = s.odoo_line_id
WHERE s.empreendimento = :emp AND s.tipo = :receber AND {owns("s", "partition_date")}
"""

_ENTRADAS_SQL = f"""
WITH inst AS (
    SELECT s.odoo_line_id, s.data_vencimento, s.valor_original, s.move_state FROM odoo_financeiro_parcela s
    WHERE s.empreendimento = :emp AND s.tipo = :receber
),
facts AS (
    SELECT {_month("i.data_vencimento")} AS ref_month, :ativos AS categoria, i.valor_original AS previsto,
           CAST(0 AS numeric) AS realizado
    FROM inst i WHERE i.move_state <> :cancel AND i.data_vencimento >= CAST(:lower AS date)
    UNION ALL
    SELECT {_month("p.data")},
           CASE WHEN {_month("p.data")} = {_month("i.data_vencimento")} THEN :ativos
                WHEN {_month("p.data")} < {_month("i.data_vencimento")} THEN :antecipacoes
                ELSE :recuperacoes END,
           0, p.valor
    FROM odoo_financeiro_pagamento p JOIN inst i ON i.odoo_line_id = p.odoo_line_id
    WHERE p.empreendimento = :emp AND p.em_caixa AND p.data >= CAST(:lower AS date)
    UNION ALL
    SELECT {_month("s.data_emissao")}, :outras, 0, s.valor_residual FROM odoo_financeiro_parcela s
    WHERE s.empreendimento = :emp AND s.tipo = :avulso AND s.data_emissao >= CAST(:lower AS date)
)
SELECT CAST(:emp AS varchar) AS empreendimento, f.ref_month, CAST(f.categoria AS varchar) AS categoria,
       sum(f.previsto) AS previsto, sum(f.realizado) AS realizado
FROM facts f GROUP BY f.ref_month, f.categoria
HAVING sum(f.previsto) <> 0 OR sum(f.realizado) <> 0
"""

_SAIDAS_SQL = f"""
WITH inst AS (
    SELECT s.odoo_line_id, s.data_vencimento, s.valor_original, s.move_state, s.categoria
    FROM odoo_financeiro_parcela s WHERE s.empreendimento = :emp AND s.tipo = :pagar
),
facts AS (
    SELECT {_month("i.data_vencimento")} AS ref_month, i.categoria, i.valor_original AS orcamento,
           CAST(0 AS numeric) AS realizado
    FROM inst i WHERE i.move_state <> :cancel AND i.data_vencimento >= CAST(:lower AS date)
    UNION ALL
    SELECT {_month("p.data")}, i.categoria, 0, p.valor
    FROM odoo_financeiro_pagamento p JOIN inst i ON i.odoo_line_id = p.odoo_line_id
    WHERE p.empreendimento = :emp AND p.em_caixa AND p.data >= CAST(:lower AS date)
)
SELECT CAST(:emp AS varchar) AS empreendimento, f.ref_month, f.categoria,
       sum(f.orcamento) AS orcamento, sum(f.realizado) AS realizado
FROM facts f GROUP BY f.ref_month, f.categoria
HAVING sum(f.orcamento) <> 0 OR sum(f.realizado) <> 0
"""

# Every receivable instalment of a non-cancelled contract issued by each month's as_of whose open
# amount then is not zero (original − payments dated on or before as_of), with its days to due.
# As of a past month's last day, or today for the current month, an instalment counts from its
# issue month and a payment from the month of the later of its date and the issue (nothing dated
# after today counts): so an instalment's open amount is a step function of the month, one step per
# month with a change. ``seg`` holds those steps (from_month, to_month, open amount), and only the
# months of a non-zero step become rows — a paid instalment's months after its last payment cost
# nothing (they were 70 % of the rows of a year of instalments, all read again by every chunk).
_OPEN_AS_OF_CTE = f"""
inst AS (
    SELECT s.odoo_line_id, s.odoo_move_id, s.data_emissao, s.data_vencimento, s.valor_original
    FROM odoo_financeiro_parcela s
    WHERE s.empreendimento = :emp AND s.tipo = :receber AND s.move_state <> :cancel
),
months AS (
    SELECT CAST(gs AS date) AS ref_month,
           CASE WHEN CAST(gs AS date) = {_month(":today")} THEN CAST(:today AS date)
                ELSE CAST(gs + interval '1 month' - interval '1 day' AS date) END AS as_of
    FROM (SELECT min(data_emissao) AS first_issue FROM inst) f,
         generate_series(CAST(greatest({_month("f.first_issue")}, CAST(:lower AS date)) AS timestamp),
                         CAST({_month(":today")} AS timestamp), interval '1 month') gs
    -- no contract, no month (PostgreSQL's greatest() skips a NULL: it would start at :lower)
    WHERE f.first_issue IS NOT NULL
),
steps AS (
    SELECT i.odoo_line_id, {_month("i.data_emissao")} AS from_month, i.valor_original AS delta
    FROM inst i WHERE i.data_emissao <= CAST(:today AS date)
    UNION ALL
    SELECT i.odoo_line_id, {_month("greatest(p.data, i.data_emissao)")}, -p.valor
    FROM inst i JOIN odoo_financeiro_pagamento p ON p.odoo_line_id = i.odoo_line_id
    WHERE i.data_emissao <= CAST(:today AS date) AND p.data <= CAST(:today AS date)
),
seg AS (
    SELECT x.odoo_line_id, x.from_month, lead(x.from_month) OVER w AS to_month, sum(x.delta) OVER w AS aberto
    FROM (SELECT odoo_line_id, from_month, sum(delta) AS delta FROM steps GROUP BY odoo_line_id, from_month) x
    WINDOW w AS (PARTITION BY x.odoo_line_id ORDER BY x.from_month)
),
open_at AS (
    SELECT m.ref_month, m.as_of, i.odoo_move_id, i.data_vencimento, s.aberto,
           i.data_vencimento - m.as_of AS days_to_due
    FROM seg s
    JOIN months m ON m.ref_month >= s.from_month AND (s.to_month IS NULL OR m.ref_month < s.to_month)
    JOIN inst i ON i.odoo_line_id = s.odoo_line_id
    WHERE s.aberto <> 0
),
-- contracts issued by each as_of, open or not (open_at leaves out what was wholly paid then)
issued AS (
    SELECT m.ref_month, count(*) AS total
    FROM months m JOIN (SELECT odoo_move_id, min(data_emissao) AS first_issue FROM inst GROUP BY odoo_move_id) c
         ON c.first_issue <= m.as_of
    GROUP BY m.ref_month
)
"""

_PORTFOLIO_SQL = f"""
WITH {_OPEN_AS_OF_CTE},
discounted AS (
    SELECT o.*, CASE WHEN o.aberto > 0 THEN o.aberto * power(1 + CAST(:rate AS numeric),
                         -CAST(greatest(o.days_to_due, 0) AS numeric) / :days_per_year) ELSE 0 END AS pv
    FROM open_at o
),
contracts AS (
    SELECT ref_month, odoo_move_id, sum(aberto) AS aberto,
           max(data_vencimento) FILTER (WHERE aberto > 0) AS last_due
    FROM open_at GROUP BY ref_month, odoo_move_id
),
per_month AS (
    SELECT c.ref_month, count(*) FILTER (WHERE c.aberto > 0) AS ativos,
           avg(CAST(greatest(c.last_due - m.as_of, 0) AS numeric) * 12 / :days_per_year)
               FILTER (WHERE c.aberto > 0) AS prazo
    FROM contracts c JOIN months m ON m.ref_month = c.ref_month GROUP BY c.ref_month
)
SELECT CAST(:emp AS varchar) AS empreendimento, m.ref_month, m.as_of,
       round(COALESCE(sum(d.pv), 0), 2) AS valor_presente,
       COALESCE(sum(d.aberto), 0) AS saldo_aberto,
       CAST(COALESCE(min(it.total), 0) AS integer) AS total_contratos,
       CAST(COALESCE(min(pm.ativos), 0) AS integer) AS contratos_ativos,
       round(COALESCE(min(pm.prazo), 0), 2) AS prazo_medio_meses,
       round(sum(d.pv * greatest(d.days_to_due, 0)) / :days_per_year / NULLIF(sum(d.pv), 0), 4) AS duration_anos
FROM months m
LEFT JOIN discounted d ON d.ref_month = m.ref_month
LEFT JOIN per_month pm ON pm.ref_month = m.ref_month
LEFT JOIN issued it ON it.ref_month = m.ref_month
GROUP BY m.ref_month, m.as_of
"""


def _bucket(name: str) -> str:
    return (
        f"COALESCE(sum(o.aberto) FILTER (WHERE o.aberto > 0 AND o.as_of - o.data_vencimento "
        f"BETWEEN :{name}_low AND :{name}_high), 0) AS {name}"
    )


_OVERDUE = "o.aberto > 0 AND o.data_vencimento < o.as_of"
_INADIMPLENCIA_SQL = f"""
WITH {_OPEN_AS_OF_CTE}
SELECT CAST(:emp AS varchar) AS empreendimento, m.ref_month, m.as_of,
       {", ".join(_bucket(name) for name, _, _ in rules.BUCKETS)},
       COALESCE(sum(o.aberto) FILTER (WHERE {_OVERDUE}), 0) AS total_vencido,
       CAST(count(o.odoo_move_id) FILTER (WHERE {_OVERDUE}) AS integer) AS parcelas_vencidas,
       CAST(count(DISTINCT o.odoo_move_id) FILTER (WHERE {_OVERDUE}) AS integer) AS contratos_inadimplentes
FROM months m LEFT JOIN open_at o ON o.ref_month = m.ref_month
GROUP BY m.ref_month, m.as_of
"""


def _columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if c.name not in _MANAGED]


def _source(table: Table, sql: str, name: str):
    return text(sql).columns(*(column(c, table.c[c].type) for c in _columns(table))).cte(name)


def _parcelas_statement():
    """Upsert the scope's parcelas and delete those of its partitions no longer staged; counts
    per day."""
    t = parcelas
    src = _source(t, _PARCELAS_SQL, "src")
    up = upsert_statement(t, None, select(*src.c), returning=[t.c.partition_date]).cte("up")
    gone = (
        delete(t)
        .where(
            t.c.empreendimento == bindparam("emp"),
            text(owns(t.name, "partition_date")),
            # against the staging table's primary key, not the CTE: a CTE has no index, and on a
            # first backfill (statistics not yet gathered, the planner expects one parcelas row)
            # PostgreSQL picked a nested loop over it — 90 s for one partition of 32,000 instalments
            text(
                "NOT EXISTS (SELECT 1 FROM odoo_financeiro_parcela s WHERE s.odoo_line_id = parcelas.odoo_line_id "
                f"AND s.empreendimento = :emp AND s.tipo = :receber AND {owns('s', 'partition_date')})"
            ),
        )
        .returning(day_of_column(t.c.partition_date).label("day"))
        .cte("gone")
    )
    d = scope_days()
    return select(
        d.c.day,
        count_where(up, up.c.inserted, up.c.partition_date == d.c.day),
        count_where(up, ~up.c.inserted, up.c.partition_date == d.c.day),
        count_where(gone, gone.c.day == d.c.day),
    )


def _monthly_statement(table: Table, sql: str):
    """Upsert the recomputed months of the empreendimento into ``table`` and delete its rows of
    those months (from ``:lower`` on) the recomputation no longer produces; counts."""
    src = _source(table, sql, "src")
    up = upsert_statement(table, None, select(*src.c)).cte("up")
    keys = [c.name for c in table.primary_key.columns]
    gone = (
        delete(table)
        .where(
            table.c.empreendimento == bindparam("emp"),
            table.c.ref_month >= bindparam("lower"),
            ~exists(select(literal_column("1")).select_from(src).where(*(src.c[k] == table.c[k] for k in keys))),
        )
        .returning(table.c.ref_month)
        .cte("gone")
    )
    return select(
        select(func.count()).select_from(up).where(up.c.inserted).scalar_subquery(),
        select(func.count()).select_from(up).where(~up.c.inserted).scalar_subquery(),
        select(func.count()).select_from(gone).scalar_subquery(),
    )


MONTHLY = (
    ("entradas_caixa", entradas_caixa, _ENTRADAS_SQL),
    ("saidas_caixa", saidas_caixa, _SAIDAS_SQL),
    ("estatisticas_portfolio", estatisticas_portfolio, _PORTFOLIO_SQL),
    ("inadimplencia", inadimplencia, _INADIMPLENCIA_SQL),
)

# What a finance user reads per partition: the figures of its month.
_FIGURES_SQL = f"""
SELECT m.ref_month,
       (SELECT COALESCE(sum(e.previsto), 0) FROM entradas_caixa e
        WHERE e.empreendimento = :emp AND e.ref_month = m.ref_month) AS entradas_previsto,
       (SELECT COALESCE(jsonb_object_agg(e.categoria, e.realizado), '{{}}') FROM entradas_caixa e
        WHERE e.empreendimento = :emp AND e.ref_month = m.ref_month) AS entradas_realizado,
       (SELECT COALESCE(sum(s.orcamento), 0) FROM saidas_caixa s
        WHERE s.empreendimento = :emp AND s.ref_month = m.ref_month) AS saidas_orcamento,
       (SELECT COALESCE(sum(s.realizado), 0) FROM saidas_caixa s
        WHERE s.empreendimento = :emp AND s.ref_month = m.ref_month) AS saidas_realizado,
       (SELECT i.total_vencido FROM inadimplencia i
        WHERE i.empreendimento = :emp AND i.ref_month = m.ref_month) AS valor_vencido,
       (SELECT i.contratos_inadimplentes FROM inadimplencia i
        WHERE i.empreendimento = :emp AND i.ref_month = m.ref_month) AS contratos_inadimplentes,
       (SELECT p.saldo_aberto FROM estatisticas_portfolio p
        WHERE p.empreendimento = :emp AND p.ref_month = m.ref_month) AS saldo_aberto,
       (SELECT p.valor_presente FROM estatisticas_portfolio p
        WHERE p.empreendimento = :emp AND p.ref_month = m.ref_month) AS valor_presente,
       (SELECT p.contratos_ativos FROM estatisticas_portfolio p
        WHERE p.empreendimento = :emp AND p.ref_month = m.ref_month) AS contratos_ativos
FROM (SELECT DISTINCT {_month("d.day")} AS ref_month FROM unnest(CAST(:days AS date[])) AS d(day)) m
"""

CATEGORIAS = (rules.ATIVOS, rules.ANTECIPACOES, rules.RECUPERACOES, rules.OUTRAS)


def _figures(row) -> dict:
    realizado = row.entradas_realizado or {}
    out = {
        "month": row.ref_month.strftime("%Y-%m"),
        "entradas_previsto": float(row.entradas_previsto),
        **{f"entradas_realizado_{c.lower()}": float(realizado.get(c, 0)) for c in CATEGORIAS},
        "saidas_orcamento": float(row.saidas_orcamento),
        "saidas_realizado": float(row.saidas_realizado),
        "valor_vencido": float(row.valor_vencido or 0),
        "contratos_inadimplentes": row.contratos_inadimplentes or 0,
        "saldo_aberto": float(row.saldo_aberto or 0),
        "valor_presente": float(row.valor_presente or 0),
        "contratos_ativos": row.contratos_ativos or 0,
    }
    out["entradas_realizado"] = round(sum(out[f"entradas_realizado_{c.lower()}"] for c in CATEGORIAS), 2)
    return out


# What only the passing of days changes: an open instalment of any partition of the empreendimento
# becomes overdue the day after its due date, although nothing about it changed in Odoo.
_NOW_OVERDUE_SQL = """
UPDATE parcelas SET status = :vencida, updated_at = now()
WHERE empreendimento = :emp AND status IN (:aberta, :parcial) AND valor_residual > 0
  AND data_vencimento < CAST(:today AS date)
"""


# A chunk notes the earliest month it touched; the run's last step recomputes from the earliest
# noted (by it or by a run that failed before its end) and removes the note in its transaction.
_NOTE_PENDING_SQL = """
INSERT INTO financeiro_pendente AS f (empreendimento, desde) VALUES (:emp, :lower)
ON CONFLICT (empreendimento) DO UPDATE SET desde = least(f.desde, EXCLUDED.desde), updated_at = now()
WHERE EXCLUDED.desde < f.desde
"""
_TAKE_PENDING_SQL = "DELETE FROM financeiro_pendente WHERE empreendimento = :emp RETURNING desde"


def apply_parcelas(conn: Connection, scope: Scope, *, today: date, rate: Decimal) -> dict[date, dict]:
    """``parcelas`` of the scope's partitions and the ledger of the months they touch, noting those
    months as pending in ``financeiro_pendente`` (``apply_months`` recomputes them): three
    statements whatever the number of partitions and instalments. Returns per day its parcelas
    counts."""
    params = {**scope.params(), **rule_params(today, rate)}
    params["lower"] = conn.execute(text(_LOWER_SQL), params).scalar_one()
    counts = per_day(conn.execute(_parcelas_statement(), params), ("inserted", "updated", "deleted"))
    conn.execute(text(_NOTE_PENDING_SQL), params)
    return {day: counts[day] for day in scope.days}


def apply_months(
    conn: Connection, empreendimento: str, days: list[date], *, today: date, rate: Decimal
) -> dict[date, dict]:
    """The monthly tables of the empreendimento for the months pending (from the earliest month
    noted by ``apply_parcelas``), the statuses the date alone changed, and the figures of the
    months of ``days``: seven statements, once per run. Returns per day its month's figures and
    (on the first of ``days``, once) the monthly rows written and the parcelas now overdue. Nothing
    pending: no month recomputed, the figures only."""
    params = {"emp": empreendimento, "days": list(days), **rule_params(today, rate)}
    pending = conn.execute(text(_TAKE_PENDING_SQL), params).scalars().all()
    now_overdue = conn.execute(text(_NOW_OVERDUE_SQL), params).rowcount
    monthly = {}
    lower = min(pending) if pending else None
    if lower is not None:
        params["lower"] = lower
        for name, table, sql in MONTHLY:
            inserted, updated, deleted = conn.execute(_monthly_statement(table, sql), params).one()
            monthly[name] = {"inserted": inserted, "updated": updated, "deleted": deleted}
    figures = {row.ref_month: _figures(row) for row in conn.execute(text(_FIGURES_SQL), params)}
    out = {}
    for day in days:
        first = day == days[0]
        of_day = {"months_from": lower.isoformat() if lower else "", **figures[day.replace(day=1)]}
        of_day["parcelas_now_overdue"] = now_overdue if first else 0
        for name, _, _ in MONTHLY:
            for k in ("inserted", "updated", "deleted"):
                of_day[f"{name}_{k}"] = monthly.get(name, {}).get(k, 0) if first else 0
        out[day] = of_day
    return out


def apply_partitions(conn: Connection, scope: Scope, *, today: date, rate: Decimal) -> dict[date, dict]:
    """``apply_parcelas`` then ``apply_months`` for one scope, in the caller's transaction (a run
    applies its chunks' parcelas first and the months once, at its end: assets/financeiro.py)."""
    counts = apply_parcelas(conn, scope, today=today, rate=rate)
    months = apply_months(conn, scope.empreendimento, list(scope.days), today=today, rate=rate)
    return {day: {**counts[day], **months[day]} for day in scope.days}


COUNTS = ("inserted", "updated", "deleted", "parcelas_now_overdue") + tuple(
    f"{name}_{k}" for name, _, _ in MONTHLY for k in ("inserted", "updated", "deleted")
)


def has_rows(conn: Connection, scope: Scope) -> bool:
    """Whether the scope holds staged instalments, parcelas or months it counted in: one query. A chunk holding the
    last partition (today) always runs: today's date alone changes the statuses and the current
    month's figures (the daily schedule runs it when nothing else did)."""
    if scope.last:
        return True
    return owns_any(
        conn,
        scope,
        ("odoo_financeiro_parcela", "partition_date"),
        ("parcelas", "partition_date"),
        ("financeiro_particao", "partition_date"),  # rows that left staging since the last run
    )
