"""The generator's master data: companies (with their taxes, salespeople and teams), payment terms,
products and customers, created through the client API."""

from __future__ import annotations

from .brazil import COMPANY_NAMES, STATES, cnpj, customers, products

SELLER_FIRST_NAMES = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Hugo"]
TAXES = [("ICMS 18%", 18.0), ("ICMS 12%", 12.0), ("PIS 0,65%", 0.65), ("COFINS 3%", 3.0)]
PAYMENT_TERMS = [
    ("À vista", [(100, 0)]),
    ("28 dias", [(100, 28)]),
    ("30/60/90 dias", [(33.33, 30), (33.33, 60), (33.34, 90)]),
    ("30/60 dias", [(50, 30), (50, 60)]),
]


def create_master_data(call, rng, n_companies: int, scale: float) -> dict:
    """Create everything orders need; company 1 (the database's first) becomes the Matriz."""
    states = {code: call("res.country.state", "create", {"name": name, "code": code}) for name, code in STATES}
    base = [rng.randint(0, 9) for _ in range(8)]  # one CNPJ root, a branch number per company
    companies = [_company(call, rng, n, base, states) for n in range(n_companies)]
    terms = []
    for name, lines in PAYMENT_TERMS:
        commands = [(0, 0, {"value_amount": pct, "nb_days": days}) for pct, days in lines]
        terms.append(call("account.payment.term", "create", {"name": name, "line_ids": commands}))
    product_ids = []
    for spec in products(rng):
        taxes = []
        for company in companies:
            taxes += [company["taxes"][rng.choice([0, 1])], company["taxes"][2], company["taxes"][3]]
        product_ids.append(call("product.product", "create", dict(spec, type="consu", taxes_id=[(6, 0, taxes)])))
    customer_ids = []
    for spec in customers(rng, int(30 + 40 * scale)):
        vals = dict(name=spec["name"], vat=spec["vat"], city=spec["city"], zip=spec["zip"])
        vals.update(state_id=states[spec["uf"]], is_company=True, customer_rank=1)
        customer_ids.append(call("res.partner", "create", vals))
    return dict(companies=companies, terms=terms, products=product_ids, customers=customer_ids)


def _company(call, rng, n: int, base: list[int], states: dict) -> dict:
    name, city, uf = COMPANY_NAMES[n % len(COMPANY_NAMES)]
    if n >= len(COMPANY_NAMES):
        name = f"{name} {n // len(COMPANY_NAMES) + 1}"
    vals = dict(name=name, vat=cnpj(rng, base, n + 1), city=city, state_id=states[uf])
    if n == 0:
        call("res.company", "write", [1], vals)
        company = 1
    else:
        company = call("res.company", "create", vals)
    partner_vals = dict(name=name, vat=vals["vat"], city=city, state_id=states[uf], is_company=True)
    partner = call("res.partner", "create", dict(partner_vals, company_id=company))
    call("res.company", "write", [company], {"partner_id": partner})
    taxes = [call("account.tax", "create", dict(name=t, amount=a, company_id=company)) for t, a in TAXES]
    sellers = []
    for k in range(3):
        seller = f"Vendedor {rng.choice(SELLER_FIRST_NAMES)} {company}-{k + 1}"
        login = f"vendedor{company}_{k + 1}"
        sellers.append(call("res.users", "create", dict(name=seller, login=login, company_id=company)))
    branch = name.split(" - ")[-1]
    teams = [
        call("crm.team", "create", dict(name=f"{team} {branch}", company_id=company, user_id=sellers[0]))
        for team in ("Varejo", "Food Service")
    ]
    return dict(id=company, taxes=taxes, sellers=sellers, teams=teams)
