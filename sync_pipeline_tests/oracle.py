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


def _origem(sim_lines: dict, orders: dict, line: dict, move: dict) -> str | None:
    linked = sorted(i for i in (line.get("sale_line_ids") or []) if i in sim_lines)
    if linked:
        return orders[sim_lines[linked[0]]["order_id"]]["name"]
    return move.get("invoice_origin") or None


def expected_faturamento(sim: OdooSimulator) -> dict[tuple[int, str, str | None], dict]:
    """One row per (move, product, order) of customer invoices and credit notes (credit notes
    negative); an invoice is reverted only when posted credit notes refund all of every product."""
    moves = _by_id(sim, "account.move")
    partners = _by_id(sim, "res.partner")
    states = _by_id(sim, "res.country.state")
    products = _by_id(sim, "product.product")
    users = _by_id(sim, "res.users")
    teams = _by_id(sim, "crm.team")
    sale_lines = _by_id(sim, "sale.order.line")
    orders = _by_id(sim, "sale.order")

    product_lines = [
        ln
        for ln in sim.rows("account.move.line")
        if moves[ln["move_id"]]["move_type"] in ("out_invoice", "out_refund") and ln.get("display_type") == "product"
    ]
    qty_by_move: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for ln in product_lines:
        if ln.get("product_id"):
            qty_by_move[ln["move_id"]][ln["product_id"]] += q(ln["quantity"], "0.001")
    refunded: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    latest_refund: dict[int, dict] = {}
    for m in sorted(moves.values(), key=lambda m: m["id"]):
        if m["move_type"] == "out_refund" and m["state"] == "posted" and m.get("reversed_entry_id"):
            for pid, qty in qty_by_move.get(m["id"], {}).items():
                refunded[m["reversed_entry_id"]][pid] += qty
            latest_refund[m["reversed_entry_id"]] = m

    def reverted_by(move_id: int) -> dict | None:
        invoiced = qty_by_move.get(move_id) or {}
        if move_id not in latest_refund or not invoiced:
            return None
        if all(refunded[move_id][pid] >= qty for pid, qty in invoiced.items()):
            return latest_refund[move_id]
        return None

    groups: dict[tuple[int, str, str | None], list[dict]] = defaultdict(list)
    for line in product_lines:
        move = moves[line["move_id"]]
        if not line.get("product_id") or line["quantity"] < 0:
            continue  # set aside as rejects
        product = products[line["product_id"]]
        code = product.get("default_code") or f"ODOO-{product['id']}"
        groups[(move["id"], code, _origem(sale_lines, orders, line, move))].append(line)

    out: dict[tuple[int, str, str | None], dict] = {}
    for (move_id, code, origem), lines in groups.items():
        move = moves[move_id]
        sign = -1 if move["move_type"] == "out_refund" else 1
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
        refund = reverted_by(move_id) if sign == 1 else None
        out[(move_id, code, origem)] = {
            "empreendimento": f"empresa-{move['company_id']}",
            "numero_nf": numero,
            "move_type": move["move_type"],
            "data_fatura": str(move.get("invoice_date") or move["date"]),
            "cnpj_cliente": partner.get("vat") or None,
            "nome_cliente": partner.get("name") or None,
            "municipio": partner.get("city") or None,
            "estado": state.get("code") or None,
            "vendedor": (users.get(move.get("invoice_user_id")) or {}).get("name"),
            "equipe_vendas": (teams.get(move.get("team_id")) or {}).get("name"),
            "origem": origem,
            "cod_produto": code,
            "nome_produto": product.get("name"),
            "qtd_produto_faturado": sign * qty,
            "preco_produto_faturado": price,
            "valor_produto_faturado": sign * sum(q(x["price_total"], "0.01") for x in lines),
            "peso_unitario_produto": weight,
            "peso_total": sign * (qty * weight).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP),
            "status_nf": STATUS[move["state"]],
            "revertida": refund is not None,
            "nota_credito_id": refund["id"] if refund else None,
            "data_reversao": str(refund.get("invoice_date") or refund["date"]) if refund else None,
            "odoo_move_id": move_id,
        }
    return out


def expected_qty_invoiced(sim: OdooSimulator) -> dict[tuple[str, str, str], Decimal]:
    """Odoo's own figure: Σ qty_invoiced of the simulator's order lines per (empreendimento,
    order, product code) — what the sync's invoiced quantity must equal."""
    orders = _by_id(sim, "sale.order")
    products = _by_id(sim, "product.product")
    out: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for line in sim.rows("sale.order.line"):
        if line.get("display_type") or not line.get("product_id"):
            continue
        order = orders[line["order_id"]]
        product = products[line["product_id"]]
        code = product.get("default_code") or f"ODOO-{product['id']}"
        out[(f"empresa-{order['company_id']}", order["name"], code)] += q(line["qty_invoiced"], "0.001")
    return dict(out)


def expected_relatorio(fat: dict[tuple[int, str, str | None], dict]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    origens: dict[int, set[str]] = defaultdict(set)
    for (move_id, _, origem), row in sorted(fat.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        if origem:
            origens[move_id].add(origem)
        nf = out.setdefault(
            move_id,
            {
                "numero_nf": row["numero_nf"],
                "empreendimento": row["empreendimento"],
                "move_type": row["move_type"],
                "data_fatura": row["data_fatura"],
                "cnpj_cliente": row["cnpj_cliente"],
                "origem": None,
                "valor_total": Decimal("0"),
                "peso_bruto": Decimal("0"),
                "status_nf": row["status_nf"],
                "ativo": row["status_nf"] != "Cancelado",
            },
        )
        nf["valor_total"] += row["valor_produto_faturado"]
        nf["peso_bruto"] += row["peso_total"]
    for move_id, names in origens.items():
        out[move_id]["origem"] = ", ".join(sorted(names))[:64]
    return out
