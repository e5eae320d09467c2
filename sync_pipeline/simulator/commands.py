"""Odoo's x2many command tuples in create/write: (0, 0, vals) create, (1, id, vals) update,
(2, id) delete, (3, id) unlink, (4, id) link, (5,) unlink all, (6, 0, ids) replace; a plain list
of ids means (6, 0, ids)."""

from __future__ import annotations

from . import orm


def _normalize_commands(value) -> list[tuple]:
    if value is False or value is None:
        return [(5,)]
    commands = []
    if value and all(isinstance(v, int) for v in value):
        return [(6, 0, list(value))]
    for cmd in value:
        if isinstance(cmd, int):
            commands.append((4, cmd))
        else:
            commands.append(tuple(cmd))
    return commands


def apply(env, model, rec_id, fld, value) -> None:
    commands = _normalize_commands(value)
    if fld.type == "one2many":
        _apply_one2many(env, model, rec_id, fld, commands)
        return
    current = list(env.sim.store[model].records[rec_id].get(fld.name) or [])
    for cmd in commands:
        code = cmd[0]
        if code == 0:
            current.append(orm.create(env, fld.relation, dict(cmd[2])))
        elif code == 1:
            orm.write(env, fld.relation, [cmd[1]], cmd[2])
        elif code in (2, 3):
            if code == 2:
                orm.unlink(env, fld.relation, [cmd[1]])
            current = [i for i in current if i != cmd[1]]
        elif code == 4:
            orm.check_exist(env, fld.relation, [cmd[1]])
            if cmd[1] not in current:
                current.append(cmd[1])
        elif code == 5:
            current = []
        elif code == 6:
            ids = orm.as_ids(cmd[2])
            orm.check_exist(env, fld.relation, ids)
            current = list(dict.fromkeys(ids))
        else:
            raise ValueError(f"Invalid x2many command {cmd!r}")
    orm.write_raw(env, model, rec_id, {fld.name: current}, touch=False)


def _apply_one2many(env, model, rec_id, fld, commands) -> None:
    comodel, inverse = fld.relation, fld.inverse_name
    required = env.sim.specs[comodel].fields[inverse].required
    children = orm.getter(env.sim, model, fld.name)

    def detach(child_ids):
        if required:
            orm.unlink(env, comodel, child_ids)
        else:
            for child in child_ids:
                orm.write(env, comodel, [child], {inverse: False})

    for cmd in commands:
        code = cmd[0]
        if code == 0:
            vals = dict(cmd[2])
            vals[inverse] = rec_id
            keep = fld.extra.get("filter")
            if keep and keep[0] not in vals:
                vals[keep[0]] = keep[1][0]
            orm.create(env, comodel, vals)
        elif code == 1:
            orm.write(env, comodel, [cmd[1]], cmd[2])
        elif code == 2:
            orm.unlink(env, comodel, [cmd[1]])
        elif code == 3:
            detach([cmd[1]])
        elif code == 4:
            orm.write(env, comodel, [cmd[1]], {inverse: rec_id})
        elif code == 5:
            detach(children(rec_id))
        elif code == 6:
            ids = orm.as_ids(cmd[2])
            detach([i for i in children(rec_id) if i not in ids])
            for child in ids:
                orm.write(env, comodel, [child], {inverse: rec_id})
        else:
            raise ValueError(f"Invalid one2many command {cmd!r}")
    env.mark(model, [rec_id])
