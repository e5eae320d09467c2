"""Odoo search domains: normalization to a tree and set-based evaluation over records.

Pure: records are reached through an accessor, so the evaluator is tested without a simulator.

    accessor.field(model, name) -> object with ``.type`` and ``.relation`` (or None if unknown)
    accessor.getter(model, name) -> callable(id) -> raw value (m2o int|None, x2many list of ids,
                                    char/date str|None, numbers, booleans)
    accessor.display_getter(model) -> callable(id) -> display name
    accessor.lookup(model, name, targets) -> ids whose many2one/many2many ``name`` is in targets,
                                            or None when there is no index (optional method)
    accessor.referrer_count(model, name, targets) -> how many ids ``lookup`` would give (optional)
    accessor.value_index(model, name) -> a store.ValueIndex of a scalar field, or None (optional)
    accessor.all_ids(model) -> every id of the model (optional; dotted paths over a whole table)

A search over a whole table (a :class:`Universe`) answers from the indexes what they can: ``id``
and many2one ``=``/``in``, and on value-indexed fields (dates, datetimes, selections) ``=``,
``in`` and the ranges ``<``, ``<=``, ``>``, ``>=``. An AND starts from its child the indexes say is
smallest and filters the others over what it found; an OR of indexable children is the union of
their answers. Whatever the path, the result is the set a record-by-record evaluation gives.

Semantics follow Odoo's ``expression.py``: prefix ``&``/``|``/``!`` with implicit ``&`` between
top-level terms; negative operators on a non-False value also match empty values (SQL
``... OR col IS NULL``); many2one compared by id, or by display name when given a string; dotted
paths mean "some related record matches"; a date-only value on a datetime field means the start of
that day (end of day for ``>`` and ``<=``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Protocol

TRUE_LEAF = (1, "=", 1)
FALSE_LEAF = (0, "=", 1)
OPERATORS = (
    "=",
    "!=",
    "<=",
    "<",
    ">",
    ">=",
    "=?",
    "=like",
    "=ilike",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "in",
    "not in",
    "child_of",
    "parent_of",
)
NEGATIVE = {"!=": "=", "not like": "like", "not ilike": "ilike", "not in": "in"}
NAME_OPERATORS = ("=", "like", "ilike", "=like", "=ilike", "in")
X2MANY = ("one2many", "many2many")


class Accessor(Protocol):
    def field(self, model: str, name: str) -> Any: ...
    def getter(self, model: str, name: str): ...
    def display_getter(self, model: str): ...


@dataclass(frozen=True)
class Node:
    kind: str  # "and" | "or" | "not" | "leaf" | "const"
    children: tuple = ()
    path: str = ""
    operator: str = ""
    value: Any = None


TRUE = Node("const", value=True)
FALSE = Node("const", value=False)


def _is_leaf(term) -> bool:
    return isinstance(term, (list, tuple)) and len(term) == 3 and not isinstance(term, str)


def _leaf(term) -> Node:
    left, op, value = term
    if tuple(term) == TRUE_LEAF or (left is True and op == "=" and value is True):
        return TRUE
    if tuple(term) == FALSE_LEAF:
        return FALSE
    op = op.lower() if isinstance(op, str) else op
    if not isinstance(left, str) or op not in OPERATORS:
        raise ValueError(f"Invalid leaf {tuple(term)!r}")
    if isinstance(value, tuple):
        value = list(value)
    return Node("leaf", path=left, operator=op, value=value)


def normalize(domain) -> Node:
    """Parse a domain (list in prefix notation) into a tree of and/or/not/leaf nodes."""
    if domain is None or domain is False:
        return TRUE
    if not isinstance(domain, (list, tuple)):
        raise ValueError(f"Invalid domain {domain!r}")
    terms = list(domain)
    if _is_leaf(terms) and isinstance(terms[0], str) and terms[1] in OPERATORS:
        terms = [terms]  # a single leaf given without the enclosing list
    pos = 0

    def parse() -> Node:
        nonlocal pos
        if pos >= len(terms):
            raise ValueError(f"Invalid domain {domain!r}: missing operand")
        term = terms[pos]
        pos += 1
        if term in ("&", "|"):
            left, right = parse(), parse()
            return Node("and" if term == "&" else "or", (left, right))
        if term == "!":
            return Node("not", (parse(),))
        if _is_leaf(term):
            return _leaf(term)
        raise ValueError(f"Invalid domain term {term!r}")

    nodes = []
    while pos < len(terms):
        nodes.append(parse())
    if not nodes:
        return TRUE
    return nodes[0] if len(nodes) == 1 else Node("and", tuple(nodes))


def validate(node: Node, model: str, acc: Accessor) -> None:
    """Raise ValueError like Odoo for a leaf naming a field the model does not have."""
    if node.kind == "leaf":
        current = model
        for name in node.path.split("."):
            fld = acc.field(current, name)
            if fld is None:
                leaf = (node.path, node.operator, node.value)
                raise ValueError(f"Invalid field {current}.{name} in leaf {leaf!r}")
            current = fld.relation
    for child in node.children:
        validate(child, model, acc)


class Universe:
    """All ids of a model, not materialized: a search over a whole table starts from it, so a leaf
    answered by an index never walks the table."""

    def __init__(self, keys):
        self.keys = keys

    def __len__(self):
        return len(self.keys)

    def materialize(self) -> set[int]:
        return set(self.keys)


def search_ids(domain, model: str, ids: Iterable[int] | Universe, acc: Accessor) -> set[int]:
    """The ids among ``ids`` whose record satisfies ``domain``."""
    node = domain if isinstance(domain, Node) else normalize(domain)
    validate(node, model, acc)
    found = filter_ids(node, model, ids if isinstance(ids, Universe) else set(ids), acc)
    return found.materialize() if isinstance(found, Universe) else found


def filter_ids(node: Node, model: str, ids, acc: Accessor):
    if not ids:
        return set()
    kind = node.kind
    if kind == "const":
        return ids if node.value else set()
    if kind == "and":
        children = sorted(node.children, key=lambda child: _cost(child, model, acc))
        current = ids
        if isinstance(ids, Universe):
            span = _merged_range(children, model, acc)
            if span is not None and _plan_estimate(span[0]) < min(
                (estimate(c, model, acc, len(ids)) for c in children if _indexable(c, model, acc)), default=len(ids)
            ):
                plan, leaves = span
                current = plan[1].between(*plan[2:])
                children = [child for child in children if not any(child is leaf for leaf in leaves)]
                for child in children:
                    if not current:
                        break
                    current = filter_ids(child, model, current, acc)
                return current
            indexed = [child for child in children if _indexable(child, model, acc)]
            if indexed:
                first = min(indexed, key=lambda child: estimate(child, model, acc, len(ids)))
                children.remove(first)
                current = filter_ids(first, model, ids, acc)
                if isinstance(current, Universe):
                    current = current.materialize() if children else current
        for child in children:
            if not current:
                break
            current = filter_ids(child, model, current, acc)
        return current
    if isinstance(ids, Universe):
        if kind == "leaf":
            found = _indexed_leaf(node, model, ids, acc)
            if found is not None:
                return found
        if kind == "or" and all(_indexable(child, model, acc) for child in node.children):
            result: set[int] = set()
            for child in node.children:
                found = filter_ids(child, model, ids, acc)
                if isinstance(found, Universe):
                    return found
                result |= found
            return result
        ids = ids.materialize()
    if kind == "or":
        result: set[int] = set()
        for child in node.children:
            result |= filter_ids(child, model, ids - result, acc)
        return result
    if kind == "not":
        return ids - filter_ids(node.children[0], model, ids, acc)
    return _filter_leaf(node, model, ids, acc)


def _indexable(node: Node, model: str, acc: Accessor) -> bool:
    """Whether ``node`` over a whole table is answered from indexes, without reading every record."""
    kind = node.kind
    if kind == "const":
        return True
    if kind == "and":
        return any(_indexable(child, model, acc) for child in node.children)
    if kind == "or":
        return all(_indexable(child, model, acc) for child in node.children)
    if kind == "not":
        return False
    if _value_leaf_plan(node, model, acc) is not None:
        return True
    op, value = node.operator, node.value
    if op not in ("=", "in") or value is False or _is_name_value(value):
        return False
    wanted = value if isinstance(value, list) else [value]
    if False in wanted or None in wanted:
        return False
    head, _, rest = node.path.partition(".")
    if head == "id":
        return not rest
    fld = acc.field(model, head)
    if fld is None or fld.type != "many2one" or getattr(acc, "lookup", None) is None:
        return False
    if rest:
        return getattr(acc, "all_ids", None) is not None
    count = getattr(acc, "referrer_count", None)
    return count is None or count(model, head, ()) is not None


def estimate(node: Node, model: str, acc: Accessor, total: int) -> int:
    """An upper bound (roughly) of how many of ``total`` records ``node`` matches, from the indexes."""
    kind = node.kind
    if kind == "const":
        return total if node.value else 0
    if kind == "and":
        found = min((estimate(child, model, acc, total) for child in node.children), default=total)
        span = _merged_range(node.children, model, acc)
        return found if span is None else min(found, _plan_estimate(span[0]))
    if kind == "or":
        return min(total, sum(estimate(child, model, acc, total) for child in node.children))
    if kind == "not" or not _indexable(node, model, acc):
        return total
    plan = _value_leaf_plan(node, model, acc)
    if plan is not None:
        return min(total, _plan_estimate(plan))
    head, _, rest = node.path.partition(".")
    wanted = node.value if isinstance(node.value, list) else [node.value]
    if head == "id":
        return min(total, len(wanted))
    count = getattr(acc, "referrer_count", None)
    found = None if rest or count is None else count(model, head, wanted)
    if found is None:
        return total // 2  # a path through a many2one: indexed, of unknown size
    return min(total, found)


def _value_leaf_plan(node: Node, model: str, acc: Accessor):
    """How a value index answers ``node`` exactly as _filter_scalar would, or None: ("eq", index,
    values) for the union of the records holding one of ``values`` (``EMPTY`` for no value), or
    ("range", index, low, low_open, high, high_open) for the string values in a range."""
    get_index = getattr(acc, "value_index", None)
    if get_index is None or "." in node.path:
        return None
    index = get_index(model, node.path)
    if index is None:
        return None
    ftype = acc.field(model, node.path).type
    op, value = node.operator, node.value
    if op == "=?":
        if value is None or value is False:
            return None
        op = "="
    if op == "=":
        if isinstance(value, (list, set, tuple)):
            return None
        value = _prepare(value, "=", ftype)
        if value is False or value is None:
            return ("eq", index, (None, ""))  # _empty(): no value or an empty string
        return ("eq", index, (value,)) if isinstance(value, str) else None
    if op == "in":
        values = value if isinstance(value, (list, set, tuple)) else [value]
        prepared = [_prepare(v, "=", ftype) for v in values]
        has_false = any(v is False or v is None for v in prepared)
        wanted = [v for v in prepared if v is not False and v is not None]
        if not all(isinstance(v, str) for v in wanted):
            return None
        wanted = [v for v in wanted if v != ""]  # an empty string is "no value": only False finds it
        return ("eq", index, tuple(wanted) + ((None, "") if has_false else ()))
    if op in (">", ">=", "<", "<="):
        value = _prepare(value, op, ftype)
        if value is False or value is None:
            return ("eq", index, ())  # no record is greater or smaller than nothing
        if not isinstance(value, str):
            return None
        if op[0] == ">":
            return ("range", index, value, op == ">", None, False)
        return ("range", index, None, False, value, op == "<")
    return None


def _merged_range(children, model: str, acc: Accessor):
    """The tightest range of one value-indexed field that several range leaves of an AND make
    (``date >= a`` and ``date <= b``), as (plan, those leaves), or None."""
    by_index: dict[int, list] = {}
    for child in children:
        if child.kind == "leaf":
            plan = _value_leaf_plan(child, model, acc)
            if plan is not None and plan[0] == "range" and not plan[1].odd:
                by_index.setdefault(id(plan[1]), []).append((plan, child))
    best = None
    for found in by_index.values():
        if len(found) < 2:
            continue
        index = found[0][0][1]
        low, low_open, high, high_open = None, False, None, False
        for plan, _leaf in found:
            _kind, _index, lo, lo_open, hi, hi_open = plan
            if lo is not None and (low is None or lo > low or (lo == low and lo_open)):
                low, low_open = lo, lo_open
            if hi is not None and (high is None or hi < high or (hi == high and hi_open)):
                high, high_open = hi, hi_open
        merged = ("range", index, low, low_open, high, high_open)
        if best is None or _plan_estimate(merged) < _plan_estimate(best[0]):
            best = (merged, [leaf for _plan, leaf in found])
    return best


def _plan_estimate(plan) -> int:
    index = plan[1]
    if plan[0] == "eq":
        return sum(len(index.equal(v)) for v in plan[2]) + len(index.odd)
    start, end = index.span(*plan[2:])
    if end - start <= 64:
        return sum(len(index.equal(index.keys[pos])) for pos in range(start, end)) + len(index.odd)
    sample = [*range(start, start + 32), *range(end - 32, end)]  # the span's ends, not a walk of it
    per_key = sum(len(index.equal(index.keys[pos])) for pos in sample) / len(sample)
    return int((end - start) * per_key) + len(index.odd)


def bounds(node: Node, model: str, path: str, acc: Accessor) -> tuple:
    """(low, high): string values of ``path`` every record matching ``node`` lies between (either
    None when unknown); a bound also means the record has a value."""
    kind = node.kind
    if kind == "and":
        lows, highs = zip(*(bounds(child, model, path, acc) for child in node.children), strict=True)
        low = max((v for v in lows if v is not None), default=None)
        return low, min((v for v in highs if v is not None), default=None)
    if kind == "or":
        lows, highs = zip(*(bounds(child, model, path, acc) for child in node.children), strict=True)
        low = None if None in lows else min(lows)
        return low, None if None in highs else max(highs)
    if kind != "leaf" or node.path != path or node.operator not in ("=", ">", ">=", "<", "<="):
        return None, None
    fld = acc.field(model, path)
    value = _prepare(node.value, node.operator, fld.type if fld is not None else "")
    if not isinstance(value, str) or isinstance(node.value, (list, set, tuple)):
        return None, None
    op = node.operator
    return (value if op in ("=", ">", ">=") else None), (value if op in ("=", "<", "<=") else None)


def _value_leaf(plan, node: Node, model: str, universe: Universe, acc: Accessor) -> set[int]:
    index = plan[1]
    if plan[0] == "eq":
        found: set[int] = set()
        for value in plan[2]:
            found |= index.equal(value)
    else:
        found = index.between(*plan[2:])
    if index.odd:  # values no index orders: read one by one
        found |= _filter_leaf(node, model, {i for i in index.odd if i in universe.keys}, acc)
    return found


def _indexed_leaf(node: Node, model: str, universe: Universe, acc: Accessor):
    """Answer a leaf over a whole table from an index, or None when that is not possible."""
    plan = _value_leaf_plan(node, model, acc)
    if plan is not None:
        return _value_leaf(plan, node, model, universe, acc)
    op, value = node.operator, node.value
    if op not in ("=", "in") or value is False or _is_name_value(value):
        return None
    wanted = value if isinstance(value, list) else [value]
    if False in wanted or None in wanted:
        return None
    head, _, rest = node.path.partition(".")
    if head == "id" and not rest:
        return {v for v in wanted if v in universe.keys}
    fld = acc.field(model, head)
    if fld.type != "many2one":
        return None
    if not rest:
        return _lookup(acc, model, head, wanted)
    all_ids = getattr(acc, "all_ids", None)
    if all_ids is None:
        return None
    ok = filter_ids(
        Node("leaf", path=rest, operator=op, value=value), fld.relation, Universe(all_ids(fld.relation)), acc
    )
    ok = ok.materialize() if isinstance(ok, Universe) else ok
    return _lookup(acc, model, head, ok)


def _cost(node: Node, model: str, acc: Accessor) -> int:
    """Conjunctions evaluate cheap leaves first: ``id`` leaves, then leaves an index can answer
    (many2one by id, paths through a many2one), then leaves that read every candidate."""
    if node.kind != "leaf":
        return 3
    head = node.path.split(".")[0]
    if head == "id":
        return 0
    fld = acc.field(model, head)
    if fld is not None and fld.type == "many2one":
        if "." in node.path or (node.operator in ("=", "in") and not _is_name_value(node.value)):
            return 1
    return 2


def _filter_leaf(node: Node, model: str, ids: set[int], acc: Accessor) -> set[int]:
    path, op, value = node.path, node.operator, node.value
    if op == "=?":
        if value is None or value is False:
            return set(ids)
        op = "="
    if op in ("child_of", "parent_of"):
        op = "in"
    head, _, rest = path.partition(".")
    fld = acc.field(model, head)
    get = acc.getter(model, head)
    if rest:
        sub = Node("leaf", path=rest, operator=op, value=value)
        if fld.type == "many2one":
            targets = {t for t in map(get, ids) if t is not None}
            ok = filter_ids(sub, fld.relation, targets, acc)
            found = _lookup(acc, model, head, ok)
            if found is not None:
                return ids & found
            return {i for i in ids if get(i) in ok}
        targets = set()
        for i in ids:
            targets.update(get(i) or ())
        ok = filter_ids(sub, fld.relation, targets, acc)
        return {i for i in ids if not ok.isdisjoint(get(i) or ())}
    if head == "id":
        if op in ("=", "in") and value is not False:
            return ids & (set(value) if isinstance(value, list) else {value})
        return _filter_scalar(ids, get, op, value, "integer")
    if fld.type == "many2one":
        return _filter_many2one(ids, get, op, value, fld, acc, model, head)
    if fld.type in X2MANY:
        return _filter_x2many(ids, get, op, value, fld, acc)
    return _filter_scalar(ids, get, op, value, fld.type)


def _lookup(acc, model, name, targets):
    lookup = getattr(acc, "lookup", None)
    return lookup(model, name, targets) if lookup else None


def _is_name_value(value) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and any(isinstance(v, str) for v in value)


def _filter_many2one(ids, get, op, value, fld, acc, model, name) -> set[int]:
    if _is_name_value(value) and (op in NAME_OPERATORS or op in NEGATIVE):
        positive = NEGATIVE.get(op, op)
        name_of = acc.display_getter(fld.relation)
        targets = {t for t in map(get, ids) if t is not None}
        ok = {t for t in targets if _scalar_match(positive, name_of(t), value, "char")}
        if op in NEGATIVE:
            return {i for i in ids if get(i) not in ok}
        return {i for i in ids if get(i) in ok}
    if op in ("=", "in") and value is not False:
        wanted = value if isinstance(value, list) else [value]
        count = getattr(acc, "referrer_count", None)
        targets = [v for v in wanted if v is not False]
        hits = count(model, name, targets) if count is not None else None
        if hits is not None and len(ids) < hits:
            return _filter_scalar(ids, get, op, value, "many2one")  # fewer candidates than hits
        found = _lookup(acc, model, name, targets)
        if found is not None:
            if False in wanted:
                found = found | {i for i in ids if get(i) is None}
            return ids & found
    return _filter_scalar(ids, get, op, value, "many2one")


def _filter_x2many(ids, get, op, value, fld, acc) -> set[int]:
    if value is False or value is None or value == []:
        if op in ("=", "in"):
            return {i for i in ids if not get(i)}
        if op in ("!=", "not in"):
            return {i for i in ids if get(i)}
    positive = NEGATIVE.get(op, op)
    if _is_name_value(value):
        name_of = acc.display_getter(fld.relation)
        targets = set()
        for i in ids:
            targets.update(get(i) or ())
        ok = {t for t in targets if _scalar_match(positive, name_of(t), value, "char")}
    elif positive in ("=", "in"):
        ok = set(value) if isinstance(value, list) else {value}
    else:
        targets = set()
        for i in ids:
            targets.update(get(i) or ())
        ok = {t for t in targets if _scalar_match(positive, t, value, "integer")}
    if op in NEGATIVE:
        return {i for i in ids if ok.isdisjoint(get(i) or ())}
    return {i for i in ids if not ok.isdisjoint(get(i) or ())}


def _filter_scalar(ids, get, op, value, ftype) -> set[int]:
    if ftype in ("integer", "many2one") and op in ("=", "in") and value is not False:
        wanted = set(value) if isinstance(value, list) else {value}
        has_false = False in wanted
        return {i for i in ids if get(i) in wanted or (has_false and get(i) is None)}
    if op in ("in", "not in"):
        values = value if isinstance(value, (list, set, tuple)) else [value]
        prepared = [_prepare(v, "=", ftype) for v in values]
        has_false = any(v is False or v is None for v in prepared)
        wanted = {v for v in prepared if v is not False and v is not None}
        boolean = ftype == "boolean"

        def hit(raw):
            if _empty(raw, ftype) and not boolean:
                return has_false
            return raw in wanted or (boolean and not raw and has_false)

        positive = op == "in"
        return {i for i in ids if hit(get(i)) is positive}
    value = _prepare(value, op, ftype)
    if value is not False and value is not None and ftype != "boolean":
        # the common leaves, without a function call per record
        if op == "=":
            return {i for i in ids if get(i) == value}
        if op == "!=":
            return {i for i in ids if (raw := get(i)) is None or raw != value}
        try:
            if op == ">":
                return {i for i in ids if (raw := get(i)) is not None and raw > value}
            if op == ">=":
                return {i for i in ids if (raw := get(i)) is not None and raw >= value}
            if op == "<":
                return {i for i in ids if (raw := get(i)) is not None and raw < value}
            if op == "<=":
                return {i for i in ids if (raw := get(i)) is not None and raw <= value}
        except TypeError:
            pass  # mixed types: compare one by one below
    return {i for i in ids if _scalar_match(op, get(i), value, ftype)}


def _prepare(value, op, ftype):
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, date):
        value = value.isoformat()
    if ftype == "datetime" and isinstance(value, str) and len(value) == 10:
        value += " 23:59:59" if op in (">", "<=") else " 00:00:00"
    elif ftype == "date" and isinstance(value, str) and len(value) > 10:
        value = value[:10]
    elif ftype == "datetime" and isinstance(value, str):
        value = value.replace("T", " ")[:19]
    return value


def _empty(raw, ftype) -> bool:
    if raw is None or raw is False:
        return True
    if ftype in ("integer", "float", "monetary"):
        return False
    return raw == "" or raw == []


@lru_cache(maxsize=512)
def _like_regex(pattern: str, insensitive: bool) -> re.Pattern:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts) + r"\Z", re.S | (re.I if insensitive else 0))


def _scalar_match(op: str, raw, value, ftype: str) -> bool:
    if op in ("in", "not in"):
        values = value if isinstance(value, (list, set)) else [value]
        values = [_prepare(v, "=", ftype) for v in values]
        has_false = any(v is False or v is None for v in values)
        if _empty(raw, ftype) and ftype not in ("boolean",):
            hit = has_false
        else:
            hit = raw in values or (ftype == "boolean" and not raw and has_false)
        return hit if op == "in" else not hit
    if value is False or value is None:
        if op == "=":
            return _empty(raw, ftype) or (ftype in ("integer", "float", "monetary") and raw == 0)
        if op == "!=":
            return not _scalar_match("=", raw, False, ftype)
        if op in ("like", "ilike", "=like", "=ilike"):
            return True
        if op in ("not like", "not ilike"):
            return False
        return False
    if op == "=":
        if ftype == "boolean":
            return bool(raw) == bool(value)
        return raw == value
    if op == "!=":
        if ftype == "boolean":
            return bool(raw) != bool(value)
        return raw is None or raw != value
    if op in ("like", "ilike", "=like", "=ilike", "not like", "not ilike"):
        if raw is None or raw is False:
            return op.startswith("not")
        pattern = str(value) if op.startswith("=") else f"%{value}%"
        hit = _like_regex(pattern, "ilike" in op).match(str(raw)) is not None
        return not hit if op.startswith("not") else hit
    if raw is None or (ftype == "boolean" and raw is False):
        return False
    try:
        if op == "<":
            return raw < value
        if op == "<=":
            return raw <= value
        if op == ">":
            return raw > value
        if op == ">=":
            return raw >= value
    except TypeError:
        return False
    raise ValueError(f"Invalid operator {op!r}")
