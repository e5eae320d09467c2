"""The HTTP layer under the Odoo client: one class per external API protocol of a real Odoo.

- ``xmlrpc``: ``/xmlrpc/2/common`` (authenticate) and ``/xmlrpc/2/object`` (execute_kw); faults
  carry Odoo's integer codes (1 application error, 2 UserError/warning, 3 AccessDenied, 4 AccessError).
- ``jsonrpc``: ``/jsonrpc`` with a JSON-RPC 2.0 ``call`` envelope; errors carry ``data.name``.
- ``json2`` (Odoo 19): ``/json/2/<model>/<method>`` with a bearer API key and named arguments only;
  errors by HTTP status with a JSON body ``{"name", "message", ...}``.

Every transport can also ask the server's version (``version``) before any authentication, through
the web client's own ``/web/webclient/version_info`` route: a JSON-RPC ``call`` answered by
``common.version()`` on Odoo 16 to 19 alike, outside the ``/xmlrpc`` and ``/jsonrpc`` endpoints that
Odoo 19 logs as deprecated on every call.

A transport makes exactly one HTTP request per call and turns every failure into an ``OdooError``
naming the call; retrying is the client's business. Each thread gets its own ``requests.Session``.
"""

from __future__ import annotations

import email.utils
import http.client
import itertools
import json
import math
import threading
import time
import xml.parsers.expat
import xmlrpc.client
from typing import Any, ClassVar

import orjson
import requests
import urllib3

from sync_pipeline.odoo.errors import (
    OdooAccessError,
    OdooAuthError,
    OdooError,
    OdooProtocolError,
    OdooServerError,
    OdooTransientError,
)

PROTOCOLS = ("xmlrpc", "jsonrpc", "json2")
VERSION_CALL = "common.version"
VERSION_PATH = "/web/webclient/version_info"
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# Answered without doing anything (a rate limit, a proxy or Odoo in maintenance): safe to repeat.
REFUSED_STATUSES = frozenset({429, 503})
USER_AGENT = "sync_pipeline-odoo-client"
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}

# Errors that mean the answer was lost on the way (or never came): worth another attempt.
_DROPPED = (
    requests.exceptions.ConnectionError,  # refused, reset, SSL closed, remote disconnected
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,  # dropped mid-body (IncompleteRead)
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    ConnectionError,
    TimeoutError,
)

# What xmlrpc.client raises on a body that is not a complete methodResponse (HTML, cut short).
_UNREADABLE_XML = (
    xml.parsers.expat.ExpatError,
    xmlrpc.client.ResponseError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
)

# Positional arguments of the ORM methods, by name, for JSON-2 (which takes named arguments only).
# A method not listed is a record method: its one positional argument is ``ids``.
JSON2_POSITIONAL = {
    "search_read": ("domain", "fields", "offset", "limit", "order"),
    "search": ("domain", "offset", "limit", "order"),
    "search_count": ("domain", "limit"),
    "read": ("ids", "fields", "load"),
    "write": ("ids", "vals"),
    "create": ("vals_list",),
    "unlink": ("ids",),
    "copy": ("ids", "default"),
    "fields_get": ("allfields", "attributes"),
    "read_group": ("domain", "fields", "groupby", "offset", "limit", "orderby", "lazy"),
    "formatted_read_group": (
        "domain",
        "groupby",
        "aggregates",
        "having",
        "offset",
        "limit",
        "order",
    ),
    "name_search": ("name", "domain", "operator", "limit"),
    "default_get": ("fields_list",),
    "check_access_rights": ("operation", "raise_exception"),
}


def loads(content: bytes) -> Any:
    """A JSON answer decoded: orjson (a page of 1,000 invoice lines in a quarter of the stdlib's time,
    and the pages of an extract decode in the client's one interpreter), falling back to the stdlib
    for what orjson refuses and Python's JSON reads: NaN, Infinity, integers past 64 bits. A body
    neither reads is a ValueError (``json.JSONDecodeError``)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (RFC 9110: delay-seconds or an HTTP-date) in seconds from now;
    None when absent or unreadable, 0 for a date already past."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)  # delay-seconds (an integer by the RFC; a fraction read as meant)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is not one
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _never_sent(exc: BaseException) -> bool:
    """True when the request certainly did not reach the server (refused, connect timeout)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        err = pending.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(
            err,
            (
                requests.exceptions.ConnectTimeout,
                urllib3.exceptions.NewConnectionError,
                ConnectionRefusedError,
            ),
        ):
            return True
        pending.extend(e for e in (err.__cause__, err.__context__, getattr(err, "reason", None)) if e is not None)
        pending.extend(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))
    return False


class OdooTransport:
    """One protocol's requests and answers. ``execute_kw`` returns the decoded result or raises."""

    protocol: ClassVar[str]
    needs_uid: ClassVar[bool] = True
    auth_call: ClassVar[str] = "common.authenticate"

    def __init__(
        self,
        url: str,
        db: str,
        username: str,
        api_key: str,
        timeout_seconds: float = 60.0,
    ):
        self.url = url.rstrip("/")
        self.db = db
        self.username = username
        self._api_key = api_key
        self.timeout_seconds = float(timeout_seconds)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, db={self.db!r}, username={self.username!r})"

    # -- what the client calls -------------------------------------------------------------------
    def authenticate(self) -> Any:
        """The raw answer to authentication: a uid, or False when the credentials are refused."""
        raise NotImplementedError

    def execute_kw(self, uid: int | None, model: str, method: str, args: list, kwargs: dict) -> Any:
        raise NotImplementedError

    def version(self) -> Any:
        """The raw answer of ``common.version()`` (``server_version``, ``server_version_info``...);
        needs no database nor credentials, whatever the protocol."""
        return self._jsonrpc(VERSION_CALL, VERSION_PATH, {})

    def close(self) -> None:
        """Close every thread's session (their pooled connections)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    # -- HTTP ------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _post(self, call: str, path: str, *, body: bytes, headers: dict[str, str]) -> requests.Response:
        """One POST; transport failures and 429/502/503/504 become OdooTransientError (with the
        server's Retry-After, if any)."""
        timeout = (min(10.0, self.timeout_seconds), self.timeout_seconds)
        try:
            response = self._session().post(self.url + path, data=body, headers=headers, timeout=timeout)
        except _DROPPED as exc:
            raise OdooTransientError(
                call,
                self.protocol,
                self._scrub(f"{type(exc).__name__}: {exc}"),
                request_sent=not _never_sent(exc),
            ) from None
        except requests.exceptions.RequestException as exc:  # e.g. undecodable gzip: a broken answer
            raise OdooProtocolError(call, self.protocol, self._scrub(f"{type(exc).__name__}: {exc}")) from None
        if response.status_code in TRANSIENT_STATUSES:
            raise OdooTransientError(
                call,
                self.protocol,
                f"HTTP {response.status_code} {response.reason or ''}".strip(),
                request_sent=response.status_code not in REFUSED_STATUSES,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        return response

    def _scrub(self, text: str) -> str:
        """Never let the API key into a message, whatever the server echoed."""
        if self._api_key and len(self._api_key) >= 3:
            text = text.replace(self._api_key, "***")
        return text

    def _excerpt(self, response: requests.Response) -> str:
        text = response.content[:160].decode("utf-8", "replace")
        return self._scrub(repr(text)) + ("..." if len(response.content) > 160 else "")

    def _not_protocol(self, call: str, response: requests.Response, what: str) -> OdooProtocolError:
        return OdooProtocolError(
            call,
            self.protocol,
            f"{what}; HTTP {response.status_code}, "
            f"{response.headers.get('Content-Type', 'no content type')}, "
            f"{len(response.content)} bytes: {self._excerpt(response)}",
            status=response.status_code,
        )

    def _json_body(self, call: str, response: requests.Response) -> Any:
        try:
            return loads(response.content)
        except ValueError:
            raise self._not_protocol(
                call, response, self._not_utf8(response) or "answer is not valid JSON (not the protocol, or cut short)"
            ) from None

    @staticmethod
    def _not_utf8(response: requests.Response) -> str | None:
        """Why the answer cannot be read if its bytes are not UTF-8 (JSON-RPC, JSON-2 and Odoo's XML-RPC
        all send UTF-8), else None."""
        try:
            response.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"answer is not valid UTF-8 (byte {exc.start}: {exc.object[exc.start : exc.start + 4]!r})"
        return None

    def _jsonrpc(self, call: str, path: str, params: dict) -> Any:
        """One JSON-RPC 2.0 ``call`` to ``path``: the result, or the error as an ``OdooError``."""
        request_id = next(self._ids)
        envelope = {"jsonrpc": "2.0", "method": "call", "params": params, "id": request_id}
        response = self._post(call, path, body=json.dumps(envelope).encode("utf-8"), headers=_JSON_HEADERS)
        answer = self._json_body(call, response)
        if not isinstance(answer, dict):
            raise self._not_protocol(call, response, "JSON-RPC answer is not an object")
        if isinstance(answer.get("error"), dict):
            error = answer["error"]
            data = error.get("data") if isinstance(error.get("data"), dict) else {}
            if error.get("code") == 100:  # Odoo's "Session Expired"
                name = "odoo.exceptions.AccessDenied"
            else:
                name = str(data.get("name") or "")
            message = str(data.get("message") or error.get("message") or "")
            raise self._classify(call, name, message, str(data.get("debug") or ""))
        if response.status_code != 200:
            raise self._not_protocol(call, response, "not a JSON-RPC answer")
        if answer.get("jsonrpc") != "2.0" or answer.get("id") != request_id:
            raise self._not_protocol(
                call,
                response,
                f"not the JSON-RPC 2.0 answer to request {request_id}",
            )
        # Odoo leaves "result" out when the method returned None; the client checks the shape.
        return answer.get("result")

    def _classify(self, call: str, name: str, message: str, debug: str, status: int | None = None) -> OdooError:
        """An Odoo exception (by dotted name, else HTTP status) as the client's error class."""
        message = self._scrub(message or name or "unknown error")
        short = name.rsplit(".", 1)[-1]
        if short in ("AccessDenied", "Unauthorized") or status == 401:
            return OdooAuthError(call, self.protocol, message)
        if short == "AccessError" or status == 403:
            return OdooAccessError(call, self.protocol, message)
        return OdooServerError(call, self.protocol, message, odoo_name=name, debug=self._scrub(debug or ""))


class VersionProbe(OdooTransport):
    """What ``protocol="auto"`` talks through until the server's version has chosen a protocol: it
    only asks that version (``version``), so its errors read ``common.version via auto``."""

    protocol = "auto"


class XmlRpcTransport(OdooTransport):
    protocol = "xmlrpc"

    _HEADERS: ClassVar[dict[str, str]] = {"Content-Type": "text/xml; charset=utf-8"}

    def authenticate(self) -> Any:
        return self._call(
            self.auth_call,
            "/xmlrpc/2/common",
            "authenticate",
            (self.db, self.username, self._api_key, {}),
        )

    def execute_kw(self, uid: int | None, model: str, method: str, args: list, kwargs: dict) -> Any:
        params = (self.db, uid, self._api_key, model, method, list(args), dict(kwargs))
        return self._call(f"{model}.{method}", "/xmlrpc/2/object", "execute_kw", params)

    def _call(self, call: str, path: str, rpc_method: str, params: tuple) -> Any:
        body = xmlrpc.client.dumps(params, methodname=rpc_method, allow_none=True).encode("utf-8")
        response = self._post(call, path, body=body, headers=self._HEADERS)
        if response.status_code != 200:
            raise self._not_protocol(call, response, "not an XML-RPC answer")
        try:
            values, _ = xmlrpc.client.loads(response.content, use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            raise self._fault(call, fault) from None
        except _UNREADABLE_XML:
            raise self._not_protocol(
                call,
                response,
                self._not_utf8(response)
                or "answer is not a complete XML-RPC methodResponse (not the protocol, or cut short)",
            ) from None
        if len(values) != 1:
            raise self._not_protocol(call, response, f"XML-RPC answer has {len(values)} values instead of 1")
        return values[0]

    def _fault(self, call: str, fault: xmlrpc.client.Fault) -> OdooError:
        code, text = fault.faultCode, str(fault.faultString or "")
        if code == 3:
            return self._classify(call, "odoo.exceptions.AccessDenied", text, "")
        if code == 4:
            return self._classify(call, "odoo.exceptions.AccessError", text, "")
        if code == 2:
            return self._classify(call, "odoo.exceptions.UserError", text, "")
        # Application error: the fault string is the server traceback; its last line names the error.
        lines = [line for line in text.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"fault {code}"
        name, sep, message = last.partition(": ")
        if not sep or " " in name:
            name, message = "", last
        elif "." not in name:
            name = f"builtins.{name}"  # as JSON-RPC and JSON-2 name them
        return self._classify(call, name, message or last, text)


class JsonRpcTransport(OdooTransport):
    protocol = "jsonrpc"

    def authenticate(self) -> Any:
        return self._call(
            self.auth_call,
            "common",
            "authenticate",
            [self.db, self.username, self._api_key, {}],
        )

    def execute_kw(self, uid: int | None, model: str, method: str, args: list, kwargs: dict) -> Any:
        params = [self.db, uid, self._api_key, model, method, list(args), dict(kwargs)]
        return self._call(f"{model}.{method}", "object", "execute_kw", params)

    def _call(self, call: str, service: str, rpc_method: str, args: list) -> Any:
        return self._jsonrpc(call, "/jsonrpc", {"service": service, "method": rpc_method, "args": args})


class Json2Transport(OdooTransport):
    protocol = "json2"
    needs_uid = False
    auth_call = "res.users.search"

    def authenticate(self) -> Any:
        """JSON-2 authenticates every request by its bearer key; the uid is the key owner's, by login."""
        ids = self.execute_kw(None, "res.users", "search", [[["login", "=", self.username]]], {"limit": 1})
        if isinstance(ids, list) and len(ids) == 1:
            return ids[0]
        return False if ids == [] else ids

    def execute_kw(self, uid: int | None, model: str, method: str, args: list, kwargs: dict) -> Any:
        call = f"{model}.{method}"
        body = self.named_arguments(call, method, args, kwargs)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"bearer {self._api_key}",
            "X-Odoo-Database": self.db,
        }
        response = self._post(
            call,
            f"/json/2/{model}/{method}",
            body=json.dumps(body).encode("utf-8"),
            headers=headers,
        )
        if response.status_code == 200:
            return self._json_body(call, response)
        try:
            error = loads(response.content)
        except ValueError:
            error = None
        if isinstance(error, dict) and ("name" in error or "message" in error):
            raise self._classify(
                call,
                str(error.get("name") or ""),
                str(error.get("message") or ""),
                str(error.get("debug") or ""),
                status=response.status_code,
            )
        if response.status_code in (401, 403):
            raise self._classify(
                call,
                "",
                f"HTTP {response.status_code}",
                "",
                status=response.status_code,
            )
        raise self._not_protocol(call, response, "error answer is not a JSON-2 error object")

    @staticmethod
    def named_arguments(call: str, method: str, args: list, kwargs: dict) -> dict[str, Any]:
        """Positional ORM arguments under their JSON-2 names, merged with the named ones."""
        names = JSON2_POSITIONAL.get(method, ("ids",))
        if len(args) > len(names):
            raise TypeError(f"{call} via json2: {len(args)} positional arguments, JSON-2 names only {names}")
        body = dict(zip(names, args, strict=False))
        clash = body.keys() & kwargs.keys()
        if clash:
            raise TypeError(f"{call} via json2: arguments given twice: {sorted(clash)}")
        body.update(kwargs)
        return body


TRANSPORTS: dict[str, type[OdooTransport]] = {
    cls.protocol: cls for cls in (XmlRpcTransport, JsonRpcTransport, Json2Transport)
}


def make_transport(
    protocol: str,
    url: str,
    db: str,
    username: str,
    api_key: str,
    timeout_seconds: float = 60.0,
) -> OdooTransport:
    try:
        cls = TRANSPORTS[protocol]
    except KeyError:
        raise ValueError(f"Unknown Odoo protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}") from None
    return cls(url, db, username, api_key, timeout_seconds)
