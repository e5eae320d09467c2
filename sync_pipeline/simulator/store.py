"""In-memory tables of the simulator: records by id, plus the indexes relations and searches need.

Two kinds of index, both kept up to date by ``Table.insert``/``update``/``delete`` (the only ways
records change once stored):

- ``Table.indexes``: field -> target id -> ids of this table pointing at it (a many2one value or
  a many2many member), for one2many/reverse many2many fields and ``=``/``in`` on many2one.
- ``Table.values``: a :class:`ValueIndex` per scalar field searched by value (dates, datetimes,
  selections, a few names): value -> ids, with the distinct values sorted for ranges (bisect).

Plain dicts, sets and lists only: a ``Store`` pickles as it is.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict

from .models import ModelSpec

# Scalar types indexed by value, and char fields searched by value that get one too.
VALUE_INDEXED_TYPES = ("date", "datetime", "selection")
VALUE_INDEXED_CHARS = {("sale.order", "name"), ("account.move", "name"), ("res.partner", "vat")}
EMPTY = None  # the bucket of records holding no value (None or False)


class ValueIndex:
    """Ids by stored value of one field; the distinct string values kept sorted for range scans.

    Records holding no value are under ``EMPTY``; a value that is not a string (never stored by the
    ORM, but possible through a raw insert) goes to ``odd``, which searches check one by one.
    Emptied values stay in ``keys`` until they are more than half of it (removals stay cheap).
    """

    __slots__ = ("ids", "keys", "stale", "odd")

    def __init__(self):
        self.ids: dict = {}  # value -> set of ids
        self.keys: list[str] = []  # sorted distinct string values (some possibly emptied)
        self.stale = 0
        self.odd: set[int] = set()

    def __getstate__(self):
        return (self.ids, self.keys, self.stale, self.odd)

    def __setstate__(self, state):
        self.ids, self.keys, self.stale, self.odd = state

    def add(self, value, rec_id: int) -> None:
        if value is None or value is False:
            value = EMPTY
        elif not isinstance(value, str):
            self.odd.add(rec_id)
            return
        bucket = self.ids.get(value)
        if bucket is None:
            self.ids[value] = {rec_id}
            if value is not EMPTY:
                keys = self.keys
                if not keys or keys[-1] < value:
                    keys.append(value)  # the usual case: a datetime newer than any stored
                else:
                    pos = bisect_left(keys, value)
                    if pos == len(keys) or keys[pos] != value:
                        keys.insert(pos, value)
                    else:
                        self.stale -= 1  # an emptied key in use again
        else:
            bucket.add(rec_id)

    def remove(self, value, rec_id: int) -> None:
        if value is None or value is False:
            value = EMPTY
        elif not isinstance(value, str):
            self.odd.discard(rec_id)
            return
        bucket = self.ids.get(value)
        if bucket is None:
            return
        bucket.discard(rec_id)
        if not bucket:
            del self.ids[value]
            if value is not EMPTY:
                self.stale += 1
                if self.stale * 2 > len(self.keys):
                    self.keys = [k for k in self.keys if k in self.ids]
                    self.stale = 0

    def equal(self, value) -> set[int]:
        return self.ids.get(value, set())

    def span(self, low, low_open: bool, high, high_open: bool) -> tuple[int, int]:
        """Positions in ``keys`` of the values between ``low`` and ``high`` (None: unbounded)."""
        keys = self.keys
        start = 0 if low is None else (bisect_right(keys, low) if low_open else bisect_left(keys, low))
        end = len(keys) if high is None else (bisect_left(keys, high) if high_open else bisect_right(keys, high))
        return start, max(start, end)

    def between(self, low, low_open: bool, high, high_open: bool) -> set[int]:
        start, end = self.span(low, low_open, high, high_open)
        found: set[int] = set()
        ids, keys = self.ids, self.keys
        for pos in range(start, end):
            bucket = ids.get(keys[pos])
            if bucket:
                found |= bucket
        return found

    def ordered(self, descending: bool = False, low=None, high=None):
        """(value, ids) in value order, empty values last (first when descending), as sort_ids;
        with ``low``/``high``, only the values between them (and no empty one)."""
        ids = self.ids
        bounded = low is not None or high is not None
        start, end = self.span(low, False, high, False) if bounded else (0, len(self.keys))
        keys = self.keys[start:end]
        if descending:
            keys.reverse()
        if descending and not bounded and ids.get(EMPTY):
            yield EMPTY, ids[EMPTY]
        for key in keys:
            bucket = ids.get(key)
            if bucket:
                yield key, bucket
        if not descending and not bounded and ids.get(EMPTY):
            yield EMPTY, ids[EMPTY]

    def size(self) -> int:
        return sum(map(len, self.ids.values())) + len(self.odd)


class Table:
    """The records of one model: ``records[id]`` is the raw stored dict (see fields.py)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.records: dict[int, dict] = {}
        self.next_id = 1
        # field -> target id -> ids of this table pointing at it (m2o value or m2m member)
        self.indexes: dict[str, dict[int, set[int]]] = {}
        # field -> ids by value (see ValueIndex)
        self.values: dict[str, ValueIndex] = {}

    def add_index(self, fname: str) -> None:
        self.indexes.setdefault(fname, defaultdict(set))

    def add_value_index(self, fname: str) -> None:
        if fname in self.values:
            return
        index = self.values[fname] = ValueIndex()
        for rec_id, raw in self.records.items():
            index.add(raw.get(fname), rec_id)

    def get(self, rec_id):
        return self.records.get(rec_id)

    def referrers(self, fname: str, target: int) -> set[int]:
        return self.indexes[fname].get(target, set())

    def insert(self, raw: dict) -> int:
        rec_id = raw.get("id") or self.next_id
        self.next_id = max(self.next_id, rec_id + 1)
        raw["id"] = rec_id
        self.records[rec_id] = raw
        get = raw.get
        for fname, index in self.indexes.items():
            value = get(fname)
            if value is None:
                continue
            if type(value) is list:
                for target in value:
                    index[target].add(rec_id)
            else:
                index[value].add(rec_id)
        for fname, vindex in self.values.items():
            value = get(fname)
            if type(value) is str and value in vindex.ids:
                vindex.ids[value].add(rec_id)  # the common case: a value other records hold
            else:
                vindex.add(value, rec_id)
        return rec_id

    def update(self, rec_id: int, changes: dict) -> dict:
        """Apply ``changes``; return {field: old value} for the fields whose value changed."""
        raw = self.records[rec_id]
        changed = {}
        indexes, values = self.indexes, self.values
        for fname, value in changes.items():
            old = raw.get(fname)
            if old == value and type(old) is type(value):
                continue
            changed[fname] = old
            raw[fname] = value
            index = indexes.get(fname)
            if index is not None:
                for target in _members(old):
                    index[target].discard(rec_id)
                for target in _members(value):
                    index[target].add(rec_id)
            vindex = values.get(fname)
            if vindex is not None:
                vindex.remove(old, rec_id)
                vindex.add(value, rec_id)
        return changed

    def delete(self, rec_id: int) -> None:
        raw = self.records.pop(rec_id)
        for fname, index in self.indexes.items():
            for target in _members(raw.get(fname)):
                index[target].discard(rec_id)
        for fname, vindex in self.values.items():
            vindex.remove(raw.get(fname), rec_id)


def _members(value):
    if value is None:
        return ()
    if isinstance(value, list):
        return value
    return (value,)


class Store:
    """All tables, with the indexes one2many fields, reverse many2many fields, stored related
    fields and searches need, and the map of stored related fields to keep up to date."""

    def __init__(self, specs: dict[str, ModelSpec]):
        self.tables = {name: Table(spec) for name, spec in specs.items()}
        # (parent model, parent field) -> [(child model, child m2o field, child related field)]
        self.related_deps: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
        for name, spec in specs.items():
            for fld in spec.fields.values():
                if fld.type == "many2one" and fld.name not in ("create_uid", "write_uid"):
                    self.tables[name].add_index(fld.name)  # searches by many2one use it
                if fld.type == "one2many":
                    self.tables[fld.relation].add_index(fld.inverse_name)
                elif fld.inverse_of:
                    self.tables[fld.relation].add_index(fld.inverse_of)
                if fld.related and fld.store:
                    link, _, target = fld.related.partition(".")
                    parent = spec.fields[link].relation
                    self.tables[name].add_index(link)
                    self.related_deps[(parent, target)].append((name, link, fld.name))
                indexed_char = fld.type == "char" and (name, fld.name) in VALUE_INDEXED_CHARS
                if fld.store and (fld.type in VALUE_INDEXED_TYPES or indexed_char):
                    self.tables[name].add_value_index(fld.name)

    def __getitem__(self, model: str) -> Table:
        return self.tables[model]

    def lookup(self, model: str, fname: str, targets) -> set[int] | None:
        """Ids of ``model`` whose ``fname`` holds one of ``targets``, or None if not indexed."""
        index = self.tables[model].indexes.get(fname)
        if index is None:
            return None
        found: set[int] = set()
        for target in targets:
            found |= index.get(target, set())
        return found
