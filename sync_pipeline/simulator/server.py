"""HTTP front of the Odoo simulator: the three external API protocols of a real Odoo 17-19.

- XML-RPC at ``/xmlrpc/2/common`` and ``/xmlrpc/2/object`` (int fault codes as Odoo's
  ``xmlrpc_handle_exception_int``; marshalled with ``allow_none=False``, so a method returning
  None answers the "cannot marshal None" fault after its change was committed).
- JSON-RPC at ``/jsonrpc`` (errors as ``{"code": 200, "message": "Odoo Server Error",
  "data": {name, debug, message, arguments, context}}``; a None result leaves ``result`` out).
- JSON-2 at ``/json/2/<model>/<method>`` (Odoo 19: bearer API key, named arguments, HTTP status
  per exception and the ``{name, message, arguments, context, debug}`` error body).

Control endpoints (not Odoo): ``GET /sim/stats``, ``POST /sim/faults``, ``POST /sim/reset-stats``.
Faults (see :mod:`.faults`) apply to the RPC endpoints only.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import time
import traceback
import xmlrpc.client
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import errors
from .faults import FaultConfig

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

PROXY_ERRORS = {
    "502": HTTPStatus.BAD_GATEWAY,
    "503": HTTPStatus.SERVICE_UNAVAILABLE,
    "504": HTTPStatus.GATEWAY_TIMEOUT,
}

GARBAGE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>\n"
    b"<body><h1>We'll be back soon</h1><p>The service is under maintenance.</p></body></html>\n"
)

_BEARER = re.compile(r"^bearer\s+(.+)$", re.IGNORECASE)


class _HttpError(Exception):
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


class _DatabaseMissing(Exception):
    """Raised like psycopg2's OperationalError when a call names a database that does not exist."""

    odoo_name = "psycopg2.OperationalError"


@dataclass
class _Reply:
    status: int
    content_type: str
    body: bytes
    rows: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    """A parsed RPC request: what the fault queue matches on and what the stats count."""

    protocol: str
    model: str | None = None
    method: str | None = None


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


def _json_default(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_bytes(value) -> bytes:
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


class SimulatorServer:
    """Serve an ``OdooSimulator`` over HTTP in a background thread.

    ``json2=False`` answers 404 on ``/json/2/...``, as an Odoo older than 19 does.
    """

    def __init__(
        self,
        sim,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        *,
        json2: bool = True,
    ):
        self.sim = sim
        self.faults = faults if faults is not None else FaultConfig()
        self.json2 = json2
        self._host = host
        self._requested_port = port
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._calls: Counter[tuple[str, str, str]] = Counter()
        self._rows = 0
        self._credentials_ok: set[tuple[int, str]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        httpd = _ThreadingServer((self._host, self._requested_port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"odoo-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()  # wakes handler threads waiting on idle keep-alive sockets
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # -- stats -----------------------------------------------------------------------------

    def _count(self, call: _Call, rows: int) -> None:
        with self._stats_lock:
            self._calls[(call.protocol, call.model or "", call.method or "")] += 1
            self._rows += rows

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            calls: dict[str, dict[str, dict[str, int]]] = {}
            for (protocol, model, method), n in sorted(self._calls.items()):
                calls.setdefault(protocol, {}).setdefault(model, {})[method] = n
            by_protocol: Counter[str] = Counter()
            for (protocol, _, _), n in self._calls.items():
                by_protocol[protocol] += n
            result = {
                "calls_total": sum(self._calls.values()),
                "calls_by_protocol": dict(by_protocol),
                "calls": calls,
                "rows_returned": self._rows,
            }
        result["faults"] = self.faults.stats()
        result["fault_settings"] = self.faults.settings()
        return result

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._calls.clear()
            self._rows = 0
        self.faults.reset_stats()

    # -- Odoo services ---------------------------------------------------------------------

    def version_info(self) -> dict[str, Any]:
        parts = [int(p) for p in re.findall(r"\d+", str(self.sim.version))[:2]] + [0, 0]
        serie = str(self.sim.version)
        return {
            "server_version": serie,
            "server_version_info": [parts[0], parts[1], 0, "final", 0, ""],
            "server_serie": serie,
            "protocol_version": 1,
        }

    def _check_db(self, db) -> None:
        if db != self.sim.db_name:
            raise _DatabaseMissing(f'connection failed: FATAL:  database "{db}" does not exist')

    def _check_credentials(self, db, uid, password) -> int:
        """``security.check``: the password or an API key of ``uid``, on every object call."""
        self._check_db(db)
        uid = int(uid)
        if (uid, password) in self._credentials_ok:
            return uid
        ok = False
        if isinstance(password, str) and password:
            if self.sim.uid_for_api_key(password) == uid:
                ok = True
            else:
                for user in self.sim.rows("res.users"):
                    if user.get("id") == uid and user.get("login"):
                        ok = self.sim.authenticate(db, user["login"], password) == uid
                        break
        if not ok:
            raise errors.AccessDenied()
        self._credentials_ok.add((uid, password))
        return uid

    def _authenticate(self, db, login, password) -> int | bool:
        self._check_db(db)
        try:
            return self.sim.authenticate(db, login, password) or False
        except errors.AccessDenied:
            return False

    def dispatch_common(self, method: str, params: list):
        if method == "version":
            return self.version_info()
        if method == "login":
            db, login, password = params[:3]
            return self._authenticate(db, login, password)
        if method == "authenticate":
            db, login, password, _user_agent_env = params[:4]
            return self._authenticate(db, login, password)
        if method == "about":
            return "See http://openerp.com"
        raise Exception(f"Method not found: {method}")

    def dispatch_db(self, method: str, params: list):
        if method == "list":
            return [self.sim.db_name]
        if method == "db_exist":
            return params[0] == self.sim.db_name
        if method == "server_version":
            return str(self.sim.version)
        raise KeyError(method)

    def dispatch_object(self, method: str, params: list):
        db, uid, password = params[0], params[1], params[2]
        uid = self._check_credentials(db, uid, password)
        if method == "execute_kw":
            model, name, args = params[3], params[4], params[5]
            kwargs = params[6] if len(params) > 6 else None
            return self.execute(uid, model, name, list(args), kwargs or {})
        if method == "execute":
            return self.execute(uid, params[3], params[4], list(params[5:]), {})
        raise NameError(f"Method not available {method}")

    def dispatch(self, service: str, method: str, params: list):
        """``odoo.http.dispatch_rpc``."""
        handlers = {
            "common": self.dispatch_common,
            "db": self.dispatch_db,
            "object": self.dispatch_object,
        }
        return handlers[service](method, list(params))

    def execute(self, uid: int, model: str, method: str, args: list, kwargs: dict):
        """``odoo.service.model.execute``: method-name check, model lookup, call."""
        if method.startswith("_"):
            raise errors.AccessError(f"Private methods (such as {method}) cannot be called remotely.")
        try:
            return self.sim.execute_kw(uid, model, method, args, kwargs)
        except errors.UnknownModel:
            raise errors.UserError(f"Object {model} doesn't exist") from None

    # -- protocol adapters -----------------------------------------------------------------

    def parse_xmlrpc(self, service: str, body: bytes) -> tuple[_Call, Any]:
        call = _Call("xmlrpc", method=None)
        try:
            params, method = xmlrpc.client.loads(body, use_datetime=True)
        except Exception as exc:  # answered as a fault, like Odoo
            return call, exc
        call.method = method
        if service == "object" and method in ("execute_kw", "execute") and len(params) > 4:
            call.model, call.method = params[3], params[4]
        return call, (method, params)

    def answer_xmlrpc(self, service: str, parsed) -> _Reply:
        rows = 0
        try:
            if isinstance(parsed, Exception):
                raise parsed
            method, params = parsed
            result = self.dispatch(service, method, params)
            rows = _row_count(result)
            body = _xmlrpc_dumps((result,))
        except Exception as exc:
            body = _xmlrpc_dumps(self._xmlrpc_fault(exc))
        return _Reply(200, "text/xml; charset=utf-8", body, rows)

    @staticmethod
    def _xmlrpc_fault(exc: Exception) -> xmlrpc.client.Fault:
        """Odoo's ``xmlrpc_handle_exception_int``."""
        if isinstance(exc, errors.AccessError):
            return xmlrpc.client.Fault(FAULT_ACCESS_ERROR, _exception_message(exc))
        if isinstance(exc, errors.AccessDenied):
            return xmlrpc.client.Fault(FAULT_ACCESS_DENIED, _exception_message(exc))
        if isinstance(exc, errors.UserError):
            return xmlrpc.client.Fault(FAULT_WARNING, _exception_message(exc))
        return xmlrpc.client.Fault(FAULT_APPLICATION_ERROR, _format_traceback(exc))

    def parse_jsonrpc(self, body: bytes) -> tuple[_Call, Any]:
        call = _Call("jsonrpc")
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

    def answer_jsonrpc(self, request) -> _Reply:
        if isinstance(request, ValueError):
            return _Reply(400, "text/html; charset=utf-8", b"Invalid JSON data")
        if isinstance(request, AttributeError):
            return _Reply(400, "text/html; charset=utf-8", b"Invalid JSON-RPC data")
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        rows = 0
        try:
            params = dict(request.get("params") or {})
            result = self.dispatch(params["service"], params["method"], params.get("args", []))
            rows = _row_count(result)
            if result is not None:  # Odoo leaves "result" out for None
                response["result"] = result
            body = _json_bytes(response)
        except Exception as exc:
            response.pop("result", None)
            response["error"] = {
                "code": 200,
                "message": "Odoo Server Error",
                "data": _serialize_exception(exc),
            }
            body = _json_bytes(response)
        return _Reply(200, "application/json; charset=utf-8", body, rows)

    def answer_webclient_version(self, body: bytes) -> _Reply:
        try:
            request_id = json.loads(body or b"{}").get("id")
        except (ValueError, AttributeError):
            request_id = None
        response = {"jsonrpc": "2.0", "id": request_id, "result": self.version_info()}
        return _Reply(200, "application/json", _json_bytes(response))

    def answer_json2(self, model: str, method: str, headers, body: bytes) -> _Reply:
        """``web_json_2_rpc`` behind ``auth='bearer'`` and the JSON-2 dispatcher."""
        try:
            result = self._json2_call(model, method, headers, body)
            body = _json_bytes(result)
            return _Reply(200, "application/json; charset=utf-8", body, _row_count(result))
        except _HttpError as exc:
            status, extra = exc.status, exc.headers
            payload = _serialize_exception(exc, message=exc.description, arguments=(exc.description, int(exc.status)))
        except Exception as exc:
            extra = {}
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            for cls, code in _HTTP_STATUS:
                if isinstance(exc, cls):
                    status = code
                    break
            payload = _serialize_exception(exc)
        return _Reply(int(status), "application/json; charset=utf-8", _json_bytes(payload), 0, extra)

    def _json2_call(self, model: str, method: str, headers, body: bytes):
        www_authenticate = {"WWW-Authenticate": "Bearer"}
        match = _BEARER.match(headers.get("Authorization") or "")
        if not match:
            raise _HttpError(
                HTTPStatus.UNAUTHORIZED,
                'User not authenticated, use the "Authorization" header',
                www_authenticate,
            )
        uid = self.sim.uid_for_api_key(match.group(1).strip())
        if not uid:
            raise _HttpError(HTTPStatus.UNAUTHORIZED, "Invalid apikey", www_authenticate)
        database = headers.get("X-Odoo-Database")
        if database is not None and database != self.sim.db_name:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"database {database!r} not found")
        params: dict[str, Any] = {}
        if body:
            try:
                decoded = json.loads(body)
            except ValueError as exc:
                raise _HttpError(HTTPStatus.BAD_REQUEST, f"could not parse the body as json: {exc.args[0]}") from None
            if isinstance(decoded, dict):
                params = decoded
        ids = params.pop("ids", None) or []
        ids = [ids] if isinstance(ids, int) else list(ids)
        context = params.pop("context", None) or {}
        field_of = getattr(self.sim, "field", None)
        if field_of is not None and field_of(model, "id") is None:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"the model {model!r} does not exist")
        if method.startswith("_"):
            raise errors.AccessError(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        if method in MODEL_METHODS and ids:
            raise _HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"cannot call {model}.{method} with ids")
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
        try:
            return self.sim.execute_kw(uid, model, method, args, kwargs)
        except errors.UnknownModel:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"the model {model!r} does not exist") from None
        except errors.UnknownMethod:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"The method '{model}.{method}' does not exist") from None
        except TypeError as exc:  # the arguments do not bind to the method's signature
            raise _HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a handler sleeping in an injected timeout
    allow_reuse_address = True
    app: SimulatorServer

    def __init__(self, *args, **kwargs):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # a client that hung up mid-request is routine here (timeouts, injected faults)
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so their handler threads end."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: without TCP_NODELAY the body waits ~40 ms for
    # the delayed ACK of the headers, ~6x what a real Odoo takes for a trivial call.
    disable_nagle_algorithm = True
    server_version = "Werkzeug/3.0.1"
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: _ThreadingServer

    def log_message(self, format, *args):
        pass

    # -- plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply, *, body: bytes | None = None, cut: bool = False) -> None:
        payload = reply.body if body is None else body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            if cut:
                self.wfile.write(payload[: max(1, len(payload) // 2)])
                self._abort_connection(reset=False)
            else:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _abort_connection(self, *, reset: bool) -> None:
        self.close_connection = True
        conn = self.connection
        try:
            if reset:  # RST instead of FIN: the client sees "connection reset by peer"
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        except OSError:
            pass

    def _send_plain(self, status: int, content_type: str, body: bytes) -> None:
        self._send(_Reply(status, content_type, body))

    def _not_found(self) -> None:
        body = (
            b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
            b"<p>The requested URL was not found on the server. If you entered the URL manually "
            b"please check your spelling and try again.</p>\n"
        )
        self._send_plain(404, "text/html; charset=utf-8", body)

    # -- routing ---------------------------------------------------------------------------

    def do_GET(self):
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path == "/sim/stats":
            self._send_plain(200, "application/json", _json_bytes(app.stats()))
        elif path in ("/web/version", "/json/version"):
            self._send_plain(200, "application/json", _json_bytes(app.version_info()))
        elif app.json2 and re.fullmatch(r"/json/2/[^/]+/[^/]+", path):
            exc = _HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "The method is not allowed.")
            payload = _serialize_exception(exc, arguments=(exc.description, 405))
            self._send_plain(405, "application/json; charset=utf-8", _json_bytes(payload))
        else:
            self._not_found()

    def do_POST(self):
        app = self.server.app
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        if path.startswith("/sim/"):
            self._control(path, body)
            return
        if path in ("/xmlrpc/2/common", "/xmlrpc/2/object", "/xmlrpc/2/db"):
            service = path.rsplit("/", 1)[1]
            call, parsed = app.parse_xmlrpc(service, body)
            self._serve_rpc(call, lambda: app.answer_xmlrpc(service, parsed))
        elif path == "/jsonrpc":
            call, request = app.parse_jsonrpc(body)
            self._serve_rpc(call, lambda: app.answer_jsonrpc(request))
        elif app.json2 and (match := re.fullmatch(r"/json/2/([^/]+)/([^/]+)", path)):
            model, method = match.groups()
            call = _Call("json2", model, method)
            self._serve_rpc(call, lambda: app.answer_json2(model, method, self.headers, body))
        elif path in ("/web/webclient/version_info", "/web/version"):
            self._serve_rpc(_Call("jsonrpc", None, "version_info"), lambda: app.answer_webclient_version(body))
        else:
            self._not_found()

    def _serve_rpc(self, call: _Call, answer) -> None:
        app = self.server.app
        faults = app.faults
        decision = faults.decide(call.model, call.method)
        kind = decision.kind
        if kind == "reset":
            self._abort_connection(reset=True)
            return
        if kind in ("502", "503"):  # the proxy answered; the call never reached Odoo
            self._proxy_error(kind)
            return
        if kind == "garbage":
            self._send(_Reply(200, "text/html; charset=utf-8", GARBAGE_PAGE))
            return
        reply = answer()
        app._count(call, reply.rows)
        delay = faults.response_delay(reply.rows) + decision.extra_delay
        if kind == "timeout":
            delay += faults.timeout_delay
        if delay > 0:
            time.sleep(delay)
        if kind == "504":  # the gateway gave up while Odoo went on and committed
            self._proxy_error(kind)
        elif kind == "drop":
            self._send(reply, cut=True)
        elif kind == "truncate":
            self._send(reply, body=reply.body[: len(reply.body) // 2])
        else:
            self._send(reply)

    def _proxy_error(self, kind: str) -> None:
        status = PROXY_ERRORS[kind]
        title = f"{int(status)} {status.phrase}"
        body = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        ).encode()
        self._send(_Reply(int(status), "text/html", body))

    def _control(self, path: str, body: bytes) -> None:
        app = self.server.app
        try:
            if path == "/sim/faults":
                settings = json.loads(body or b"{}")
                if not isinstance(settings, dict):
                    raise ValueError("expected a JSON object of fault settings")
                if settings.pop("clear", False):
                    app.faults.clear()
                for injection in settings.pop("inject", []) or []:
                    app.faults.inject(**injection)
                app.faults.update(**settings)
                result = app.faults.settings()
            elif path == "/sim/reset-stats":
                app.reset_stats()
                result = True
            elif path == "/sim/stats":
                result = app.stats()
            else:
                self._not_found()
                return
        except (ValueError, TypeError) as exc:
            self._send_plain(400, "application/json", _json_bytes({"error": str(exc)}))
            return
        self._send_plain(200, "application/json", _json_bytes(result))
