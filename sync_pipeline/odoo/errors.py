"""Errors raised by the Odoo client, one class per way a call can fail.

Every message names the call as ``<model>.<method> via <protocol>`` and never contains the API key.
Only :class:`OdooTransientError` is worth retrying; the client raises it once its retries are spent.
"""

from __future__ import annotations


class OdooError(Exception):
    """Base class: a call to Odoo failed. ``call`` is ``model.method``, ``protocol`` the transport."""

    def __init__(self, call: str, protocol: str, detail: str):
        self.call = call
        self.protocol = protocol
        self.detail = detail
        super().__init__(f"{call} via {protocol}: {detail}")


class OdooTransientError(OdooError):
    """The server could not be reached or answered 429/502/503/504, or the connection dropped mid-answer.

    ``request_sent`` is False only when the request certainly never reached Odoo (connection
    refused, connect timeout, 429/503 from the server or its proxy), so even a non-idempotent call
    may be repeated safely. ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(
        self,
        call: str,
        protocol: str,
        detail: str,
        *,
        request_sent: bool = True,
        attempts: int = 1,
        retry_after: float | None = None,
    ):
        super().__init__(call, protocol, detail)
        self.request_sent = request_sent
        self.attempts = attempts
        self.retry_after = retry_after


class OdooAuthError(OdooError):
    """Authentication failed: wrong database, login or API key (Odoo's AccessDenied, HTTP 401)."""


class OdooAccessError(OdooError):
    """The user may not do this (Odoo's AccessError, HTTP 403)."""


class OdooServerError(OdooError):
    """Odoo refused or failed the call: UserError, ValidationError, MissingError, application errors.

    ``odoo_name`` is the dotted exception name Odoo reported (e.g. ``odoo.exceptions.ValidationError``)
    and ``debug`` the server traceback when it sent one.
    """

    def __init__(
        self,
        call: str,
        protocol: str,
        detail: str,
        *,
        odoo_name: str = "",
        debug: str = "",
    ):
        super().__init__(call, protocol, detail)
        self.odoo_name = odoo_name
        self.debug = debug


class OdooProtocolError(OdooError):
    """A complete HTTP answer that is not the protocol: HTML, truncated JSON/XML, a JSON-RPC envelope
    without result or error, or a result of the wrong shape for the method called."""

    def __init__(self, call: str, protocol: str, detail: str, *, status: int | None = None):
        super().__init__(call, protocol, detail)
        self.status = status


class OdooVersionError(OdooError):
    """The server's version is one the client does not speak (older than Odoo 16), or its answer to
    ``common.version`` could not be read. ``version`` is what the server said, as it said it."""

    def __init__(self, call: str, protocol: str, detail: str, *, version: str):
        super().__init__(call, protocol, detail)
        self.version = version


class OdooFieldError(OdooError):
    """A field the caller needs is not on the server's model under any of its names (``fields_get``)."""
