"""The reduction hierarchy of DESIGN §5.3 as plain code: the worked example, each branch, and properties."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_pipeline.domain.hierarchy import (
    AJUSTE,
    CRITICO,
    OPEN_STATUSES,
    Alert,
    LineChange,
    LinePlan,
    PreSeparacao,
    Separacao,
    diff_tipo,
    is_changed,
    plan_line,
    plan_partition,
)
from sync_pipeline_tests.hierarchy_model import apply_plan

D = Decimal
T0 = datetime(2025, 9, 3, 8, 0)


def pre(id_, qtd, hours=0, pedido="PED001", produto="PROD001"):
    return PreSeparacao(id_, pedido, produto, D(qtd), T0 + timedelta(hours=hours))


def sep(id_, lote, status, qtd, pedido="PED001", produto="PROD001", tipo="parcial", nf=False):
    return Separacao(id_, lote, pedido, produto, status, tipo, D(qtd), nf)


def change(antes, depois, faturada=0, pedido="PED001", produto="PROD001", cancelado=False):
    return LineChange(
        pedido,
        produto,
        None if antes is None else D(antes),
        None if depois is None else D(depois),
        D(faturada),
        cancelado,
    )


def one(c, pres=(), seps=(), order_seps=None):
    return plan_line(c, list(pres), list(seps), list(seps if order_seps is None else order_seps))


def critical(plans):
    return [a for p in plans for a in p.alerts if a.nivel == CRITICO]


def taken(plan):
    """(origem, id, qtd) of every decision reduced, in trace order."""
    return [(e["origem"], e["id"], D(e["qtd"])) for e in plan.absorcao if e["efeito"] in ("reduzida", "removida")]


def livre(plan, efeito="consumido"):
    return sum((D(e["qtd"]) for e in plan.absorcao if e["origem"] == "saldo_livre" and e["efeito"] == efeito), D(0))


# --- the worked example (seed 05) -----------------------------------------------------------------


def worked_example():
    changes = [
        change(100, 80, pedido="PED001", produto="PROD001"),
        change(50, 70, pedido="PED001", produto="PROD002"),
        change(None, 30, pedido="PED003", produto="PROD001"),
        change(200, None, pedido="PED002", produto="PROD001"),
    ]
    pres = [pre(1, 30, pedido="PED001", produto="PROD001")]
    seps = [sep(10, "LOTE-9", "COTADO", 100, pedido="PED002", produto="PROD001", tipo="parcial")]
    return changes, pres, seps


def test_worked_example_of_the_design():
    changes, pres, seps = worked_example()
    p1, p2, p3, p4 = plan_partition(changes, pres, seps)

    assert [p.kind for p in (p1, p2, p3, p4)] == ["REDUCAO", "AUMENTO", "NOVO", "REMOVIDO"]
    carteira = {(p.num_pedido, p.cod_produto): p.qtd_depois for p in (p1, p2, p3, p4) if p.open_after}
    assert carteira == {("PED001", "PROD001"): D(80), ("PED001", "PROD002"): D(70), ("PED003", "PROD001"): D(30)}
    # the pré-separação of 30 is intact: the 20 came out of the 70 free
    assert p1.pre_separacao_qtd == {} and p1.separacao_qtd == {}
    assert p1.absorcao == [{"origem": "saldo_livre", "qtd": "20", "efeito": "consumido"}]
    assert livre(p2, "acrescido") == D(20) and livre(p3, "acrescido") == D(30)
    # PED002 cancelled: 100 free, then the COTADO lot goes, with exactly one critical alert
    assert p4.separacao_qtd == {10: D(0)}
    assert livre(p4) == D(100) and taken(p4) == [("separacao", 10, D(100))]
    assert critical([p1, p2, p3, p4]) == [
        Alert("REMOCAO", "PED002", "PROD001", "LOTE-9", D(100), D(0), D(-100), CRITICO)
    ]
    assert all(p.nao_absorvido == 0 for p in (p1, p2, p3, p4))


def test_worked_example_rerun_changes_nothing():
    changes, pres, seps = worked_example()
    plans = plan_partition(changes, pres, seps)
    pres, seps = apply_all(plans, pres, seps)
    again = plan_partition([rerun_change(c, p) for c, p in zip(changes, plans, strict=True)], pres, seps)
    assert not any(is_changed(p) for p in again)
    assert [diff_tipo(p) for p in again] == [None] * 4


# --- each branch on its own -----------------------------------------------------------------------


def test_reduction_within_free_balance_touches_no_decision():
    plan = one(change(100, 80), [pre(1, 30)], [sep(2, "L1", "ABERTO", 40)])
    assert plan.kind == "REDUCAO" and plan.delta == D(-20) and plan.saldo == D(80)
    assert (plan.pre_separacao_qtd, plan.separacao_qtd, plan.alerts) == ({}, {}, [])
    assert livre(plan) == D(20)
    assert is_changed(plan)


def test_pre_separacoes_newest_first_and_deleted_at_zero():
    # free 40 of the 60 reduction, then 20 from the pré-separações: id 3 (newest, ties on criado_em with
    # id 2 and wins on id) goes entirely, id 2 loses 10, id 1 (oldest) is intact.
    pres = [pre(1, 30, hours=0), pre(2, 20, hours=1), pre(3, 10, hours=1)]
    plan = one(change(100, 40), pres)
    assert livre(plan) == D(40)
    assert plan.pre_separacao_qtd == {3: D(0), 2: D(10)}
    assert taken(plan) == [("pre_separacao", 3, D(10)), ("pre_separacao", 2, D(10))]
    assert [e["efeito"] for e in plan.absorcao] == ["consumido", "removida", "reduzida"]
    assert plan.alerts == []


def test_separacoes_previsao_then_aberto_then_cotado_with_alerts():
    seps = [
        sep(5, "L1", "PREVISAO", 10),
        sep(6, "L2", "PREVISAO", 10),
        sep(7, "L3", "ABERTO", 30),
        sep(8, "L4", "COTADO", 40),
    ]
    plan = one(change(100, 10), [pre(1, 5)], seps)
    # open 95, free 5; excess 85 = pré 5 + PREVISAO 10 + 10 (largest id first) + ABERTO 30 + COTADO 30
    assert livre(plan) == D(5)
    assert taken(plan) == [
        ("pre_separacao", 1, D(5)),
        ("separacao", 6, D(10)),
        ("separacao", 5, D(10)),
        ("separacao", 7, D(30)),
        ("separacao", 8, D(30)),
    ]
    assert plan.separacao_qtd == {6: D(0), 5: D(0), 7: D(0), 8: D(10)}
    assert plan.alerts == [
        Alert("REDUCAO", "PED001", "PROD001", "L3", D(30), D(0), D(-30), "ATENCAO"),
        Alert("REDUCAO", "PED001", "PROD001", "L4", D(40), D(10), D(-30), CRITICO),
    ]
    assert plan.nao_absorvido == 0


def test_invoiced_and_closed_separacoes_are_never_touched():
    seps = [
        sep(1, "L1", "ABERTO", 50, nf=True),
        sep(2, "L2", "FATURADO", 50),
        sep(3, "L3", "EMBARCADO", 50),
        sep(4, "L4", "PREVISAO", 20),
    ]
    plan = one(change(100, 0, faturada=0), seps=seps)
    assert plan.separacao_qtd == {4: D(0)}
    assert livre(plan) == D(80)


def test_saldo_negativo_when_invoiced_more_than_ordered_now():
    plan = one(change(100, 50, faturada=60), seps=[sep(1, "L1", "ABERTO", 10)])
    assert plan.kind == "REDUCAO" and plan.saldo == D(-10) and not plan.open_after
    assert plan.separacao_qtd == {1: D(0)}
    assert plan.nao_absorvido == D(10)
    # drop 50 = free 30 (100 − 60 − 10) + 10 taken + 10 not absorbable
    assert livre(plan) == D(30)
    neg = [a for a in plan.alerts if a.tipo_alteracao == "SALDO_NEGATIVO"]
    assert neg == [Alert("SALDO_NEGATIVO", "PED001", "PROD001", None, D(50), D(60), D(10), CRITICO)]


def test_increase_grows_the_only_total_lot_in_previsao():
    seps = [sep(1, "L1", "PREVISAO", 40, tipo="total"), sep(2, "L1", "PREVISAO", 5, produto="PROD002", tipo="total")]
    plan = one(change(100, 120), seps=seps[:1], order_seps=seps)
    assert plan.kind == "AUMENTO"
    assert plan.separacao_qtd == {1: D(60)} and plan.separacao_nova == []
    assert plan.alerts == []  # PREVISAO: traced, no alert
    assert plan.absorcao[0]["efeito"] == "aumentada" and livre(plan, "acrescido") == 0


def test_increase_adds_a_row_to_a_total_lot_lacking_the_product():
    order = [sep(1, "L1", "ABERTO", 10, produto="PROD002", tipo="total")]
    plan = one(change(100, 130), order_seps=order)
    assert plan.separacao_nova == [("L1", D(30))] and plan.separacao_qtd == {}
    assert [(a.tipo_alteracao, a.nivel, a.qtd_diferenca) for a in plan.alerts] == [("AUMENTO", "ATENCAO", D(30))]
    _, after = apply_plan(plan, [], order)
    assert after[-1] == Separacao(2, "L1", "PED001", "PROD001", "ABERTO", "total", D(30), False)


def test_increase_does_not_grow_a_partial_lot():
    seps = [sep(1, "L1", "ABERTO", 40, tipo="parcial")]
    plan = one(change(100, 120), seps=seps)
    assert (plan.separacao_qtd, plan.separacao_nova, plan.alerts) == ({}, [], [])
    assert livre(plan, "acrescido") == D(20)


def test_increase_on_cotado_total_lot_alerts_and_does_not_grow():
    seps = [sep(1, "L1", "COTADO", 40, tipo="total")]
    plan = one(change(100, 120), seps=seps)
    assert (plan.separacao_qtd, plan.separacao_nova) == ({}, [])
    assert plan.alerts == [Alert("AUMENTO", "PED001", "PROD001", "L1", D(40), D(60), D(20), CRITICO)]
    assert livre(plan, "acrescido") == D(20)


def test_increase_with_two_open_lots_goes_to_free_balance():
    seps = [sep(1, "L1", "PREVISAO", 40, tipo="total"), sep(2, "L2", "PREVISAO", 10, tipo="total")]
    plan = one(change(100, 120), seps=seps)
    assert (plan.separacao_qtd, plan.separacao_nova, plan.alerts) == ({}, [], [])
    # an invoiced lot does not count as a second open lot
    seps[1] = sep(2, "L2", "PREVISAO", 10, tipo="total", nf=True)
    assert one(change(100, 120), seps=seps).separacao_qtd == {1: D(60)}


def test_new_line_of_an_order_with_one_total_lot_goes_to_free_balance():
    order = [sep(1, "L1", "PREVISAO", 10, produto="PROD002", tipo="total")]
    plan = one(change(None, 25), order_seps=order)
    assert plan.kind == "NOVO" and plan.separacao_nova == [] and plan.separacao_qtd == {}
    assert livre(plan, "acrescido") == D(25) and plan.alerts == []


def test_increase_judges_lots_after_the_reductions_of_the_order():
    seps = [
        sep(1, "L1", "ABERTO", 10, produto="PROD002", tipo="total"),
        sep(2, "L2", "PREVISAO", 20, produto="PROD001", tipo="total"),
    ]
    changes = [change(100, 110, produto="PROD001"), change(10, None, produto="PROD002")]
    grow, removed = plan_partition(changes, [], seps)
    assert removed.separacao_qtd == {1: D(0)}
    assert grow.separacao_qtd == {2: D(30)}  # L1 emptied, so L2 is the order's only lot


def test_removed_line_reduces_its_whole_saldo():
    plan = one(
        change(50, None, faturada=5), [pre(1, 10)], [sep(2, "L1", "ABERTO", 20), sep(3, "L0", "COTADO", 5, nf=True)]
    )
    assert plan.kind == "REMOVIDO" and plan.qtd_depois is None and not plan.open_after
    assert plan.pre_separacao_qtd == {1: D(0)} and plan.separacao_qtd == {2: D(0)}
    assert [(a.tipo_alteracao, a.nivel) for a in plan.alerts] == [("REMOCAO", "ATENCAO"), ("SALDO_NEGATIVO", CRITICO)]
    assert plan.nao_absorvido == D(5)  # invoiced on a line that no longer exists
    assert livre(plan) == D(15)


def test_cancelled_order_is_removed_even_if_the_source_still_lists_the_line():
    plan = one(change(80, 80, cancelado=True), seps=[sep(1, "L1", "COTADO", 80, tipo="total")])
    assert plan.kind == "REMOVIDO" and plan.pedido_cancelado and plan.qtd_depois is None
    assert plan.separacao_qtd == {1: D(0)}
    assert plan.alerts == [Alert("REMOCAO", "PED001", "PROD001", "L1", D(80), D(0), D(-80), CRITICO)]


def test_a_gone_line_holds_nothing_even_with_more_refunded_than_invoiced():
    # an invoice cancelled after its credit note was posted: Odoo's qty_invoiced is -47, so
    # "ordered now (0) - invoiced" is +47 — but nothing of a cancelled order will ship
    for c in (change(76, 76, faturada=-47, cancelado=True), change(76, None, faturada=-47)):
        plan = one(c, [pre(1, 30), pre(2, 17, hours=1)], [sep(3, "L1", "ABERTO", 10)])
        assert plan.kind == "REMOVIDO" and not plan.open_after
        assert plan.pre_separacao_qtd == {1: D(0), 2: D(0)} and plan.separacao_qtd == {3: D(0)}


def test_faturado_with_decisions_above_saldo_nf_without_separacao():
    # the order is fully invoiced by an NF that did not go through the separação: decisions must go
    plan = one(change(100, 100, faturada=100), [pre(1, 30)], [sep(2, "L1", "COTADO", 20)])
    assert plan.kind == "FATURADO" and plan.delta == 0 and not plan.open_after
    assert plan.pre_separacao_qtd == {1: D(0)} and plan.separacao_qtd == {2: D(0)}
    assert livre(plan) == 0 and plan.nao_absorvido == 0
    assert [(a.tipo_alteracao, a.nivel) for a in plan.alerts] == [("REDUCAO", CRITICO)]
    assert diff_tipo(plan) == "FATURADO"


def test_partial_invoicing_alone_is_no_kind_but_an_adjustment_when_decisions_exceed():
    plain = one(change(100, 100, faturada=30), [pre(1, 20)])
    assert plain.kind is None and not is_changed(plain) and diff_tipo(plain) is None
    cut = one(change(100, 100, faturada=90), [pre(1, 20)])
    assert cut.kind is None and cut.pre_separacao_qtd == {1: D(10)} and diff_tipo(cut) == AJUSTE


def test_line_out_of_the_carteira_stays_quiet():
    # left earlier as FATURADO with a negative saldo: no kind, no repeated SALDO_NEGATIVO
    plan = one(change(None, 100, faturada=110))
    assert plan.kind is None and plan.nao_absorvido == 0 and not is_changed(plan)


def test_rejects_decisions_of_another_line_and_duplicate_keys():
    with pytest.raises(ValueError, match="not of line"):
        plan_line(change(10, 5), [pre(1, 3, produto="PROD009")], [], [])
    with pytest.raises(ValueError, match="twice"):
        plan_partition([change(10, 5), change(10, 6)], [], [])


# --- properties -----------------------------------------------------------------------------------


def apply_all(plans, pres, seps):
    for plan in plans:
        key = (plan.num_pedido, plan.cod_produto)
        mine = [p for p in pres if (p.num_pedido, p.cod_produto) == key]
        rest = [p for p in pres if (p.num_pedido, p.cod_produto) != key]
        mine, seps = apply_plan(plan, mine, seps)
        pres = rest + mine
    return pres, seps


def rerun_change(c: LineChange, plan: LinePlan) -> LineChange:
    """The next sync over an unchanged source: the carteira now holds the line iff it stayed open."""
    return LineChange(
        c.num_pedido,
        c.cod_produto,
        plan.qtd_depois if plan.open_after else None,
        c.qtd_pedido_depois,
        c.qtd_faturada,
        c.pedido_cancelado,
    )


def open_qty(key, pres, seps):
    return sum((p.qtd for p in pres if (p.num_pedido, p.cod_produto) == key), D(0)) + sum(
        (s.qtd for s in seps if (s.num_pedido, s.cod_produto) == key and s.is_open), D(0)
    )


qty = st.integers(0, 1500).map(lambda n: D(n) / 10)
small_qty = st.integers(0, 400).map(lambda n: D(n) / 10)
maybe_qty = st.none() | qty
PRODUCTS = ["P1", "P2", "P3"]


@st.composite
def partitions(draw):
    """One order: a few lines, its pré-separações and separações (also of products outside the changes)."""
    products = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True))
    cancelled = draw(st.sampled_from([False, False, False, True]))
    changes = []
    for prod in products:
        antes = draw(maybe_qty)
        if antes is not None and draw(st.booleans()):
            depois = max(antes + draw(st.integers(-300, 300).map(lambda n: D(n) / 10)), D(0))
        else:
            depois = draw(maybe_qty)
        faturada = draw(st.just(D(0)) | small_qty | qty)
        changes.append(LineChange("PED", prod, antes, depois, faturada, cancelled))
    pres = [
        PreSeparacao(
            i, "PED", draw(st.sampled_from(products)), draw(small_qty), T0 + timedelta(hours=draw(st.integers(0, 3)))
        )
        for i in range(1, draw(st.integers(0, 4)) + 1)
    ]
    seps = [
        Separacao(
            100 + i,
            draw(st.sampled_from(["L1", "L1", "L2", "L3"])),
            "PED",
            draw(st.sampled_from(PRODUCTS)),
            draw(st.sampled_from([*OPEN_STATUSES, "FATURADO", "EMBARCADO"])),
            draw(st.sampled_from(["total", "total", "parcial"])),
            draw(small_qty),
            draw(st.sampled_from([False, False, True])),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    return changes, pres, seps


def absorption_rank(pres, seps):
    """Expected order in which decisions of one line are consumed."""
    order = [("pre_separacao", p.id) for p in sorted(pres, key=lambda p: (p.criado_em, p.id), reverse=True)]
    for status in OPEN_STATUSES:
        order += [("separacao", s.id) for s in sorted(seps, key=lambda s: s.id, reverse=True) if s.status == status]
    return {k: i for i, k in enumerate(order)}


@settings(max_examples=300, deadline=None)
@given(partitions())
def test_properties_of_a_partition_plan(data):
    changes, pres, seps = data
    plans = plan_partition(changes, pres, seps)
    pres_after, seps_after = apply_all(plans, pres, seps)
    by_id = {s.id: s for s in seps}
    pre_by_id = {p.id: p for p in pres}

    for c, plan in zip(changes, plans, strict=True):
        key = (c.num_pedido, c.cod_produto)
        line_pres = [p for p in pres if (p.num_pedido, p.cod_produto) == key]
        line_seps = [s for s in seps if (s.num_pedido, s.cod_produto) == key and s.is_open]

        # decisions end within the saldo
        assert open_qty(key, pres_after, seps_after) <= max(plan.saldo, D(0))

        # only open, not invoiced rows of this line are written; nothing negative
        assert all(by_id[i].is_open and (by_id[i].num_pedido, by_id[i].cod_produto) == key for i in plan.separacao_qtd)
        assert all((pre_by_id[i].num_pedido, pre_by_id[i].cod_produto) == key for i in plan.pre_separacao_qtd)
        assert all(q >= 0 for q in [*plan.pre_separacao_qtd.values(), *plan.separacao_qtd.values()])
        assert all(q > 0 for _, q in plan.separacao_nova) and plan.nao_absorvido >= 0
        assert all(D(e["qtd"]) > 0 for e in plan.absorcao)

        # every quantity taken from a decision is in the trace, and the trace adds up
        reductions = {("pre_separacao", i): pre_by_id[i].qtd - q for i, q in plan.pre_separacao_qtd.items()}
        reductions |= {("separacao", i): by_id[i].qtd - q for i, q in plan.separacao_qtd.items() if q < by_id[i].qtd}
        assert {(o, i): q for o, i, q in taken(plan)} == reductions
        assert all(q > 0 for q in reductions.values())

        open_before = open_qty(key, pres, seps)
        excess = max(open_before - max(plan.saldo, D(0)), D(0))
        absorbed = sum(reductions.values(), D(0))
        assert absorbed == excess
        drop = (plan.qtd_antes or 0) - (plan.qtd_depois or 0) if plan.kind in ("REDUCAO", "REMOVIDO") else D(0)
        assert livre(plan) + absorbed + plan.nao_absorvido == max(drop, excess + plan.nao_absorvido)
        if plan.nao_absorvido:
            assert plan.saldo == -plan.nao_absorvido
            assert any(a.tipo_alteracao == "SALDO_NEGATIVO" and a.nivel == CRITICO for a in plan.alerts)

        # absorption order: earlier decisions are emptied before later ones are touched
        rank = absorption_rank(line_pres, line_seps)
        trail = [(o, i) for o, i, _ in taken(plan)]
        assert [rank[k] for k in trail] == sorted(rank[k] for k in trail)
        touched = set(trail)
        emptied = {("pre_separacao", i) for i, q in plan.pre_separacao_qtd.items() if q == 0}
        emptied |= {("separacao", i) for i, q in plan.separacao_qtd.items() if q == 0}
        if trail:
            last = max(rank[k] for k in trail)
            for k, r in rank.items():
                qty_k = pre_by_id[k[1]].qtd if k[0] == "pre_separacao" else by_id[k[1]].qtd
                if r < last and qty_k > 0:
                    assert k in emptied
                if r > last:
                    assert k not in touched

        # a touched COTADO row always raises a critical alert
        for (origem, i), _ in reductions.items():
            if origem == "separacao" and by_id[i].status == "COTADO":
                assert any(a.lote == by_id[i].lote and a.nivel == CRITICO for a in plan.alerts)

    # idempotence: the next sync over the same source changes nothing
    again = plan_partition([rerun_change(c, p) for c, p in zip(changes, plans, strict=True)], pres_after, seps_after)
    assert [p for p in again if is_changed(p)] == []


@settings(max_examples=300, deadline=None)
@given(maybe_qty, qty, st.lists(qty, max_size=3))
def test_unchanged_line_whose_decisions_fit_is_not_a_change(depois, faturada, pre_qtds):
    antes = depois if depois is not None and depois - faturada > 0 else None
    saldo = max((depois or D(0)) - faturada, D(0))
    fitting, total = [], D(0)
    for i, q in enumerate(pre_qtds):
        if total + q <= saldo:
            fitting.append(pre(i + 1, q, pedido="PED", produto="P1"))
            total += q
    plan = plan_line(change(antes, depois, faturada, pedido="PED", produto="P1"), fitting, [], [])
    assert not is_changed(plan)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(OPEN_STATUSES),
    maybe_qty,
    small_qty.filter(lambda q: q > 0),
    small_qty,
    st.lists(small_qty, max_size=2),
    st.lists(small_qty, max_size=2),
)
def test_increase_into_the_only_total_lot(status, antes, aumento, faturada, own_rows, other_rows):
    seps = [sep(10 + i, "L", status, q, pedido="PED", produto="P1", tipo="total") for i, q in enumerate(own_rows)]
    seps += [sep(20 + i, "L", status, q, pedido="PED", produto="P2", tipo="total") for i, q in enumerate(other_rows)]
    depois = (antes or D(0)) + aumento
    plan = plan_partition([change(antes, depois, faturada, pedido="PED", produto="P1")], [], seps)[0]
    if plan.kind is None:  # a new line that is not open: nothing grows, decisions of the key are cut to 0
        assert plan.separacao_nova == [] and all(q == 0 for q in plan.separacao_qtd.values())
        return
    assert plan.kind == ("NOVO" if antes is None else "AUMENTO") and plan.delta == aumento
    if plan.kind == "NOVO":  # a new line is free balance: no lot grows, no alert
        assert plan.separacao_nova == [] and livre(plan, "acrescido") == aumento
        assert not [a for a in plan.alerts if a.tipo_alteracao == "AUMENTO"]
        return
    own = sum((D(q) for q in own_rows), D(0))
    room = max(max(plan.saldo, D(0)) - own, D(0))
    grown = [e for e in plan.absorcao if e["efeito"] in ("aumentada", "criada")]
    increase_alerts = [a for a in plan.alerts if a.tipo_alteracao == "AUMENTO"]
    if not seps or status == "COTADO":
        assert grown == [] and plan.separacao_nova == [] and livre(plan, "acrescido") == aumento
        # the lot's row as this plan leaves it (an excess may have cut it first)
        before = plan.separacao_qtd.get(9 + len(own_rows), D(own_rows[-1])) if own_rows else D(0)
        expected_alerts = [Alert("AUMENTO", "PED", "P1", "L", before, before + aumento, aumento, CRITICO)]
        assert increase_alerts == (expected_alerts if seps else [])
        return
    expected = min(aumento, room)
    assert sum((D(e["qtd"]) for e in grown), D(0)) == expected
    assert livre(plan, "acrescido") == aumento - expected
    if expected and own_rows:
        assert plan.separacao_qtd == {9 + len(own_rows): D(own_rows[-1]) + expected}
    elif expected:
        assert plan.separacao_nova == [("L", expected)]
    _, after = apply_plan(plan, [], seps)
    assert open_qty(("PED", "P1"), [], after) <= max(plan.saldo, D(0))
