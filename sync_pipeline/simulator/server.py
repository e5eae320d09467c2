"""The simulated Odoo's server: an ``OdooSimulator`` behind Odoo's external API, over HTTP.

:class:`SimulatorServer` runs the HTTP server (:mod:`.handler`) in a background thread, answers
Odoo's services (``common``, ``db``, ``object`` and the JSON-2 dispatcher: database and credential
checks, then the model method) and counts the calls. The protocols' bytes are :mod:`.codecs`'s.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from http import HTTPStatus
from typing import Any

from . import codecs, errors
from .callstats import CallTimes
from .codecs import Call, HttpError, Reply
from .faults import FaultConfig
from .handler import RequestHandler, ThreadingServer


class _DatabaseMissing(Exception):
    """Raised like psycopg2's OperationalError when a call names a database that does not exist."""

    odoo_name = "psycopg2.OperationalError"


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
        self._httpd: ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._calls: Counter[tuple[str, str, str]] = Counter()
        self._rows = 0
        self.timings = CallTimes()  # the server's own seconds per model/method (see handler.py)
        self._credentials_ok: set[tuple[int, str]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        httpd = ThreadingServer((self._host, self._requested_port), RequestHandler)
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

    def count_call(self, call: Call, rows: int) -> None:
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
        result["server_time"] = self.timings.snapshot()
        result["faults"] = self.faults.stats()
        result["fault_settings"] = self.faults.settings()
        return result

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._calls.clear()
            self._rows = 0
        self.timings.reset()
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

    def answer_xmlrpc(self, service: str, parsed) -> Reply:
        return codecs.answer_xmlrpc(parsed, functools.partial(self.dispatch, service))

    def answer_jsonrpc(self, request) -> Reply:
        return codecs.answer_jsonrpc(request, self.dispatch)

    def answer_webclient_version(self, body: bytes) -> Reply:
        return codecs.answer_webclient_version(body, self.version_info())

    def answer_json2(self, model: str, method: str, headers, body: bytes) -> Reply:
        """``web_json_2_rpc`` behind ``auth='bearer'`` and the JSON-2 dispatcher."""
        return codecs.answer_json2(functools.partial(self._json2_call, model, method, headers, body))

    def _json2_call(self, model: str, method: str, headers, body: bytes):
        uid = self.sim.uid_for_api_key(codecs.bearer_token(headers))
        if not uid:
            raise codecs.unauthorized("Invalid apikey")
        database = headers.get("X-Odoo-Database")
        if database is not None and database != self.sim.db_name:
            raise HttpError(HTTPStatus.NOT_FOUND, f"database {database!r} not found")
        ids, context, params = codecs.json2_params(body)
        field_of = getattr(self.sim, "field", None)
        if field_of is not None and field_of(model, "id") is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"the model {model!r} does not exist")
        if method.startswith("_"):
            raise errors.AccessError(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        args, kwargs = codecs.json2_arguments(model, method, ids, params, context)
        try:
            return self.sim.execute_kw(uid, model, method, args, kwargs)
        except errors.UnknownModel:
            raise HttpError(HTTPStatus.NOT_FOUND, f"the model {model!r} does not exist") from None
        except errors.UnknownMethod:
            raise HttpError(HTTPStatus.NOT_FOUND, f"The method '{model}.{method}' does not exist") from None
        except TypeError as exc:  # the arguments do not bind to the method's signature
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
