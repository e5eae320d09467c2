"""In-memory tables of the simulator: records by id, plus the inverse indexes relations need."""

from __future__ import annotations

from collections import defaultdict

from .models import ModelSpec


class Table:
    """The records of one model: ``records[id]`` is the raw stored dict (see fields.py)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.records: dict[int, dict] = {}
        self.next_id = 1
        # field -> target id -> ids of this table pointing at it (m2o value or m2m member)
        self.indexes: dict[str, dict[int, set[int]]] = {}

    def add_index(self, fname: str) -> None:
        self.indexes.setdefault(fname, defaultdict(set))

    def get(self, rec_id):
        return self.records.get(rec_id)

    def referrers(self, fname: str, target: int) -> set[int]:
        return self.indexes[fname].get(target, set())

    def insert(self, raw: dict) -> int:
        rec_id = raw.get("id") or self.next_id
        self.next_id = max(self.next_id, rec_id + 1)
        raw["id"] = rec_id
        self.records[rec_id] = raw
        for fname, index in self.indexes.items():
            for target in _members(raw.get(fname)):
                index[target].add(rec_id)
        return rec_id

    def update(self, rec_id: int, changes: dict) -> dict:
        """Apply ``changes``; return {field: old value} for the fields whose value changed."""
        raw = self.records[rec_id]
        changed = {}
        indexes = self.indexes
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
        return changed

    def delete(self, rec_id: int) -> None:
        raw = self.records.pop(rec_id)
        for fname, index in self.indexes.items():
            for target in _members(raw.get(fname)):
                index[target].discard(rec_id)


def _members(value):
    if value is None:
        return ()
    if isinstance(value, list):
        return value
    return (value,)


class Store:
    """All tables, with the indexes one2many fields, reverse many2many fields and stored related
    fields need, and the map of stored related fields to keep up to date."""

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
