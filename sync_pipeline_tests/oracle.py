"""Expected faturamento tables computed straight from the simulator's store.

Written independently of the pipeline's code (it reads raw records, not the API), so a test that
compares the two checks the whole path: extraction, mapping, staging and set-based SQL.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from sync_pipeline.simulator.core import OdooSimulator

STATUS = {"draft": "Provisório", "posted": "Lançado", "cancel": "Cancelado"}


def q(value, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _by_id(sim: OdooSimulator, model: str) -> dict[int, dict]:
    return {r["id"]: r for r in sim.rows(model)}


def expected_faturamento(sim: OdooSimulator) -> dict[tuple[int, str], dict]:
    moves = _by_id(sim, "account.move")
    partners = _by_id(sim, "res.partner")
    states = _by_id(sim, "res.country.state")
    products = _by_id(sim, "product.product")
    users = _by_id(sim, "res.users")
    teams = _by_id(sim, "crm.team")
    refund_of: dict[int, dict] = {}
    for m in sorted(moves.values(), key=lambda m: m["id"]):
        if m["move_type"] == "out_refund" and m["state"] == "posted" and m.get("reversed_entry_id"):
            refund_of[m["reversed_entry_id"]] = m

    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for line in sim.rows("account.move.line"):
        move = moves[line["move_id"]]
        if move["move_type"] != "out_invoice" or line.get("display_type") != "product":
            continue
        if not line.get("product_id") or line["quantity"] < 0:
            continue  # set aside as rejects
        product = products[line["product_id"]]
        code = product.get("default_code") or f"ODOO-{product['id']}"
        groups[(move["id"], code)].append(line)

    out: dict[tuple[int, str], dict] = {}
    for (move_id, code), lines in groups.items():
        move = moves[move_id]
        partner = partners.get(move.get("partner_id")) or {}
        state = states.get(partner.get("state_id")) or {}
        product = products[lines[0]["product_id"]]
        qty = sum(q(x["quantity"], "0.001") for x in lines)
        weight = q(product.get("weight") or 0, "0.001")
        if qty:
            price = (sum(q(x["quantity"], "0.001") * q(x["price_unit"], "0.0001") for x in lines) / qty).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP
            )
        else:
            price = max(q(x["price_unit"], "0.0001") for x in lines)
        name = move.get("name")
        numero = name if name and name != "/" else f"RASCUNHO-{move_id}"
        refund = refund_of.get(move_id)
        out[(move_id, code)] = {
            "empreendimento": f"empresa-{move['company_id']}",
            "numero_nf": numero,
            "data_fatura": str(move.get("invoice_date") or move["date"]),
            "cnpj_cliente": partner.get("vat") or None,
            "nome_cliente": partner.get("name") or None,
            "municipio": partner.get("city") or None,
            "estado": state.get("code") or None,
            "vendedor": (users.get(move.get("invoice_user_id")) or {}).get("name"),
            "equipe_vendas": (teams.get(move.get("team_id")) or {}).get("name"),
            "origem": move.get("invoice_origin") or None,
            "cod_produto": code,
            "nome_produto": product.get("name"),
            "qtd_produto_faturado": qty,
            "preco_produto_faturado": price,
            "valor_produto_faturado": sum(q(x["price_total"], "0.01") for x in lines),
            "peso_unitario_produto": weight,
            "peso_total": (qty * weight).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP),
            "status_nf": STATUS[move["state"]],
            "revertida": refund is not None,
            "nota_credito_id": refund["id"] if refund else None,
            "data_reversao": str(refund.get("invoice_date") or refund["date"]) if refund else None,
            "odoo_move_id": move_id,
        }
    return out


def expected_relatorio(fat: dict[tuple[int, str], dict]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for (move_id, _), row in sorted(fat.items()):
        nf = out.setdefault(
            move_id,
            {
                "numero_nf": row["numero_nf"],
                "empreendimento": row["empreendimento"],
                "data_fatura": row["data_fatura"],
                "cnpj_cliente": row["cnpj_cliente"],
                "origem": row["origem"],
                "valor_total": Decimal("0"),
                "peso_bruto": Decimal("0"),
                "status_nf": row["status_nf"],
                "ativo": row["status_nf"] != "Cancelado",
            },
        )
        nf["valor_total"] += row["valor_produto_faturado"]
        nf["peso_bruto"] += row["peso_total"]
    return out
