"""``read_group`` as Odoo 17's external API answers it (legacy format, with ``__domain``)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from .compute import money

GRANULARITIES = ("day", "week", "month", "quarter", "year")
AGGREGATES = ("sum", "min", "max", "avg", "count", "count_distinct", "bool_and", "bool_or")
_SPEC = re.compile(r"^(\w+)(?::(\w+))?(?:\((\w+)\))?$")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _groupby_specs(models, model, groupby):
    specs = []
    for spec in groupby:
        name, _, gran = spec.partition(":")
        fld = models[model].fields.get(name)
        if fld is None:
            raise ValueError(f"Invalid field {name!r} on model {model!r}")
        if not fld.store or fld.type in ("one2many", "many2many", "text"):
            raise ValueError(
                f"Field {model}.{name} is not a stored field, only stored fields can be used to group records."
            )
        if fld.type in ("date", "datetime"):
            gran = gran or "month"
            if gran not in GRANULARITIES:
                raise ValueError(f"Invalid date/time granularity {gran!r} in {spec!r}")
        elif gran:
            raise ValueError(f"Granularity {gran!r} is only valid on date fields ({spec!r})")
        specs.append((spec if not fld.type.startswith("date") else f"{name}:{gran}", name, gran, fld))
    return specs


def _aggregate_specs(models, model, fields, groupby_names):
    out = []
    for spec in fields or ():
        if spec == "__count":
            continue
        match = _SPEC.match(spec.strip())
        if not match:
            raise ValueError(f"Invalid field specification {spec!r}.")
        alias, func, fname = match.groups()
        fname = fname or alias
        fld = models[model].fields.get(fname)
        if fld is None:
            raise ValueError(f"Invalid field {fname!r} on model {model!r}")
        if fname in groupby_names and not func:
            continue
        func = func or fld.group_operator
        if not func:
            continue  # Odoo ignores non-aggregatable fields in the list
        if func not in AGGREGATES:
            raise ValueError(f"Invalid aggregation function {func!r}.")
        if not fld.store:
            raise ValueError(f"Cannot aggregate field {fname!r} of model {model!r}: not stored.")
        out.append((alias, fname, func))
    return out


def _bucket(value: str, gran: str):
    """(start, end, label) of the date bucket holding ``value`` ('YYYY-MM-DD...')."""
    day = date.fromisoformat(value[:10])
    if gran == "day":
        start, end = day, day + timedelta(days=1)
        label = f"{day.day:02d} {_MONTHS[day.month - 1][:3]} {day.year}"
    elif gran == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        year, week, _ = day.isocalendar()
        label = f"W{week} {year}"
    elif gran == "month":
        start = day.replace(day=1)
        end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        label = f"{_MONTHS[day.month - 1]} {day.year}"
    elif gran == "quarter":
        q = (day.month - 1) // 3
        start = date(day.year, 3 * q + 1, 1)
        end = date(day.year + (q == 3), (3 * q + 3) % 12 + 1, 1)
        label = f"Q{q + 1} {day.year}"
    else:
        start, end, label = date(day.year, 1, 1), date(day.year + 1, 1, 1), str(day.year)
    return start.isoformat(), end.isoformat(), label


def _group_records(env, model, domain, active):
    """Ids of the records of ``domain`` by group key, and the rank of many2one values in their
    comodel's order (many2one groups come in that order, as Odoo sorts them)."""
    from .orm import search_ids, sort_ids

    sim = env.sim
    ids = search_ids(env, model, domain or [], 0, None, "id")
    records = sim.store[model].records
    groups: dict[tuple, list[int]] = {}
    for rec_id in ids:
        key = []
        for _spec, name, gran, _fld in active:
            raw = records[rec_id].get(name)
            key.append(_bucket(raw, gran) if raw and gran else raw)
        groups.setdefault(tuple(key), []).append(rec_id)
    ranks = {}
    for pos, (_spec, _name, _gran, fld) in enumerate(active):
        if fld.type == "many2one":
            targets = {key[pos] for key in groups if key[pos] is not None}
            ordered = sort_ids(sim, fld.relation, targets, sim.specs[fld.relation].order)
            ranks[pos] = {target: n for n, target in enumerate(ordered)}
    return groups, ranks


def read_group(env, model, domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
    sim = env.sim
    groupby = [groupby] if isinstance(groupby, str) else list(groupby or [])
    specs = _groupby_specs(sim.specs, model, groupby)
    active = specs[:1] if lazy else specs
    aggs = _aggregate_specs(sim.specs, model, fields, {s[1] for s in specs})
    records = sim.store[model].records
    groups, ranks = _group_records(env, model, domain, active)
    rows = []
    for key, members in groups.items():
        row, extra_domain, ranges, sort_key = {}, [], {}, []
        for pos, ((spec, name, gran, fld), raw) in enumerate(zip(active, key, strict=True)):
            if fld.type == "many2one":
                value = [raw, sim.display_getter(fld.relation)(raw)] if raw is not None else False
                sort_key.append(ranks[pos][raw] if value else None)
                extra_domain.append((name, "=", raw if raw is not None else False))
            elif gran:
                value = raw[2] if raw else False
                sort_key.append(raw[0] if raw else None)
                if raw:
                    extra_domain += ["&", (name, ">=", raw[0]), (name, "<", raw[1])]
                    ranges[spec] = {"from": raw[0], "to": raw[1]}
                else:
                    extra_domain.append((name, "=", False))
                    ranges[spec] = False
            else:
                value = False if raw is None else raw
                sort_key.append(raw)
                extra_domain.append((name, "=", value))
            row[spec] = value
        count_key = f"{active[0][1]}_count" if lazy and active else "__count"
        row[count_key] = len(members)
        for alias, fname, func in aggs:
            row[alias] = _aggregate(func, [records[i].get(fname) for i in members])
        if ranges:
            row["__range"] = ranges
        row["__domain"] = _and(extra_domain, list(domain or []))
        if lazy and len(specs) > 1:
            row["__context"] = {"group_by": groupby[1:]}
        rows.append((sort_key, row))
    rows = _order_groups(rows, orderby, active)
    end = None if not limit else (offset or 0) + limit
    return rows[offset or 0 : end]


def _and(extra, domain):
    terms = [t for t in extra if t != "&"]
    leaves_count = len(terms) + (1 if domain else 0)
    prefix = ["&"] * (leaves_count - 1 - extra.count("&"))
    return prefix + extra + (domain if domain else [])


def _aggregate(func, values):
    nums = [v for v in values if v is not None]
    if func == "sum":
        total = sum(v or 0 for v in nums)
        return money(total) if isinstance(total, float) else total
    if func == "min":
        return min(nums) if nums else False
    if func == "max":
        return max(nums) if nums else False
    if func == "avg":
        return sum(nums) / len(nums) if nums else False
    if func == "count":
        return len(nums)
    if func == "count_distinct":
        return len(set(nums))
    if func == "bool_and":
        return all(nums)
    return any(nums)


def _order_groups(rows, orderby, active):
    directions = [False] * len(active)
    if orderby:
        names = [s[0] for s in active] + [s[1] for s in active]
        for part in str(orderby).split(","):
            words = part.split()
            if words and words[0] in names and len(words) > 1:
                pos = names.index(words[0]) % len(active)
                directions[pos] = words[1].lower() == "desc"
    for pos in reversed(range(len(active))):
        rows.sort(
            key=lambda r: (r[0][pos] is None, r[0][pos] or 0 if r[0][pos] is None else r[0][pos]),
            reverse=directions[pos],
        )
    return [row for _key, row in rows]


# -- Odoo 19 ----------------------------------------------------------------------------------------
_HAVING_OPERATORS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _formatted_aggregates(models, model, aggregates):
    """[(spec, field name or None for __count, function)] of ``aggregates`` ('field:func', '__count')."""
    out = []
    for spec in aggregates or ():
        if spec == "__count":
            out.append((spec, None, "count"))
            continue
        fname, _, func = str(spec).partition(":")
        fld = models[model].fields.get(fname)
        if fld is None:
            raise ValueError(f"Invalid field {fname!r} on model {model!r}")
        if not func or func not in AGGREGATES + ("array_agg",):
            raise ValueError(f"Invalid aggregate specification {spec!r}")
        if not fld.store:
            raise ValueError(f"Cannot aggregate field {fname!r} of model {model!r}: not stored.")
        out.append((spec, fname, func))
    return out


def _having_ok(having, row) -> bool:
    for term in having or ():
        if term in ("&", "AND"):
            continue
        if not isinstance(term, (list, tuple)) or len(term) != 3 or term[1] not in _HAVING_OPERATORS:
            raise ValueError(f"Invalid having clause {having!r}: only ANDed (aggregate, operator, value) leaves")
        spec, op, value = term
        if spec not in row:
            raise ValueError(f"Invalid having clause {having!r}: {spec!r} is not one of the aggregates")
        if not _HAVING_OPERATORS[op](row[spec], value):
            return False
    return True


def formatted_read_group(
    env, model, domain=None, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
):
    """Odoo 19's ``formatted_read_group``: one dict per group with the groupby values (many2one as
    [id, name], dates as [start, label]), the requested aggregates under their own spec
    ('amount_total:sum', '__count') and ``__extra_domain``, the group's own domain."""
    sim = env.sim
    groupby = [groupby] if isinstance(groupby, str) else list(groupby or [])
    active = _groupby_specs(sim.specs, model, groupby)
    aggs = _formatted_aggregates(sim.specs, model, aggregates)
    records = sim.store[model].records
    groups, ranks = _group_records(env, model, domain, active)
    rows = []
    for key, members in groups.items():
        row, extra, sort_key = {}, [], {}
        for pos, ((spec, name, gran, fld), raw) in enumerate(zip(active, key, strict=True)):
            if fld.type == "many2one":
                value = [raw, sim.display_getter(fld.relation)(raw)] if raw is not None else False
                sort_key[spec] = ranks[pos][raw] if value else None
                extra.append([(name, "=", raw if raw is not None else False)])
            elif gran:
                value = [raw[0], raw[2]] if raw else False
                sort_key[spec] = raw[0] if raw else None
                extra.append(["&", (name, ">=", raw[0]), (name, "<", raw[1])] if raw else [(name, "=", False)])
            else:
                value = False if raw is None else raw
                sort_key[spec] = raw
                extra.append([(name, "=", value)])
            row[spec] = value
        for spec, fname, func in aggs:
            if fname is None:
                row[spec] = len(members)
            elif func == "array_agg":
                row[spec] = [records[i].get(fname) for i in members]
            else:
                row[spec] = _aggregate(func, [records[i].get(fname) for i in members])
            sort_key[spec] = row[spec]
        row["__extra_domain"] = ["&"] * (len(extra) - 1) + [term for part in extra for term in part]
        if _having_ok(having, row):
            rows.append((sort_key, row))
    terms = []
    for part in str(order).split(",") if order else [spec for spec, *_ in active]:
        words = part.split()
        if not words:
            continue
        if words[0] not in {spec for spec, *_ in active} | {spec for spec, *_ in aggs}:
            raise ValueError(f"Order term {part!r} is not a groupby or an aggregate of the request")
        terms.append((words[0], len(words) > 1 and words[1].lower() == "desc"))
    for spec, descending in reversed(terms):  # empty values last, first when descending (PostgreSQL's NULLS)
        rows.sort(
            key=lambda r, spec=spec: (r[0][spec] is None, r[0][spec] if r[0][spec] is not None else 0),
            reverse=descending,
        )
    end = None if not limit else (offset or 0) + limit
    return [row for _key, row in rows[offset or 0 : end]]


METHODS = {"read_group": read_group}
METHODS_19 = {**METHODS, "formatted_read_group": formatted_read_group}


def methods(major: int) -> dict:
    """The grouping methods a server of that major version answers."""
    return METHODS_19 if major >= 19 else METHODS
