"""Brazilian sample data for the generator: CNPJs, cities, customers and a food distributor's
catalogue."""

from __future__ import annotations

import random

STATES = [
    ("São Paulo", "SP"),
    ("Rio de Janeiro", "RJ"),
    ("Minas Gerais", "MG"),
    ("Paraná", "PR"),
    ("Santa Catarina", "SC"),
    ("Rio Grande do Sul", "RS"),
    ("Bahia", "BA"),
    ("Goiás", "GO"),
    ("Pernambuco", "PE"),
    ("Espírito Santo", "ES"),
]
CITIES = [  # (city, UF, first 2 digits of the CEP range)
    ("São Paulo", "SP", 1),
    ("São Paulo", "SP", 4),
    ("Campinas", "SP", 13),
    ("Santana de Parnaíba", "SP", 6),
    ("Santos", "SP", 11),
    ("Ribeirão Preto", "SP", 14),
    ("Rio de Janeiro", "RJ", 20),
    ("Niterói", "RJ", 24),
    ("Belo Horizonte", "MG", 30),
    ("Uberlândia", "MG", 38),
    ("Curitiba", "PR", 80),
    ("Londrina", "PR", 86),
    ("Florianópolis", "SC", 88),
    ("Joinville", "SC", 89),
    ("Porto Alegre", "RS", 90),
    ("Salvador", "BA", 40),
    ("Goiânia", "GO", 74),
    ("Recife", "PE", 50),
    ("Vitória", "ES", 29),
]
COMPANY_NAMES = [
    ("Nacom Goya - Matriz", "Santana de Parnaíba", "SP"),
    ("Nacom Goya - Filial Rio de Janeiro", "Rio de Janeiro", "RJ"),
    ("Nacom Goya - Filial Belo Horizonte", "Belo Horizonte", "MG"),
    ("Nacom Goya - Filial Curitiba", "Curitiba", "PR"),
    ("Nacom Goya - Filial Porto Alegre", "Porto Alegre", "RS"),
    ("Nacom Goya - Filial Recife", "Recife", "PE"),
]
_KINDS = [
    "Supermercado",
    "Mercado",
    "Restaurante",
    "Pizzaria",
    "Atacadão",
    "Empório",
    "Padaria",
    "Lanchonete",
    "Distribuidora",
    "Hortifruti",
    "Churrascaria",
    "Cantina",
]
_NAMES = [
    "Bom Preço",
    "São Jorge",
    "Sabor Mineiro",
    "Bella Napoli",
    "Santa Luzia",
    "Boa Vista",
    "Dona Maria",
    "Recanto",
    "Estrela",
    "Nova Era",
    "Primavera",
    "Dois Irmãos",
    "Central",
    "Bandeirantes",
    "Paulista",
    "Carioca",
    "do Porto",
    "Serra Verde",
    "Sol Nascente",
    "Três Marias",
    "Imperial",
    "Real",
    "Família Rossi",
    "Oliveira",
    "Ipiranga",
]
_SUFFIXES = ["Ltda", "Ltda", "ME", "EIRELI", "S.A.", "Comércio de Alimentos Ltda"]
_PRODUCTS = [  # (name, unit price range, packagings as (label, kg))
    ("AZEITONA VERDE FATIADA", (38, 60), [("2KG", 2.0), ("500G", 0.5)]),
    ("AZEITONA VERDE INTEIRA", (35, 55), [("2KG", 2.0), ("BD 15KG", 15.0)]),
    ("AZEITONA PRETA FATIADA", (45, 70), [("2KG", 2.0)]),
    ("PALMITO PUPUNHA INTEIRO", (25, 40), [("300G", 0.3), ("1,8KG", 1.8)]),
    ("COGUMELO CHAMPIGNON FATIADO", (40, 65), [("2KG", 2.0)]),
    ("PEPINO EM CONSERVA", (20, 32), [("2KG", 2.0)]),
    ("ALCAPARRA EM CONSERVA", (50, 80), [("1KG", 1.0)]),
    ("MOLHO DE TOMATE TRADICIONAL", (9, 15), [("3,1KG", 3.1), ("340G", 0.34)]),
    ("EXTRATO DE TOMATE", (10, 18), [("1,7KG", 1.7)]),
    ("KETCHUP", (12, 20), [("3KG", 3.0)]),
    ("MOSTARDA", (11, 18), [("3KG", 3.0)]),
    ("MAIONESE", (14, 24), [("3KG", 3.0)]),
    ("PIMENTA BIQUINHO", (30, 48), [("2KG", 2.0)]),
    ("TOMATE SECO", (45, 75), [("1,4KG", 1.4)]),
    ("MILHO VERDE", (8, 13), [("1,7KG", 1.7)]),
    ("ERVILHA", (7, 12), [("1,7KG", 1.7)]),
    ("SELETA DE LEGUMES", (9, 14), [("1,7KG", 1.7)]),
    ("AZEITE EXTRA VIRGEM", (30, 55), [("500ML", 0.5), ("5L", 4.6)]),
    ("ÓLEO COMPOSTO", (12, 20), [("500ML", 0.5)]),
    ("ALHO TRITURADO", (15, 25), [("1KG", 1.0)]),
    ("CEBOLA EM CONSERVA", (18, 28), [("2KG", 2.0)]),
    ("GRÃO DE BICO", (14, 22), [("2KG", 2.0)]),
    ("BATATA PALHA", (16, 26), [("1KG", 1.0)]),
    ("ATUM EM PEDAÇOS", (35, 55), [("1,7KG", 1.7)]),
    ("SARDINHA EM ÓLEO", (6, 10), [("125G", 0.125)]),
]


def cnpj(rng: random.Random, base: list[int] | None = None, branch: int = 1) -> str:
    """A CNPJ with valid check digits, formatted 'XX.XXX.XXX/BBBB-DD'."""
    digits = list(base) if base else [rng.randint(0, 9) for _ in range(8)]
    digits += [int(c) for c in f"{branch:04d}"]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        rest = sum(w * d for w, d in zip(weights, digits, strict=False)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    s = "".join(map(str, digits))
    return f"{s[:2]}.{s[2:5]}.{s[5:8]}/{s[8:12]}-{s[12:]}"


def cnpj_is_valid(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) != 14:
        return False
    return cnpj(random.Random(0), digits[:8], int("".join(map(str, digits[8:12])))) == value


def customers(rng: random.Random, count: int) -> list[dict]:
    out, seen = [], set()
    while len(out) < count:
        name = f"{rng.choice(_KINDS)} {rng.choice(_NAMES)} {rng.choice(_SUFFIXES)}"
        if name in seen:
            name = f"{name} - {len(out) + 1}"
        seen.add(name)
        city, uf, cep = rng.choice(CITIES)
        zip_code = f"{cep:02d}{rng.randint(0, 999):03d}-{rng.randint(0, 999):03d}"
        out.append(dict(name=name, vat=cnpj(rng), city=city, uf=uf, zip=zip_code))
    return out


def products(rng: random.Random) -> list[dict]:
    out = []
    for name, (low, high), packagings in _PRODUCTS:
        for label, kg in packagings:
            out.append(
                dict(
                    name=f"{name} {label}",
                    weight=round(kg * 1.08, 3),
                    list_price=round(rng.uniform(low, high) * max(kg / 2, 0.4), 2),
                )
            )
    codes = rng.sample(range(4000000, 4999999), len(out))
    for product, code in zip(out, codes, strict=True):
        product["default_code"] = str(code)
    for product in rng.sample(out, 2):  # Odoo allows products without an internal reference
        product["default_code"] = False
    return out
