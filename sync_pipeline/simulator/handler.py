"""HTTP transport of the simulator: the threading server, routing and fault injection.

Routes each path to its protocol (:mod:`.codecs` decodes the request, :class:`.server.SimulatorServer`
answers it) and breaks RPC exchanges as a proxy or a network does (see :mod:`.faults`): connection
reset, nginx 502/503/504 pages, a maintenance page, a cut or truncated body, delays. Control
endpoints (not Odoo): ``GET /sim/stats``, ``POST /sim/faults``, ``POST /sim/reset-stats``.

Every RPC answer carries ``X-Simulator-Seconds``: the server's own time on that call (decoding,
the model method, encoding; not the injected latency). ``GET /sim/stats`` adds them up per model
and method under ``server_time`` (see :mod:`.callstats`); in process, ``SimulatorServer.timings``.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from . import codecs
from .codecs import Call, Reply
from .faults import ANSWER_FAULT_KINDS, rewrite_answer

if TYPE_CHECKING:
    from .server import SimulatorServer

PROXY_ERRORS = {
    "429": HTTPStatus.TOO_MANY_REQUESTS,
    "502": HTTPStatus.BAD_GATEWAY,
    "503": HTTPStatus.SERVICE_UNAVAILABLE,
    "504": HTTPStatus.GATEWAY_TIMEOUT,
}

GARBAGE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>\n"
    b"<body><h1>We'll be back soon</h1><p>The service is under maintenance.</p></body></html>\n"
)


class ThreadingServer(ThreadingHTTPServer):
    """One thread per connection; remembers the connections so that stopping can close them."""

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


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: without TCP_NODELAY the body waits ~40 ms for
    # the delayed ACK of the headers, ~6x what a real Odoo takes for a trivial call.
    disable_nagle_algorithm = True
    server_version = "Werkzeug/3.0.1"
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: ThreadingServer

    def log_message(self, format, *args):
        pass

    # -- plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply, *, body: bytes | None = None, cut: bool = False) -> None:
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
        self._send(Reply(status, content_type, body))

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
            self._send_plain(200, "application/json", codecs.json_bytes(app.stats()))
        elif path in ("/web/version", "/json/version"):
            self._send_plain(200, "application/json", codecs.json_bytes(app.version_info()))
        elif app.json2 and re.fullmatch(r"/json/2/[^/]+/[^/]+", path):
            not_allowed = codecs.HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "The method is not allowed.")
            self._send(codecs.json2_error(not_allowed))
        else:
            self._not_found()

    def do_POST(self):
        app = self.server.app
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        self._started = time.perf_counter()
        if path.startswith("/sim/"):
            self._control(path, body)
            return
        if path in ("/xmlrpc/2/common", "/xmlrpc/2/object", "/xmlrpc/2/db"):
            service = path.rsplit("/", 1)[1]
            call, parsed = codecs.parse_xmlrpc(service, body)
            self._serve_rpc(call, lambda: app.answer_xmlrpc(service, parsed))
        elif path == "/jsonrpc":
            call, request = codecs.parse_jsonrpc(body)
            self._serve_rpc(call, lambda: app.answer_jsonrpc(request))
        elif app.json2 and (match := re.fullmatch(r"/json/2/([^/]+)/([^/]+)", path)):
            model, method = match.groups()
            call = Call("json2", model, method)
            self._serve_rpc(call, lambda: app.answer_json2(model, method, self.headers, body))
        elif path in ("/web/webclient/version_info", "/web/version"):
            self._serve_rpc(Call("jsonrpc", None, "version_info"), lambda: app.answer_webclient_version(body))
        else:
            self._not_found()

    def _serve_rpc(self, call: Call, answer) -> None:
        app = self.server.app
        faults = app.faults
        decision = faults.decide(call.model, call.method)
        kind = decision.kind
        if kind == "reset":
            self._abort_connection(reset=True)
            return
        if kind in ("429", "502", "503"):  # the proxy answered; the call never reached Odoo
            self._proxy_error(kind)
            return
        if kind == "garbage":
            self._send(Reply(200, "text/html; charset=utf-8", GARBAGE_PAGE))
            return
        reply = answer()
        own = time.perf_counter() - self._started
        app.count_call(call, reply.rows)
        app.timings.add(call.protocol, call.model, call.method, own)
        reply.headers["X-Simulator-Seconds"] = f"{own:.6f}"
        extra = decision.extra_delay + (faults.timeout_delay if kind == "timeout" else 0.0)
        faults.sleep_for(reply.rows, extra)
        if kind == "504":  # the gateway gave up while Odoo went on and committed
            self._proxy_error(kind)
        elif kind == "drop":
            self._send(reply, cut=True)
        elif kind == "truncate":
            self._send(reply, body=reply.body[: len(reply.body) // 2])
        elif kind in ANSWER_FAULT_KINDS:
            self._send(rewrite_answer(decision, call.protocol, reply))
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
        retry_after = self.server.app.faults.retry_after
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after and kind in ("429", "503") else {}
        self._send(Reply(int(status), "text/html", body, headers=headers))

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
            self._send_plain(400, "application/json", codecs.json_bytes({"error": str(exc)}))
            return
        self._send_plain(200, "application/json", codecs.json_bytes(result))
