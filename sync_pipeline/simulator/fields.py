"""Field definitions of the simulated models and the conversion of stored values to API values.

Stored ("raw") values: many2one as int id or None, many2many as a list of ids, one2many not stored
(derived from the inverse many2one), char/selection/text as str or None, date 'YYYY-MM-DD',
datetime 'YYYY-MM-DD HH:MM:SS' (naive UTC) or None, numbers as int/float, booleans as bool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RELATIONAL = ("many2one", "one2many", "many2many")
NUMERIC = ("integer", "float", "monetary")


@dataclass
class Field:
    name: str
    type: str
    string: str = ""
    relation: str | None = None  # comodel of relational fields
    inverse_name: str | None = None  # one2many: the comodel's many2one pointing back
    # many2many stored on the other side: (comodel field holding the ids)
    inverse_of: str | None = None
    selection: list[tuple[str, str]] | None = None
    store: bool = True
    related: str | None = None  # dotted path, e.g. "move_id.state"
    required: bool = False
    readonly: bool = False
    computed: bool = False  # maintained by the simulator's business rules
    default: object = None
    group_operator: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.string:
            self.string = self.name.replace("_id", "").replace("_", " ").strip().title()
        if self.type in NUMERIC and self.group_operator is None and self.name != "id":
            self.group_operator = "sum"
        if self.type == "one2many" or self.inverse_of:
            self.store = False if self.type == "one2many" else self.store
        if self.related and not self.readonly:
            self.readonly = True

    @property
    def is_x2many(self) -> bool:
        return self.type in ("one2many", "many2many")

    def empty(self):
        """The raw value a new record holds when no value is given."""
        if self.default is not None:
            return list(self.default) if isinstance(self.default, list) else self.default
        if self.type in ("integer",):
            return 0
        if self.type in ("float", "monetary"):
            return 0.0
        if self.type == "boolean":
            return False
        if self.type == "many2many":
            return []
        return None

    def describe(self) -> dict:
        """The ``fields_get`` description of the field."""
        desc = {
            "type": self.type,
            "string": self.string,
            "required": self.required,
            "readonly": self.readonly or self.computed,
            "store": self.store,
            "searchable": True,
            "sortable": self.store and self.type not in ("one2many", "many2many"),
            "groupable": self.store and self.type not in ("one2many", "text"),
            "name": self.name,
        }
        if self.relation:
            desc["relation"] = self.relation
        if self.inverse_name:
            desc["relation_field"] = self.inverse_name
        if self.selection is not None:
            desc["selection"] = [list(s) for s in self.selection]
        if self.related:
            desc["related"] = self.related
        if self.group_operator:
            desc["group_operator"] = self.group_operator
        return desc


def coerce(fld: Field, value):
    """Convert a value given to create/write into the raw stored form (x2many handled elsewhere)."""
    t = fld.type
    if t == "many2one":
        if value is False or value is None:
            return None
        if isinstance(value, (list, tuple)):  # [id, name] as read returns it
            value = value[0]
        return int(value)
    if t in ("char", "text", "selection", "html"):
        if value is False or value is None or value == "":
            return None
        return str(value)
    if t == "integer":
        return int(value or 0)
    if t in ("float", "monetary"):
        return float(value or 0.0)
    if t == "boolean":
        return bool(value)
    if t == "date":
        if not value:
            return None
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        if len(text) < 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(f"time data {value!r} does not match format '%Y-%m-%d'")
        return text[:10]
    if t == "datetime":
        if not value:
            return None
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        text = str(value).replace("T", " ")
        if len(text) == 10:
            text += " 00:00:00"
        if len(text) < 19:
            raise ValueError(f"time data {value!r} does not match format '%Y-%m-%d %H:%M:%S'")
        return text[:19]
    return value


def external(fld: Field, raw, display_name=None):
    """Convert a raw value to what the external API returns (``display_name(model, id)`` for m2o)."""
    t = fld.type
    if t == "many2one":
        if raw is None:
            return False
        return [raw, display_name(fld.relation, raw)] if display_name else raw
    if t in ("one2many", "many2many"):
        return list(raw or [])
    if raw is None:
        return False if t != "integer" else 0
    return raw
