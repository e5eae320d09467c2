"""Values as Odoo's external API sends them, and the records set aside (DESIGN §4, §6.7).

Many2one values arrive as ``[id, display_name]``, empty values as ``False``, dates as
``YYYY-MM-DD`` and datetimes as naive UTC strings. Shared by every extract's domain rules.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Reject:
    model: str
    odoo_id: int
    rule: str
    message: str
    payload: Mapping[str, object]
    partition_day: date | None = None
    parent_id: int | None = None  # e.g. the account.move of a rejected line


def m2o_id(value: object) -> int | None:
    """Odoo many2one: ``[id, display_name]`` or ``False``."""
    if isinstance(value, (list, tuple)) and value:
        return int(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


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
    return Decimal(str(value)).quantize(Decimal(places))


def cod_produto(product: Mapping[str, object] | None, product_id: int) -> str:
    """``default_code``, or ``ODOO-<id>`` for products without one (DESIGN §4)."""
    code = text_or_none(product.get("default_code")) if product else None
    return code.strip() if code else f"ODOO-{product_id}"
