"""The simulator's domain evaluator against a small fixed data set (pure, no simulator)."""

from types import SimpleNamespace

import pytest

from sync_pipeline.simulator import domain

F = SimpleNamespace
SCHEMA = {
    "partner": {
        "id": F(type="integer", relation=None),
        "name": F(type="char", relation=None),
        "city": F(type="char", relation=None),
        "is_company": F(type="boolean", relation=None),
    },
    "move": {
        "id": F(type="integer", relation=None),
        "name": F(type="char", relation=None),
        "state": F(type="selection", relation=None),
        "date": F(type="date", relation=None),
        "write_date": F(type="datetime", relation=None),
        "partner_id": F(type="many2one", relation="partner"),
        "line_ids": F(type="one2many", relation="line", inverse="move_id"),
    },
    "line": {
        "id": F(type="integer", relation=None),
        "move_id": F(type="many2one", relation="move"),
        "product": F(type="char", relation=None),
        "quantity": F(type="float", relation=None),
        "tag_ids": F(type="many2many", relation="partner"),
        "note": F(type="char", relation=None),
    },
}
DATA = {
    "partner": {
        1: {"name": "Supermercado Bom Preço", "city": "São Paulo", "is_company": True},
        2: {"name": "Padaria Estrela", "city": "Rio de Janeiro", "is_company": True},
        3: {"name": "joão 100%_silva", "city": None, "is_company": False},
    },
    "move": {
        10: {
            "name": "NF1/2025/00001",
            "state": "posted",
            "date": "2025-01-02",
            "write_date": "2025-01-02 10:00:00",
            "partner_id": 1,
        },
        11: {
            "name": "NF1/2025/00002",
            "state": "cancel",
            "date": "2025-01-03",
            "write_date": "2025-01-03 23:30:00",
            "partner_id": 2,
        },
        12: {
            "name": "/",
            "state": "draft",
            "date": "2025-01-04",
            "write_date": "2025-01-04 00:00:00",
            "partner_id": None,
        },
    },
    "line": {
        100: {"move_id": 10, "product": "AZEITONA", "quantity": 10.0, "tag_ids": [1, 2], "note": "x"},
        101: {"move_id": 10, "product": "PALMITO", "quantity": 2.5, "tag_ids": [], "note": None},
        102: {"move_id": 11, "product": "azeitona preta", "quantity": 0.0, "tag_ids": [3], "note": ""},
        103: {"move_id": 12, "product": "KETCHUP", "quantity": 7.0, "tag_ids": [2], "note": None},
    },
}


class DictAccessor:
    def field(self, model, name):
        return SCHEMA[model].get(name)

    def getter(self, model, name):
        if name == "id":
            return lambda i: i
        fld = SCHEMA[model][name]
        if fld.type == "one2many":
            rows = DATA[fld.relation]
            return lambda i: sorted(c for c, r in rows.items() if r[fld.inverse] == i)
        return lambda i: DATA[model][i].get(name)

    def display_getter(self, model):
        return lambda i: DATA[model][i]["name"]


def search(model, dom):
    return sorted(domain.search_ids(dom, model, DATA[model].keys(), DictAccessor()))


CASES = [
    # operators on scalar fields
    ("line", [("quantity", "=", 10)], [100]),
    ("line", [("quantity", "!=", 10)], [101, 102, 103]),
    ("line", [("quantity", ">", 2.5)], [100, 103]),
    ("line", [("quantity", ">=", 2.5)], [100, 101, 103]),
    ("line", [("quantity", "<", 2.5)], [102]),
    ("line", [("quantity", "<=", 7)], [101, 102, 103]),
    ("line", [("product", "in", ["PALMITO", "KETCHUP"])], [101, 103]),
    ("line", [("product", "not in", ["PALMITO", "KETCHUP"])], [100, 102]),
    ("line", [("product", "like", "AZEITONA")], [100]),
    ("line", [("product", "ilike", "azeitona")], [100, 102]),
    ("line", [("product", "not like", "AZEITONA")], [101, 102, 103]),
    ("line", [("product", "not ilike", "azeitona")], [101, 103]),
    ("line", [("product", "=like", "AZ%")], [100]),
    ("line", [("product", "=ilike", "az%")], [100, 102]),
    ("line", [("product", "=like", "_ALMITO")], [101]),
    ("partner", [("name", "ilike", "100%_s")], [3]),  # % and _ stay wildcards, as in SQL
    ("line", [("quantity", "=?", False)], [100, 101, 102, 103]),
    ("line", [("quantity", "=?", 7)], [103]),
    # False / empty values
    ("line", [("note", "=", False)], [101, 102, 103]),
    ("line", [("note", "!=", False)], [100]),
    ("line", [("note", "!=", "x")], [101, 102, 103]),  # negative operators match empty values
    ("line", [("note", "not ilike", "x")], [101, 102, 103]),
    ("line", [("note", "in", [False, "x"])], [100, 101, 102, 103]),
    ("partner", [("is_company", "=", False)], [3]),
    ("partner", [("city", "=", False)], [3]),
    # dates and datetimes (a date on a datetime field means the start, or the end for > and <=)
    ("move", [("date", ">=", "2025-01-03")], [11, 12]),
    ("move", [("write_date", "<=", "2025-01-03")], [10, 11]),
    ("move", [("write_date", ">", "2025-01-03")], [12]),
    ("move", [("write_date", ">=", "2025-01-03 23:30:00")], [11, 12]),
    # many2one by id, by name, and empty
    ("move", [("partner_id", "=", 1)], [10]),
    ("move", [("partner_id", "in", [1, 2])], [10, 11]),
    ("move", [("partner_id", "not in", [1])], [11, 12]),
    ("move", [("partner_id", "!=", 1)], [11, 12]),
    ("move", [("partner_id", "=", False)], [12]),
    ("move", [("partner_id", "!=", False)], [10, 11]),
    ("move", [("partner_id", "in", [1, False])], [10, 12]),
    ("move", [("partner_id", "ilike", "estrela")], [11]),
    ("move", [("partner_id", "=", "Supermercado Bom Preço")], [10]),
    ("move", [("partner_id", "not ilike", "estrela")], [10, 12]),
    # x2many
    ("line", [("tag_ids", "in", [2])], [100, 103]),
    ("line", [("tag_ids", "=", 3)], [102]),
    ("line", [("tag_ids", "not in", [2])], [101, 102]),
    ("line", [("tag_ids", "=", False)], [101]),
    ("line", [("tag_ids", "!=", False)], [100, 102, 103]),
    ("line", [("tag_ids", "ilike", "padaria")], [100, 103]),
    ("move", [("line_ids", "in", [103])], [12]),
    ("move", [("line_ids", "=", False)], []),
    # dotted paths through many2one and one2many
    ("line", [("move_id.write_date", ">", "2025-01-02 10:00:00")], [102, 103]),
    ("line", [("move_id.partner_id.name", "ilike", "bom")], [100, 101]),
    ("line", [("move_id.partner_id.city", "=", False)], []),  # an empty move_id is not followed
    ("line", [("tag_ids.city", "=", False)], [102]),
    ("line", [("move_id.state", "!=", "cancel")], [100, 101, 103]),
    ("move", [("line_ids.product", "ilike", "azeitona")], [10, 11]),
    ("move", [("line_ids.quantity", ">", 5)], [10, 12]),
    ("move", [("line_ids.tag_ids.name", "=like", "Padaria%")], [10, 12]),
    ("line", [("id", "in", [100, 103, 999])], [100, 103]),
    ("line", [("id", "=", 101)], [101]),
    ("line", [("id", ">", 101)], [102, 103]),
    # prefix operators: implicit & between terms, |, !, nesting
    ("line", [("quantity", ">", 1), ("product", "ilike", "a")], [100, 101]),
    ("line", ["&", ("quantity", ">", 1), ("product", "ilike", "a")], [100, 101]),
    ("line", ["|", ("quantity", "=", 0), ("product", "=", "KETCHUP")], [102, 103]),
    ("line", ["!", ("quantity", "=", 0)], [100, 101, 103]),
    ("line", ["!", "|", ("quantity", "=", 0), ("product", "=", "KETCHUP")], [100, 101]),
    ("line", ["|", "&", ("quantity", ">", 5), ("move_id.state", "=", "posted"), ("note", "=", "")], [100, 102]),
    ("line", ["|", ("id", "=", 100), "|", ("id", "=", 101), ("id", "=", 102)], [100, 101, 102]),
    ("line", ["&", "!", ("move_id", "=", 10), "|", ("quantity", "=", 0), ("quantity", ">", 6)], [102, 103]),
    ("line", [("quantity", ">", 1), "|", ("move_id", "=", 12), ("note", "!=", False)], [100, 103]),
    ("line", [], [100, 101, 102, 103]),
    ("line", [(1, "=", 1)], [100, 101, 102, 103]),
    ("line", [(0, "=", 1)], []),
    ("line", ["|", (0, "=", 1), ("id", "=", 101)], [101]),
]


@pytest.mark.parametrize("model,dom,expected", CASES, ids=[str(c[1]) for c in CASES])
def test_domain_cases(model, dom, expected):
    assert search(model, dom) == expected


def test_lists_and_tuples_are_the_same_leaf():
    assert search("line", [["quantity", "IN", (10, 7)]]) == [100, 103]


def test_normalize_builds_a_tree():
    tree = domain.normalize(["|", ("a", "=", 1), "!", ("b", "=", 2), ("c", "=", 3)])
    assert tree.kind == "and"
    first, second = tree.children
    assert first.kind == "or" and first.children[1].kind == "not"
    assert second.path == "c"


@pytest.mark.parametrize(
    "dom,message",
    [
        ([("nope", "=", 1)], "Invalid field line.nope in leaf"),
        ([("move_id.nope", "=", 1)], "Invalid field move.nope in leaf"),
        ([("quantity", "~", 1)], "Invalid leaf"),
        (["|", ("quantity", "=", 1)], "Invalid domain"),
        ([("quantity", "=")], "Invalid domain term"),
    ],
)
def test_invalid_domains_raise_value_error(dom, message):
    with pytest.raises(ValueError, match=message):
        search("line", dom)


def test_invalid_field_raises_even_without_records():
    with pytest.raises(ValueError, match="Invalid field"):
        domain.search_ids([("nope", "=", 1)], "line", [], DictAccessor())
