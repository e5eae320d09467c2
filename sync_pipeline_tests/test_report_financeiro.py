"""`sync-pipeline status` and the demo: the finance figures of each empreendimento's last months,
read from the tables (real PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import text

from sync_pipeline.db import report


def _month(conn, emp: str, month: str, *, overdue: float, ativos: float, outras: float, cash_out: float) -> None:
    params = {"emp": emp, "m": f"{month}-01", "o": overdue, "a": ativos, "x": outras, "s": cash_out}
    conn.execute(
        text(
            "INSERT INTO inadimplencia (empreendimento, ref_month, as_of, ate_30, de_31_a_60, de_61_a_90, "
            "de_91_a_180, acima_180, total_vencido, parcelas_vencidas, contratos_inadimplentes) "
            "VALUES (:emp, :m, :m, :o, 0, 0, 0, 0, :o, 1, 1)"
        ),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO entradas_caixa (empreendimento, ref_month, categoria, previsto, realizado) VALUES "
            "(:emp, :m, 'ATIVOS', 1000, :a), (:emp, :m, 'OUTRAS', 0, :x)"
        ),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO saidas_caixa (empreendimento, ref_month, categoria, orcamento, realizado) "
            "VALUES (:emp, :m, '4.2.2.01 Aluguéis', 500, :s)"
        ),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO estatisticas_portfolio (empreendimento, ref_month, as_of, valor_presente, saldo_aberto, "
            "total_contratos, contratos_ativos, prazo_medio_meses, duration_anos) "
            "VALUES (:emp, :m, :m, 900, 950, 3, 2, 4.5, 0.3)"
        ),
        params,
    )


def test_the_last_months_of_each_empreendimento_with_cash_in_by_category_and_the_overdue_buckets(db):
    with db.begin() as conn:
        assert report.financeiro_months(conn) == []  # empty tables: nothing printed
        for month, overdue in (("2025-01", 10), ("2025-02", 20), ("2025-03", 30), ("2025-04", 40)):
            _month(conn, "empresa-1", month, overdue=overdue, ativos=700, outras=12.5, cash_out=480)
        _month(conn, "empresa-2", "2025-04", overdue=0, ativos=1000, outras=0, cash_out=0)
        lines = report.financeiro_months(conn, months=3)
    assert lines[0] == "  empresa-1:"
    assert [line.split()[0] for line in lines[1:4]] == ["2025-02", "2025-03", "2025-04"]  # the last three
    assert lines[4] == "  empresa-2:" and len(lines) == 6
    april = lines[3]
    assert "cash in ATIVOS 700.00, ANTECIPACOES 0.00, RECUPERACOES 0.00, OUTRAS 12.50 (due 1,000.00)" in april
    assert "cash out 480.00 (due 500.00)" in april
    assert "overdue ≤30 40.00" in april and "(total 40.00)" in april
    assert "open 950.00 in 2 contracts, PV 900.00" in april
