"""Values as Odoo's external API sends them, and the records set aside (DESIGN §4, §6.7).

Many2one values arrive as ``[id, display_name]``, empty values as ``False``, dates as
``YYYY-MM-DD`` and datetimes as naive UTC strings. Shared by every extract's domain rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

# Rules a record can break; the rejects table stores these names.
RULE_NO_PRODUCT = "linha_sem_produto"
RULE_NEGATIVE_QTY = "quantidade_negativa"
RULE_UNKNOWN_COMPANY = "empresa_desconhecida"
RULE_BAD_DATE = "data_invalida"
RULE_BAD_NUMBER = "valor_invalido"
# a human number (num_pedido) repeated across empreendimentos where a table has no empreendimento
RULE_AMBIGUOUS_NUMBER = "numero_ambiguo"
RULE_UNKNOWN_PRODUCT = "produto_desconhecido"  # product_id names a product Odoo does not return
RULE_NO_DOCUMENT = "documento_ausente"  # a line whose invoice/order is not among those read
RULE_BAD_RELATION = "relacao_invalida"  # a many2one that is not [id, display_name] nor False
RULE_MISSING_REVERSED = "nota_revertida_ausente"  # a credit note reversing an invoice Odoo does not have
RULE_TEXT_TOO_LONG = "texto_longo_demais"  # longer than its column: truncating would store another value
RULE_OUT_OF_RANGE = "valor_fora_do_limite"  # more integer digits than its numeric column holds
RULE_TOO_PRECISE = "casas_decimais_excedidas"  # a quantity with more decimals than its column


@dataclass(frozen=True)
class Reject:
    model: str
    odoo_id: int
    rule: str
    message: str
    payload: Mapping[str, object]
    partition_day: date | None = None
    parent_id: int | None = None  # e.g. the account.move of a rejected line


def _is_id(value: object) -> bool:
    return type(value) is int and value > 0  # not a bool (a subclass of int)


def _pair_id(value: list | tuple) -> int | None:
    """The id of ``[id, display_name]``; None for a sequence of another shape."""
    if len(value) == 2 and type(value[0]) is int and value[0] > 0 and (type(value[1]) is str or value[1] is False):
        return value[0]
    return None


def is_m2o(value: object) -> bool:
    """Odoo many2one as read sends it: ``[id, display_name]``, a bare id, or ``False``/None (empty)."""
    if value is False or value is None or _is_id(value):
        return True
    return type(value) in (list, tuple) and _pair_id(value) is not None  # type: ignore[arg-type]


def json_safe(value: object) -> object:
    """``value`` with what JSON cannot hold (NaN, Infinity) as text, for a reject's payload."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def line_payload(line: Mapping[str, object], parent_name: str, parent: Mapping[str, object] | None, keys) -> object:
    """A reject's payload: the line as read and the ``keys`` of its document (None when it has
    none). Built only for a line set aside: for every line it cost a quarter of an extract's time."""
    document = {k: parent.get(k) for k in keys} if parent is not None else None
    return json_safe({"line": dict(line), parent_name: document})


def m2o_id(value: object) -> int | None:
    """Odoo many2one: ``[id, display_name]`` or ``False``; None also for a value of another shape
    (the domain rules set such records aside, ``is_m2o``). Called for every field of every line read:
    exact types, no isinstance."""
    kind = type(value)
    if kind is list or kind is tuple:
        return _pair_id(value)  # type: ignore[arg-type]
    return value if kind is int and value > 0 else None  # type: ignore[return-value]


def m2o_name(value: object) -> str | None:
    if isinstance(value, (list, tuple)) and len(value) > 1 and value[1]:
        return str(value[1])
    return None


def text_or_none(value: object) -> str | None:
    return None if value is False or value is None or value == "" else str(value)


def parse_day(value: object) -> date:
    """An Odoo date (``YYYY-MM-DD``); raises ValueError for anything else."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    raise ValueError(f"not a date: {value!r}")


def parse_datetime(value: object) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def decimal(value: object, places: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InvalidOperation(f"not a number: {value!r}")
    exact = Decimal(str(value))
    if not exact.is_finite():  # NaN compares as an error, Infinity cannot be stored
        raise InvalidOperation(f"not a finite number: {value!r}")
    return exact.quantize(Decimal(places))


@dataclass(frozen=True)
class ColumnLimit:
    """What a column holds: ``length`` characters (text), or ``precision`` digits of which ``scale``
    after the point (numeric)."""

    length: int | None = None
    precision: int | None = None
    scale: int | None = None


def column_limits(table) -> dict[str, ColumnLimit]:
    """The limit of every bounded text and numeric column of a SQLAlchemy ``Table`` (read from its
    column types, so the schema stays the one home of the widths; no database access)."""
    limits = {}
    for col in table.columns:
        length = getattr(col.type, "length", None)
        precision, scale = getattr(col.type, "precision", None), getattr(col.type, "scale", None)
        if isinstance(length, int):
            limits[col.name] = ColumnLimit(length=length)
        elif isinstance(precision, int) and isinstance(scale, int):
            limits[col.name] = ColumnLimit(precision=precision, scale=scale)
    return limits


class BadValue(ValueError):
    """A value a column cannot hold as it is: ``rule`` is the rule it breaks."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


# Odoo's floats carry binary noise (0.1 + 0.2 = 0.30000000000000004): digits past this are noise.
FLOAT_NOISE = Decimal("1e-9")


def number(value: object, field: str, places: str, limit: ColumnLimit | None = None, *, exact: bool = False) -> Decimal:
    """``value`` of ``field`` as a Decimal of ``places`` (the column's scale where ``limit`` gives
    one); BadValue when it is no finite number, has more integer digits than the column, or — with
    ``exact`` (quantities, which decisions sum and compare) — more decimals than the column."""
    try:
        exact_value = Decimal(str(value)) if not isinstance(value, bool) and value is not None else None
    except InvalidOperation:
        exact_value = None
    if exact_value is None or not exact_value.is_finite():
        raise BadValue(RULE_BAD_NUMBER, f"{field} {value!r} is not a number")
    step = Decimal(1).scaleb(-limit.scale) if limit and limit.scale is not None else Decimal(places)
    integer_digits = limit.precision - limit.scale if limit and limit.precision is not None else None
    if integer_digits is not None and abs(exact_value) >= Decimal(10) ** integer_digits:
        raise BadValue(
            RULE_OUT_OF_RANGE, f"{field} {value!r} does not fit its column ({integer_digits} integer digits)"
        )
    try:
        rounded = exact_value.quantize(step)
    except InvalidOperation:  # more digits than Decimal's context holds
        raise BadValue(RULE_OUT_OF_RANGE, f"{field} {value!r} is too large") from None
    if exact and exact_value.quantize(FLOAT_NOISE) != rounded:
        raise BadValue(
            RULE_TOO_PRECISE,
            f"{field} {value!r} has more decimals than its column ({-step.as_tuple().exponent}): rounding would "
            "change the quantity",
        )
    return rounded


def text_over_width(row: Mapping[str, object], limits: Mapping[str, ColumnLimit]) -> str | None:
    """Why a text of ``row`` does not fit its column (the first one), or None."""
    for name, limit in limits.items():  # the bounded columns only (every staged line passes here)
        if limit.length is not None and isinstance(value := row.get(name), str) and len(value) > limit.length:
            break
    else:
        return None
    for name, value in row.items():
        limit = limits.get(name)
        if isinstance(value, str) and limit and limit.length is not None and len(value) > limit.length:
            return f"{name} has {len(value)} characters, its column holds {limit.length}: {value[:40]!r}..."
    return None


def cod_produto(product: Mapping[str, object] | None, product_id: int) -> str:
    """``default_code``, or ``ODOO-<id>`` for products without one (DESIGN §4)."""
    code = text_or_none(product.get("default_code")) if product else None
    return code.strip() if code else f"ODOO-{product_id}"
