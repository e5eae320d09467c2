"""The three external API protocols of a real Odoo 17-19 as bytes: requests decoded, answers encoded.

- XML-RPC at ``/xmlrpc/2/common``, ``/xmlrpc/2/db`` and ``/xmlrpc/2/object`` (int fault codes as
  Odoo's ``xmlrpc_handle_exception_int``; marshalled with ``allow_none=False``, so a method
  returning None answers the "cannot marshal None" fault after its change was committed).
- JSON-RPC at ``/jsonrpc`` (errors as ``{"code": 200, "message": "Odoo Server Error",
  "data": {name, debug, message, arguments, context}}``; a None result leaves ``result`` out).
- JSON-2 at ``/json/2/<model>/<method>`` (Odoo 19: bearer API key, named arguments, HTTP status
  per exception and the ``{name, message, arguments, context, debug}`` error body).

Pure functions over bodies, headers and exceptions, no sockets: :mod:`.server` passes in the
dispatcher that answers a decoded call, :mod:`.handler` puts the resulting :class:`Reply` on the wire.
"""

from __future__ import annotations

import json
import re
import traceback
import xmlrpc.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from http import HTTPStatus
from typing import Any

from . import errors

# Odoo's XML-RPC fault codes (odoo/addons/base/controllers/rpc.py).
FAULT_APPLICATION_ERROR = 1
FAULT_WARNING = 2
FAULT_ACCESS_DENIED = 3
FAULT_ACCESS_ERROR = 4

# Odoo 19 ``http_status`` of each exception class (odoo/exceptions.py).
_HTTP_STATUS = (
    (errors.AccessError, HTTPStatus.FORBIDDEN),
    (errors.AccessDenied, HTTPStatus.FORBIDDEN),
    (errors.MissingError, HTTPStatus.NOT_FOUND),
    (errors.UserError, HTTPStatus.UNPROCESSABLE_ENTITY),
)

# ``@api.model`` methods: JSON-2 refuses them with ids (422), every other method gets ``ids``
# (empty by default) as its first positional argument.
MODEL_METHODS = frozenset(
    {
        "create",
        "default_get",
        "fields_get",
        "formatted_read_group",
        "get_views",
        "name_create",
        "name_search",
        "read_group",
        "search",
        "search_count",
        "search_fetch",
        "search_read",
        "web_read_group",
        "web_search_read",
    }
)

_BEARER = re.compile(r"^bearer\s+(.+)$", re.IGNORECASE)


@dataclass
class Reply:
    """An answer ready for the wire; ``rows`` is what the stats count as rows returned."""

    status: int
    content_type: str
    body: bytes
    rows: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """A parsed RPC request: what the fault queue matches on and what the stats count."""

    protocol: str
    model: str | None = None
    method: str | None = None


class HttpError(Exception):
    """A werkzeug-style HTTP exception raised inside the JSON-2 endpoint."""

    def __init__(self, status: HTTPStatus, description: str, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}
        self.odoo_name = "werkzeug.exceptions." + _WERKZEUG_NAMES[status]


_WERKZEUG_NAMES = {
    HTTPStatus.BAD_REQUEST: "BadRequest",
    HTTPStatus.UNAUTHORIZED: "Unauthorized",
    HTTPStatus.NOT_FOUND: "NotFound",
    HTTPStatus.METHOD_NOT_ALLOWED: "MethodNotAllowed",
    HTTPStatus.UNPROCESSABLE_ENTITY: "UnprocessableEntity",
}


# -- exceptions as Odoo reports them -------------------------------------------------------


def _exception_name(exc: BaseException) -> str:
    name = getattr(exc, "odoo_name", None)
    if name:
        return name
    cls = type(exc)
    return f"{cls.__module__}.{cls.__name__}"


def _exception_message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc)


def _format_traceback(exc: BaseException) -> str:
    """The traceback, its last line naming the exception as Odoo's would be named."""
    lines = traceback.format_exception(exc)
    name = _exception_name(exc).removeprefix("builtins.")
    lines[-1] = f"{name}: {_exception_message(exc)}\n"
    return "".join(lines)


def _serialize_exception(exc: BaseException, *, message=None, arguments=None) -> dict:
    """Odoo's ``http.serialize_exception``."""
    return {
        "name": _exception_name(exc),
        "message": _exception_message(exc) if message is None else message,
        "arguments": list(exc.args if arguments is None else arguments),
        "context": getattr(exc, "context", {}) or {},
        "debug": _format_traceback(exc),
    }


# -- value encodings -----------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_bytes(value) -> bytes:
    """``value`` as Odoo's JSON (dates as strings, sets and tuples as lists), UTF-8."""
    return json.dumps(value, default=_json_default, ensure_ascii=False).encode()


class _OdooMarshaller(xmlrpc.client.Marshaller):
    """Dates as strings, as Odoo's ``OdooMarshaller`` (``allow_none`` stays off)."""

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def _dump_datetime(self, value, write):
        self.dump_unicode(value.strftime("%Y-%m-%d %H:%M:%S"), write)

    def _dump_date(self, value, write):
        self.dump_unicode(value.isoformat(), write)

    dispatch[datetime] = _dump_datetime
    dispatch[date] = _dump_date


def _xmlrpc_dumps(params) -> bytes:
    body = _OdooMarshaller("utf-8", allow_none=False).dumps(params)
    return f'<?xml version="1.0"?>\n<methodResponse>\n{body}</methodResponse>\n'.encode()


def _row_count(result) -> int:
    return len(result) if isinstance(result, list) else 0


# -- XML-RPC -------------------------------------------------------------------------------


def parse_xmlrpc(service: str, body: bytes) -> tuple[Call, Any]:
    """The call and ``(method, params)``, or the exception an unreadable body raised."""
    call = Call("xmlrpc", method=None)
    try:
        params, method = xmlrpc.client.loads(body, use_datetime=True)
    except Exception as exc:  # answered as a fault, like Odoo
        return call, exc
    call.method = method
    if service == "object" and method in ("execute_kw", "execute") and len(params) > 4:
        call.model, call.method = params[3], params[4]
    return call, (method, params)


def answer_xmlrpc(parsed, dispatch: Callable[[str, list], Any]) -> Reply:
    """``dispatch(method, params)`` marshalled as a method response, or its exception as a fault."""
    rows = 0
    try:
        if isinstance(parsed, Exception):
            raise parsed
        method, params = parsed
        result = dispatch(method, params)
        rows = _row_count(result)
        body = _xmlrpc_dumps((result,))
    except Exception as exc:
        body = _xmlrpc_dumps(_xmlrpc_fault(exc))
    return Reply(200, "text/xml; charset=utf-8", body, rows)


def _xmlrpc_fault(exc: Exception) -> xmlrpc.client.Fault:
    """Odoo's ``xmlrpc_handle_exception_int``."""
    if isinstance(exc, errors.AccessError):
        return xmlrpc.client.Fault(FAULT_ACCESS_ERROR, _exception_message(exc))
    if isinstance(exc, errors.AccessDenied):
        return xmlrpc.client.Fault(FAULT_ACCESS_DENIED, _exception_message(exc))
    if isinstance(exc, errors.UserError):
        return xmlrpc.client.Fault(FAULT_WARNING, _exception_message(exc))
    return xmlrpc.client.Fault(FAULT_APPLICATION_ERROR, _format_traceback(exc))


# -- JSON-RPC ------------------------------------------------------------------------------


def parse_jsonrpc(body: bytes) -> tuple[Call, Any]:
    """The call and the request object, or the exception an unreadable body raised."""
    call = Call("jsonrpc")
    try:
        request = json.loads(body)
        params = request.get("params", {})
    except (ValueError, AttributeError) as exc:
        return call, exc
    if isinstance(params, dict):
        call.method = params.get("method")
        args = params.get("args") or []
        if params.get("service") == "object" and isinstance(args, list) and len(args) > 4:
            call.model, call.method = args[3], args[4]
    return call, request


def answer_jsonrpc(request, dispatch: Callable[[str, str, list], Any]) -> Reply:
    """``dispatch(service, method, args)`` as a JSON-RPC response, or its exception as Odoo's error."""
    if isinstance(request, ValueError):
        return Reply(400, "text/html; charset=utf-8", b"Invalid JSON data")
    if isinstance(request, AttributeError):
        return Reply(400, "text/html; charset=utf-8", b"Invalid JSON-RPC data")
    response: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
    rows = 0
    try:
        params = dict(request.get("params") or {})
        result = dispatch(params["service"], params["method"], params.get("args", []))
        rows = _row_count(result)
        if result is not None:  # Odoo leaves "result" out for None
            response["result"] = result
        body = json_bytes(response)
    except Exception as exc:
        response.pop("result", None)
        response["error"] = {
            "code": 200,
            "message": "Odoo Server Error",
            "data": _serialize_exception(exc),
        }
        body = json_bytes(response)
    return Reply(200, "application/json; charset=utf-8", body, rows)


def answer_webclient_version(body: bytes, version_info: dict[str, Any]) -> Reply:
    """``/web/webclient/version_info``: the version as a JSON-RPC result, whatever the params."""
    try:
        request_id = json.loads(body or b"{}").get("id")
    except (ValueError, AttributeError):
        request_id = None
    response = {"jsonrpc": "2.0", "id": request_id, "result": version_info}
    return Reply(200, "application/json", json_bytes(response))


# -- JSON-2 --------------------------------------------------------------------------------


def unauthorized(description: str) -> HttpError:
    return HttpError(HTTPStatus.UNAUTHORIZED, description, {"WWW-Authenticate": "Bearer"})


def bearer_token(headers: Mapping[str, str]) -> str:
    """The API key of the ``Authorization: bearer <key>`` header (401 without one)."""
    match = _BEARER.match(headers.get("Authorization") or "")
    if not match:
        raise unauthorized('User not authenticated, use the "Authorization" header')
    return match.group(1).strip()


def json2_params(body: bytes) -> tuple[list, dict, dict[str, Any]]:
    """``(ids, context, named arguments)`` of a JSON-2 body (400 when it is not JSON)."""
    params: dict[str, Any] = {}
    if body:
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"could not parse the body as json: {exc.args[0]}") from None
        if isinstance(decoded, dict):
            params = decoded
    ids = params.pop("ids", None) or []
    ids = [ids] if isinstance(ids, int) else list(ids)
    context = params.pop("context", None) or {}
    return ids, context, params


def json2_arguments(model: str, method: str, ids: list, params: dict[str, Any], context: dict) -> tuple[list, dict]:
    """``(args, kwargs)`` of the model method a JSON-2 call names (422 for ids on a model method)."""
    if method in MODEL_METHODS and ids:
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"cannot call {model}.{method} with ids")
    kwargs = dict(params)
    if context:
        kwargs["context"] = context
    if method == "create":
        # create(vals_list) answers the new ids as a list, as Odoo 19 returns ``records.ids``
        vals_list = kwargs.pop("vals_list", [])
        args = [vals_list if isinstance(vals_list, list) else [vals_list]]
    elif method in MODEL_METHODS:
        args = []
    else:
        args = [ids]
    return args, kwargs


def answer_json2(call: Callable[[], Any]) -> Reply:
    """``web_json_2_rpc``: the result of ``call()`` as JSON, or its exception as Odoo 19's error."""
    try:
        result = call()
        body = json_bytes(result)
        return Reply(200, "application/json; charset=utf-8", body, _row_count(result))
    except Exception as exc:
        return json2_error(exc)


def json2_error(exc: Exception) -> Reply:
    """The HTTP status and ``serialize_exception`` body Odoo 19 answers ``exc`` with."""
    if isinstance(exc, HttpError):
        status, extra = exc.status, exc.headers
        payload = _serialize_exception(exc, message=exc.description, arguments=(exc.description, int(exc.status)))
    else:
        extra = {}
        status = HTTPStatus.INTERNAL_SERVER_ERROR
        for cls, code in _HTTP_STATUS:
            if isinstance(exc, cls):
                status = code
                break
        payload = _serialize_exception(exc)
    return Reply(int(status), "application/json; charset=utf-8", json_bytes(payload), 0, extra)
