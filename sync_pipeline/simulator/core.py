"""The simulated Odoo server's model layer: authentication, ``execute_kw`` dispatch and the clock.

The protocol layer (server.py) calls ``authenticate``/``uid_for_api_key``/``execute_kw``; the
methods themselves live in orm.py (generic ORM), readgroup.py and actions.py (business methods).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import actions, compute, orm, readgroup
from .errors import AccessDenied, AccessError, UnknownMethod, UnknownModel
from .fields import Field
from .models import major_version, renames_for, specs_for
from .store import Store

SUPERUSER_ID = 1
ADMIN_UID = 2
PORTAL_UID = 3


class SimClock:
    """Naive-UTC clock of the simulator. Follows real time until ``set``; ``advance`` moves it."""

    def __init__(self, start: datetime | None = None):
        self._fixed = start
        self._offset = timedelta()

    def now(self) -> datetime:
        if self._fixed is not None:
            return self._fixed
        real = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        return real + self._offset

    def set(self, dt: datetime) -> None:
        self._fixed = dt.replace(microsecond=0, tzinfo=None)

    def advance(self, seconds: float) -> None:
        if self._fixed is not None:
            self._fixed += timedelta(seconds=seconds)
        else:
            self._offset += timedelta(seconds=seconds)


@dataclass
class Env:
    """One call's environment: like Odoo's, ``now`` is fixed for the whole transaction."""

    sim: OdooSimulator
    uid: int
    context: dict
    now: str
    dirty: dict = field(default_factory=dict)  # model -> set of ids whose computed fields are stale
    touch_orders: set = field(default_factory=set)  # orders whose lines' invoiced quantity moved
    resync_moves: set = field(default_factory=set)  # invoices whose tax/payment term lines are stale

    def mark(self, model: str, ids) -> None:
        self.dirty.setdefault(model, set()).update(ids)


ORDER_SEQUENCES = ("shared", "per_company")


class OdooSimulator:
    """An Odoo 17 (or 19, with ``version="19.0"``) database held in memory, driven through ``execute_kw``.

    ``order_sequence``: "shared" numbers sale orders with one sequence for every company (Odoo's
    default: S00001, S00002... whatever the company); "per_company" gives each company its own
    sequence, so S00001 exists in every company, as a database configured that way does.
    """

    admin_uid = ADMIN_UID

    def __init__(
        self,
        db_name: str = "odoo",
        login: str = "admin",
        password: str = "admin",
        api_keys: tuple[str, ...] = ("admin",),
        version: str = "17.0",
        clock: SimClock | None = None,
        order_sequence: str = "shared",
    ):
        if order_sequence not in ORDER_SEQUENCES:
            raise ValueError(f"order_sequence must be one of {ORDER_SEQUENCES}, not {order_sequence!r}")
        self.db_name = db_name
        self.version = version
        self.major = major_version(version)
        self.order_sequence = order_sequence
        self.specs = specs_for(version)
        self.metas: dict = {}  # model -> orm._Meta of self.specs
        self._renames = renames_for(version)
        self.clock = clock or SimClock()
        self.store = Store(self.specs)
        # sequence key -> last number used: ("sale.order", company id or None), (journal id, prefix)
        self.sequences: dict[tuple, int] = {}
        self._lock = threading.RLock()
        self._passwords = {login: (ADMIN_UID, password), "portal": (PORTAL_UID, "portal")}
        self._api_keys = {"portal": PORTAL_UID}  # the portal user's key, to see AccessError on JSON-2
        self._api_keys.update({key: ADMIN_UID for key in api_keys})
        env = self.env(SUPERUSER_ID)
        users = self.store["res.users"]
        for uid, name, user_login in (
            (SUPERUSER_ID, "OdooBot", "__system__"),
            (ADMIN_UID, "Administrator", login),
            (PORTAL_UID, "Portal User", "portal"),
        ):
            users.insert(orm.default_raw(env, "res.users", {"id": uid, "name": name}))
            users.records[uid]["login"] = user_login
        users.records[SUPERUSER_ID]["active"] = False
        orm.create(env, "uom.uom", [{"name": "Units"}])
        orm.create(env, "res.company", [{"name": "My Company"}])
        compute.flush(env)
        for uid in users.records:
            users.records[uid]["company_id"] = 1

    # -- authentication -------------------------------------------------------------------------
    def authenticate(self, db: str, login: str, password_or_key: str) -> int | bool:
        if db != self.db_name or login not in self._passwords:
            return False
        uid, password = self._passwords[login]
        if password_or_key == password or self._api_keys.get(password_or_key) == uid:
            return uid
        return False

    def uid_for_api_key(self, key: str) -> int | None:
        return self._api_keys.get(key)

    # -- calls ----------------------------------------------------------------------------------
    def env(self, uid: int, context: dict | None = None) -> Env:
        return Env(self, uid, dict(context or {}), self.clock.now().strftime("%Y-%m-%d %H:%M:%S"))

    def execute_kw(self, uid, model, method, args=(), kwargs=None):
        with self._lock:
            if uid not in (SUPERUSER_ID, ADMIN_UID, PORTAL_UID):
                raise AccessDenied()
            spec = self.specs.get(model)
            if spec is None:
                raise UnknownModel(f"Object {model} doesn't exist")
            if method.startswith("_"):
                raise AccessError(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
            kwargs = dict(kwargs or {})
            env = self.env(uid, kwargs.pop("context", None))
            handler = orm.METHODS.get(method) or readgroup.methods(self.major).get(method)
            is_action = False
            if handler is None:
                handler = actions.ACTIONS.get((model, method))
                is_action = handler is not None
            if handler is None:
                raise UnknownMethod(f"The method '{model}.{method}' does not exist")
            self._check_access(env, spec, method)
            args = list(args or [])
            if is_action:
                ids = kwargs.pop("ids") if "ids" in kwargs else (args.pop(0) if args else [])
                ids = orm.as_ids(ids)
                orm.check_exist(env, model, ids)
                result = handler(env, ids, *args, **kwargs)
            else:
                result = handler(env, model, *args, **kwargs)
            compute.flush(env)
            return result

    def _check_access(self, env: Env, spec, method: str) -> None:
        if env.uid in (SUPERUSER_ID, ADMIN_UID):
            return
        writes = method in ("create", "write", "unlink") or (spec.name, method) in actions.ACTIONS
        if spec.admin_only or writes:
            operation = "create" if method == "create" else "write" if writes else "read"
            raise AccessError(
                f"You are not allowed to {operation} '{spec.description}' ({spec.name}) records."
                "\n\nThis operation is allowed for the following groups:\n\t- Accounting/Billing"
                "\n\nContact your administrator to request access if necessary."
            )

    # -- test oracles ---------------------------------------------------------------------------
    def rows(self, model: str) -> list[dict]:
        """Raw copies of the stored records of ``model`` (x2many as lists of ids), by id."""
        with self._lock:
            spec = self.specs[model]
            table = self.store[model]
            x2many = [f for f in spec.fields.values() if f.type == "one2many" or f.inverse_of]
            out = []
            for rec_id in sorted(table.records):
                row = dict(table.records[rec_id])
                for fld in x2many:
                    row[fld.name] = list(self.getter(model, fld.name)(rec_id))
                for key, value in row.items():
                    if isinstance(value, list):
                        row[key] = list(value)
                out.append(row)
            return out

    def next_number(self, key: tuple) -> int:
        """The next number of the sequence ``key`` (call under the lock, as execute_kw does)."""
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return self.sequences[key]

    def fname(self, model: str, name: str) -> str:
        """This version's name of the Odoo 17 field ``model.name`` (e.g. sale.order.line tax_id)."""
        return self._renames.get((model, name), name)

    # -- the accessor the domain evaluator and the ORM read through -----------------------------
    def field(self, model: str, name: str) -> Field | None:
        spec = self.specs.get(model)
        return spec.fields.get(name) if spec else None

    def getter(self, model: str, name: str):
        return orm.getter(self, model, name)

    def all_ids(self, model: str):
        return self.store[model].records.keys()

    def lookup(self, model: str, name: str, targets) -> set[int] | None:
        return self.store.lookup(model, name, targets)

    def display_getter(self, model: str):
        spec = self.specs[model]
        records = self.store[model].records
        display = spec.display
        return lambda rec_id: display(self, records[rec_id]) if rec_id in records else ""
