"""The generic ORM methods every simulated model answers: search, read, create, write, unlink..."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import actions, commands, compute, domain
from .errors import MissingError, ValidationError
from .fields import coerce, external

MAGIC = ("id", "create_date", "write_date", "create_uid", "write_uid", "display_name")


def as_ids(ids) -> list[int]:
    if ids is False or ids is None:
        return []
    if isinstance(ids, int):
        return [ids]
    return [int(i) for i in ids]


def check_exist(env, model: str, ids) -> None:
    records = env.sim.store[model].records
    missing = [i for i in ids if i not in records]
    if missing:
        raise MissingError(
            "Record does not exist or has been deleted.\n"
            f"(Record: {model}({', '.join(map(str, missing))},), User: {env.uid})"
        )


def _field(specs, model: str, name: str):
    fld = specs[model].fields.get(name)
    if fld is None:
        raise ValueError(f"Invalid field {name!r} on model {model!r}")
    return fld


# -- reading ------------------------------------------------------------------------------------
def getter(sim, model: str, name: str):
    """A callable id -> raw value of ``model.name``, stored or not."""
    special = _computed_getter(sim, model, name)
    if special is not None:
        return special
    records = sim.store[model].records
    return lambda rec_id: records[rec_id].get(name)


def _computed_getter(sim, model: str, name: str):
    """The getter of a field whose value is not its record dict's entry (ids, display names,
    x2many inverses, non-stored related and computed fields); None for a plain stored field."""
    fld = sim.specs[model].fields[name]
    if name == "id":
        return lambda rec_id: rec_id
    if name == "display_name":
        return sim.display_getter(model)
    if fld.type == "one2many":
        comodel = sim.store[fld.relation]
        index, keep = comodel.indexes[fld.inverse_name], fld.extra.get("filter")
        if keep:
            key, allowed = keep
            crecs = comodel.records
            return lambda rec_id: sorted(i for i in index.get(rec_id, ()) if crecs[i].get(key) in allowed)
        return lambda rec_id: sorted(index.get(rec_id, ()))
    if fld.inverse_of:
        index = sim.store[fld.relation].indexes[fld.inverse_of]
        return lambda rec_id: sorted(index.get(rec_id, ()))
    if fld.related and not fld.store:
        first, _, rest = fld.related.partition(".")
        link = getter(sim, model, first)
        target = getter(sim, sim.specs[model].fields[first].relation, rest)
        return lambda rec_id: None if link(rec_id) is None else target(link(rec_id))
    special = compute.NONSTORED.get((model, name))
    if special is not None:
        return lambda rec_id: special(sim, rec_id)
    return None


def column_reader(sim, model: str, name: str, load) -> Callable[[int], Any]:
    """A callable id -> the external value of ``model.name`` (``fields.external`` of its raw
    value), specialised once per read: a page of a thousand rows calls it a thousand times."""
    fld = sim.specs[model].fields[name]
    t = fld.type
    get = _computed_getter(sim, model, name)
    if get is None:  # stored: straight from the record dict
        records = sim.store[model].records
        if t == "many2one" and load:
            display = sim.display_getter(fld.relation)
            return lambda i: False if (v := records[i].get(name)) is None else [v, display(v)]
        if t == "many2many":
            return lambda i: list(records[i].get(name) or [])
        empty = 0 if t == "integer" else False
        return lambda i: empty if (v := records[i].get(name)) is None else v
    if name == "id":
        return get
    names_of = None
    if t == "many2one" and load:
        display = sim.display_getter(fld.relation)
        names_of = lambda _model, rec_id: display(rec_id)  # noqa: E731
    return lambda i: external(fld, get(i), names_of)


def read(env, model, ids, fields=None, load="_classic_read"):
    ids = as_ids(ids)
    check_exist(env, model, ids)
    spec = env.sim.specs[model]
    names = list(fields) if fields else list(spec.fields)
    for name in names:
        _field(env.sim.specs, model, name)
    if "id" not in names:
        names.insert(0, "id")
    columns = [(name, column_reader(env.sim, model, name, load)) for name in names]
    return [{name: value(i) for name, value in columns} for i in ids]


def _with_active(env, model, dom):
    if "active" not in env.sim.specs[model].fields or not env.context.get("active_test", True):
        return dom
    node = domain.normalize(dom)
    if _mentions(node, "active"):
        return node
    return domain.Node("and", (domain.normalize([("active", "=", True)]), node))


def _mentions(node, name) -> bool:
    if node.kind == "leaf":
        return node.path.split(".")[0] == name
    return any(_mentions(child, name) for child in node.children)


class SearchAccess:
    """The accessor searches read through (see domain.py): the simulator's fields and values plus
    the store's indexes, so that a leaf an index answers never walks the table."""

    def __init__(self, sim):
        self.sim, self.store = sim, sim.store
        self.field, self.getter, self.display_getter = sim.field, sim.getter, sim.display_getter

    def all_ids(self, model: str):
        return self.store[model].records.keys()

    def lookup(self, model: str, name: str, targets):
        return self.store.lookup(model, name, targets)

    def referrer_count(self, model: str, name: str, targets) -> int | None:
        index = self.store[model].indexes.get(name)
        if index is None:
            return None
        return sum(len(index[t]) for t in targets if t in index)

    def value_index(self, model: str, name: str):
        return self.store[model].values.get(name)


# A search whose first order field has a value index walks that index in order when the domain
# matches more records than this (and several times the page asked for): a page costs its rows.
ORDERED_SCAN_MIN = 2000
ORDERED_SCAN_BATCH = 512


def search_ids(env, model, dom, offset=0, limit=None, order=None) -> list[int]:
    sim = env.sim
    table = sim.store[model]
    node = _with_active(env, model, dom or [])
    node = node if isinstance(node, domain.Node) else domain.normalize(node)
    domain.validate(node, model, sim)
    acc = SearchAccess(sim)
    order = order or sim.specs[model].order
    end = None if limit is None or limit is False else (offset or 0) + int(limit)
    universe = domain.Universe(table.records.keys())
    if end is not None and end > 0:
        scan = _ordered_scan(sim, model, node, acc, universe, order, end)
        if scan is not None:
            return scan[offset or 0 : end]
    found = domain.search_ids(node, model, universe, acc)
    ordered = sort_ids(sim, model, found, order)
    return ordered[offset or 0 : end]


def _ordered_scan(sim, model, node, acc, universe, order, end):
    """The first ``end`` ids of ``node`` in ``order`` from the value index of the order's first
    field, batch by batch of whole values, or None when that index does not pay."""
    first = str(order).split(",")[0].replace('"', "").split()
    if not first:
        return None
    index = sim.store[model].values.get(first[0])
    if index is None or index.odd:
        return None
    total = len(universe)
    if total < ORDERED_SCAN_MIN or domain.estimate(node, model, acc, total) < max(ORDERED_SCAN_MIN, 4 * end):
        return None
    descending = len(first) > 1 and first[1].lower() == "desc"
    low, high = domain.bounds(node, model, first[0], acc)  # e.g. a write_date cursor's start
    found: list[int] = []
    batch: list[int] = []

    def flush():
        hits = domain.filter_ids(node, model, set(batch), acc)
        found.extend(sort_ids(sim, model, hits.materialize() if isinstance(hits, domain.Universe) else hits, order))
        batch.clear()

    for _value, ids in index.ordered(descending, low, high):
        batch.extend(ids)
        if len(batch) >= ORDERED_SCAN_BATCH:
            flush()
            if len(found) >= end:
                return found
    if batch:
        flush()
    return found


def sort_ids(sim, model, ids, order: str) -> list[int]:
    keys = []
    for part in str(order).split(","):
        words = part.strip().replace('"', "").split()
        if not words:
            continue
        name, direction = words[0], (words[1].lower() if len(words) > 1 else "asc")
        if direction not in ("asc", "desc"):
            raise ValueError(f"Invalid order {order!r}")
        fld = sim.specs[model].fields.get(name)
        if fld is None or fld.type in ("one2many", "many2many"):
            raise ValueError(f"Invalid field {name!r} on model {model!r}")
        keys.append((name, fld, direction == "desc"))
    ids = sorted(ids)
    if [(k[0], k[2]) for k in keys] == [("id", False)]:
        return ids
    records = sim.store[model].records
    for name, fld, reverse in reversed(keys):
        if name == "id":
            ids.sort(reverse=reverse)
            continue
        if fld.type == "many2one":
            display = sim.display_getter(fld.relation)
            cache: dict = {}

            def value(i, name=name, display=display, cache=cache):
                target = records[i].get(name)
                if target is None:
                    return None
                if target not in cache:
                    cache[target] = display(target)
                return cache[target]
        else:
            value = getter(sim, model, name)
        decorated = [(_sort_key(value(i)), i) for i in ids]
        decorated.sort(key=lambda pair: pair[0], reverse=reverse)
        ids = [i for _, i in decorated]
    return ids


def _sort_key(value):
    return (1, 0) if value is None else (0, value)


def search(env, model, domain=None, offset=0, limit=None, order=None, count=False):
    ids = search_ids(env, model, domain, offset, limit, order)
    return len(ids) if count else ids


def search_count(env, model, domain=None, limit=None):
    return _count(env, model, domain, limit)


def _count(env, model, dom, limit) -> int:
    sim = env.sim
    node = _with_active(env, model, dom or [])
    found = domain.search_ids(node, model, domain.Universe(sim.store[model].records.keys()), SearchAccess(sim))
    return len(found) if limit is None or limit is False else min(len(found), int(limit))


def search_read(env, model, domain=None, fields=None, offset=0, limit=None, order=None, **kw):
    for name in fields or ():
        _field(env.sim.specs, model, name)
    ids = search_ids(env, model, domain, offset, limit, order)
    return read(env, model, ids, fields, kw.get("load", "_classic_read"))


def fields_get(env, model, allfields=None, attributes=None):
    spec = env.sim.specs[model]
    names = allfields or list(spec.fields)
    out = {}
    for name in names:
        if name not in spec.fields:
            continue
        desc = spec.fields[name].describe()
        out[name] = {k: v for k, v in desc.items() if not attributes or k in attributes}
    return out


def name_search(env, model, name="", args=None, operator="ilike", limit=100):
    dom = list(args or [])
    if name:
        dom = ["&", ("display_name", operator, name)] + (dom or [(1, "=", 1)])
    ids = search_ids(env, model, dom, 0, limit)
    display = env.sim.display_getter(model)
    return [[i, display(i)] for i in ids]


# -- writing ------------------------------------------------------------------------------------
def default_raw(env, model, vals=None) -> dict:
    meta = _meta(env.sim, model)
    raw = dict(meta.defaults)
    for name in meta.list_fields:
        raw[name] = list(raw[name])
    raw.update({"create_date": env.now, "write_date": env.now})
    raw.update({"create_uid": env.uid, "write_uid": env.uid})
    raw.update(vals or {})
    return raw


def create(env, model, vals_list=None, **kw):
    if vals_list is None:
        vals_list = kw.pop("vals", None) or kw.pop("values", None)
    single = isinstance(vals_list, dict)
    ids = [_create_one(env, model, dict(vals)) for vals in ([vals_list] if single else vals_list)]
    return ids[0] if single else ids


def _create_one(env, model, vals) -> int:
    vals = actions.before_create(env, model, vals)
    scalars, x2many = _split_vals(env, model, vals)
    table = env.sim.store[model]
    raw = default_raw(env, model, scalars)
    raw.pop("id", None)
    for fname, path in _meta(env.sim, model).related:
        raw[fname] = _follow(env.sim, model, raw, path)
    rec_id = table.insert(raw)
    for fld, cmds in x2many:
        commands.apply(env, model, rec_id, fld, cmds)
    env.mark(model, [rec_id])
    actions.after_create(env, model, rec_id)
    return rec_id


def write(env, model, ids, vals=None, **kw):
    ids = as_ids(ids)
    vals = dict(vals if vals is not None else kw.get("values", {}))
    check_exist(env, model, ids)
    actions.before_write(env, model, ids, vals)
    scalars, x2many = _split_vals(env, model, vals)
    for rec_id in ids:
        write_raw(env, model, rec_id, scalars)
        env.sim.store[model].update(rec_id, {"write_date": env.now, "write_uid": env.uid})
        for fld, cmds in x2many:
            commands.apply(env, model, rec_id, fld, cmds)
        env.mark(model, [rec_id])
    return True


def write_raw(env, model, rec_id, changes, touch=True) -> dict:
    """Store ``changes``; keep stored related fields of referring records up to date."""
    store = env.sim.store
    table = store[model]
    changed = table.update(rec_id, changes)
    if not changed:
        return changed
    raw = table.records[rec_id]
    if touch:
        table.update(rec_id, {"write_date": env.now, "write_uid": env.uid})
    meta = _meta(env.sim, model)
    if not meta.computed.issuperset(changed):
        env.mark(model, [rec_id])
        if model == "account.move" and not compute.LINE_SHAPING_FIELDS.isdisjoint(changed):
            env.resync_moves.add(rec_id)
    for name in meta.many2many.keys() & changed.keys():
        if changed[name]:
            env.mark(meta.many2many[name], changed[name])  # records no longer linked see it too
    deps = store.related_deps
    for fname in changed:
        for child_model, link, rel_field in deps.get((model, fname), ()):
            new = raw[fname]
            for child_id in list(store[child_model].referrers(link, rec_id)):
                write_raw(env, child_model, child_id, {rel_field: new})
    for link in meta.related_by_link.keys() & changed.keys():
        for fname, path in meta.related_by_link[link]:
            write_raw(env, model, rec_id, {fname: _follow(env.sim, model, raw, path)})
    return changed


class _Meta:
    def __init__(self, spec):
        fields = spec.fields.values()
        self.computed = {f.name for f in fields if f.computed}
        self.many2many = {f.name: f.relation for f in fields if f.type == "many2many" and not f.inverse_of}
        self.related = [(f.name, f.related) for f in fields if f.related and f.store]
        self.related_by_link: dict[str, list] = {}
        for fname, path in self.related:
            self.related_by_link.setdefault(path.split(".")[0], []).append((fname, path))
        self.defaults = {
            f.name: f.empty()
            for f in fields
            if f.store and f.type != "one2many" and not f.inverse_of and f.name != "id"
        }
        self.list_fields = [name for name, value in self.defaults.items() if isinstance(value, list)]


def _meta(sim, model) -> _Meta:
    """What create/write need to know of a model of this simulator's version (cached per simulator)."""
    meta = sim.metas.get(model)
    if meta is None:
        meta = sim.metas[model] = _Meta(sim.specs[model])
    return meta


def _follow(sim, model, raw, path):
    link, _, rest = path.partition(".")
    target = raw.get(link)
    if target is None:
        return None
    comodel = sim.specs[model].fields[link].relation
    if "." not in rest and sim.specs[comodel].fields[rest].store:
        return sim.store[comodel].records[target].get(rest)
    return getter(sim, comodel, rest)(target)


def _split_vals(env, model, vals):
    spec = env.sim.specs[model]
    fields = spec.fields
    scalars, x2many = {}, []
    for fname, value in vals.items():
        fld = fields.get(fname)
        if fld is None:
            raise ValueError(f"Invalid field {fname!r} on model {model!r}")
        if fname in MAGIC or (fld.related and fld.store) or fld.inverse_of:
            continue
        if fld.type == "one2many" or fld.type == "many2many":
            x2many.append((fld, value))
            continue
        if fld.computed and fname not in actions.WRITABLE_COMPUTED.get(model, ()):
            continue
        raw = coerce(fld, value)
        if fld.type == "selection" and raw is not None and raw not in dict(fld.selection):
            raise ValueError(f"Wrong value for {model}.{fname}: {value!r}")
        if fld.type == "many2one" and raw is not None and raw not in env.sim.store[fld.relation].records:
            raise ValidationError(
                f"The operation cannot be completed: {spec.description} references a missing "
                f"record {fld.relation}({raw},) in field {fname!r}."
            )
        scalars[fname] = raw
    return scalars, x2many


def unlink(env, model, ids):
    ids = as_ids(ids)
    check_exist(env, model, ids)
    actions.before_unlink(env, model, ids)
    delete(env, model, ids)
    return True


def insert(env, model, vals) -> int:
    """Store a record from raw values, without the business checks of ``create``."""
    raw = default_raw(env, model, vals)
    for fname, path in _meta(env.sim, model).related:
        raw[fname] = _follow(env.sim, model, raw, path)
    rec_id = env.sim.store[model].insert(raw)
    env.mark(model, [rec_id])
    return rec_id


def delete(env, model, ids) -> None:
    """Remove records with Odoo's cascades (required one2many children go too, links are cut)."""
    store = env.sim.store
    for rec_id in ids:
        if rec_id not in store[model].records:
            continue
        specs = env.sim.specs
        for fld in specs[model].fields.values():
            if fld.type == "one2many" and not fld.extra.get("filter"):
                children = list(store[fld.relation].referrers(fld.inverse_name, rec_id))
                if specs[fld.relation].fields[fld.inverse_name].required:
                    delete(env, fld.relation, children)
                else:
                    for child in children:
                        write_raw(env, fld.relation, child, {fld.inverse_name: None})
            elif fld.inverse_of:
                owners = store[fld.relation]
                for owner in list(owners.referrers(fld.inverse_of, rec_id)):
                    members = [i for i in owners.records[owner][fld.inverse_of] if i != rec_id]
                    write_raw(env, fld.relation, owner, {fld.inverse_of: members})
        for fld in specs[model].fields.values():
            if fld.type == "many2many" and not fld.inverse_of:
                env.mark(fld.relation, store[model].records[rec_id].get(fld.name) or ())
            elif fld.type == "many2one" and store[model].records[rec_id].get(fld.name):
                env.mark(fld.relation, [store[model].records[rec_id][fld.name]])
        store[model].delete(rec_id)
        env.dirty.get(model, set()).discard(rec_id)


METHODS = {
    "search": search,
    "search_read": search_read,
    "search_count": search_count,
    "read": read,
    "fields_get": fields_get,
    "name_search": name_search,
    "create": create,
    "write": write,
    "unlink": unlink,
}
