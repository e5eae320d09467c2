"""Fault injection for the Odoo simulator's HTTP server.

A :class:`FaultConfig` decides, once per RPC request, whether the answer is delayed, replaced by
a proxy error, cut short or never sent, so clients and benchmarks meet the failures of a real
deployment (a proxy in front of a busy Odoo) on demand. Random faults use a seeded RNG, so a
run with the same seed and the same sequence of calls injects the same faults.

:meth:`FaultConfig.real_odoo` is the latency of a real Odoo 17 measured here (DESIGN §4): about
8 ms per call and 0.4 ms of ORM work per row returned, that work done by one process (threaded
Odoo: the GIL lets one request compute at a time), so concurrent pages queue for it as they do on
a real server. ``sync-pipeline simulator --latency real`` serves with it.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
import xmlrpc.client
from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import codecs, errors

FAULT_KINDS = ("429", "502", "503", "504", "drop", "reset", "garbage", "truncate", "timeout")
# Faults that send a complete, well-framed answer whose content is wrong (:func:`rewrite_answer`).
ANSWER_FAULT_KINDS = ("duplicate", "skip", "corrupt", "jsonrpc_error", "xmlrpc_fault", "invalid_utf8", "auth_expired")
FAULT_KINDS = (*FAULT_KINDS, *ANSWER_FAULT_KINDS)

# Settable through FaultConfig.update() and POST /sim/faults.
SETTINGS = (
    "latency_per_call",
    "latency_per_row",
    "error_rate",
    "drop_rate",
    "slow_page_every",
    "slow_page_delay",
    "timeout_delay",
    "retry_after",
    "row_workers",
    "seed",
)

# DESIGN §4, a real Odoo 17 on this machine: a trivial call ~7-8 ms, a 55-row search_read ~29 ms.
REAL_ODOO_PER_CALL = 0.008
REAL_ODOO_PER_ROW = 0.0004
LATENCY_PRESETS = ("none", "real")


@dataclass
class _Injection:
    kind: str
    remaining: int
    model: str | None
    method: str | None
    changes: dict | None = None  # "corrupt": the fields to set on the answer's first record

    def matches(self, model: str | None, method: str | None) -> bool:
        return (self.model is None or self.model == model) and (self.method is None or self.method == method)


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one RPC request: ``kind`` is None for a normal answer."""

    kind: str | None
    extra_delay: float = 0.0
    changes: dict | None = None


class FaultConfig:
    """Thread-safe fault settings plus a one-shot queue of injected faults.

    - ``latency_per_call`` / ``latency_per_row``: seconds slept per call and per returned row.
    - ``error_rate``: fraction of calls answered 502 or 503 with an HTML body (like a proxy).
    - ``drop_rate``: fraction of calls whose response is cut after the headers and part of the body.
    - ``slow_page_every`` / ``slow_page_delay``: every Nth call sleeps ``slow_page_delay`` extra.
    - ``timeout_delay``: seconds an injected ``"timeout"`` waits before answering.
    - ``retry_after``: seconds sent as ``Retry-After`` with an injected 429 or 503 (0: no header),
      as a rate limiter or a proxy in maintenance does.
    - ``row_workers``: how many calls may spend their per-row delay at once (0: no limit); 1 models
      a single threaded Odoo process, whose ORM work does not overlap across requests.
    - :meth:`inject` queues one-shot faults of :data:`FAULT_KINDS`, optionally for one model/method.
    """

    def __init__(
        self,
        *,
        latency_per_call: float = 0.0,
        latency_per_row: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        slow_page_every: int = 0,
        slow_page_delay: float = 0.0,
        timeout_delay: float = 60.0,
        retry_after: float = 0.0,
        row_workers: int = 0,
        seed: int = 0,
    ):
        self._lock = threading.Lock()
        self._row_work = threading.Condition(threading.Lock())
        self._row_work_busy = 0
        self._queue: list[_Injection] = []
        self._injected: Counter[str] = Counter()
        self._calls = 0
        self.latency_per_call = 0.0
        self.latency_per_row = 0.0
        self.error_rate = 0.0
        self.drop_rate = 0.0
        self.slow_page_every = 0
        self.slow_page_delay = 0.0
        self.timeout_delay = 60.0
        self.retry_after = 0.0
        self.row_workers = 0
        self.seed = seed
        self._rng = random.Random(seed)
        self.update(
            latency_per_call=latency_per_call,
            latency_per_row=latency_per_row,
            error_rate=error_rate,
            drop_rate=drop_rate,
            slow_page_every=slow_page_every,
            slow_page_delay=slow_page_delay,
            timeout_delay=timeout_delay,
            retry_after=retry_after,
            row_workers=row_workers,
        )

    @classmethod
    def real_odoo(cls, **overrides: Any) -> FaultConfig:
        """The latency of a real Odoo 17 (DESIGN §4): 8 ms per call, 0.4 ms per row, one worker."""
        settings = dict(latency_per_call=REAL_ODOO_PER_CALL, latency_per_row=REAL_ODOO_PER_ROW, row_workers=1)
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> FaultConfig:
        """A config by the name of a latency preset (:data:`LATENCY_PRESETS`)."""
        if name == "real":
            return cls.real_odoo(**overrides)
        if name == "none":
            return cls(**overrides)
        raise ValueError(f"unknown latency preset {name!r}; expected one of {LATENCY_PRESETS}")

    def update(self, **settings: Any) -> None:
        """Set any of :data:`SETTINGS`; ``seed`` also restarts the RNG."""
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self._lock:
            for name, value in settings.items():
                if name in ("slow_page_every", "row_workers", "seed"):
                    value = int(value)
                else:
                    value = float(value)
                if value < 0:
                    raise ValueError(f"{name} must be >= 0, got {value}")
                if name in ("error_rate", "drop_rate") and value > 1:
                    raise ValueError(f"{name} is a fraction in [0, 1], got {value}")
                setattr(self, name, value)
                if name == "seed":
                    self._rng = random.Random(value)

    def inject(
        self,
        kind: str,
        count: int = 1,
        model: str | None = None,
        method: str | None = None,
        changes: dict | None = None,
    ) -> None:
        """Queue ``count`` one-shot faults of ``kind`` for the next matching calls (``changes``: the
        fields a ``"corrupt"`` fault sets on the first record of the answer)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        with self._lock:
            self._queue.append(_Injection(kind, int(count), model, method, dict(changes) if changes else None))

    def clear(self) -> None:
        """Drop queued faults and switch every random fault and delay off."""
        with self._lock:
            self._queue.clear()
        self.update(
            latency_per_call=0.0,
            latency_per_row=0.0,
            error_rate=0.0,
            drop_rate=0.0,
            slow_page_every=0,
            slow_page_delay=0.0,
            retry_after=0.0,
            row_workers=0,
        )

    def pending(self) -> int:
        with self._lock:
            return sum(injection.remaining for injection in self._queue)

    def decide(self, model: str | None, method: str | None) -> FaultDecision:
        """Consume the fault (if any) for one RPC call to ``model.method``."""
        with self._lock:
            self._calls += 1
            extra = 0.0
            if self.slow_page_every and self._calls % self.slow_page_every == 0:
                extra = self.slow_page_delay
                self._injected["slow_page"] += 1
            kind = None
            changes = None
            for injection in self._queue:
                if injection.matches(model, method):
                    kind = injection.kind
                    changes = injection.changes
                    injection.remaining -= 1
                    if not injection.remaining:
                        self._queue.remove(injection)
                    break
            if kind is None and self.error_rate and self._rng.random() < self.error_rate:
                kind = self._rng.choice(("502", "503"))
            if kind is None and self.drop_rate and self._rng.random() < self.drop_rate:
                kind = "drop"
            if kind is not None:
                self._injected[kind] += 1
            return FaultDecision(kind, extra, changes)

    def response_delay(self, rows: int) -> float:
        """Seconds to sleep before answering a call that returned ``rows`` rows."""
        return self.latency_per_call + rows * self.latency_per_row

    def sleep_for(self, rows: int, extra: float = 0.0) -> None:
        """Sleep what a call returning ``rows`` rows costs: the per-call delay (and ``extra``) freely,
        the per-row delay within ``row_workers`` concurrent calls."""
        free = self.latency_per_call + extra
        work = rows * self.latency_per_row
        workers = self.row_workers
        if not workers:
            free += work
            work = 0.0
        if free > 0:
            time.sleep(free)
        if work <= 0:
            return
        with self._row_work:
            while self._row_work_busy >= workers:
                self._row_work.wait()
            self._row_work_busy += 1
        try:
            time.sleep(work)
        finally:
            with self._row_work:
                self._row_work_busy -= 1
                self._row_work.notify()

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {name: getattr(self, name) for name in SETTINGS}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "injected": dict(self._injected),
                "pending": sum(injection.remaining for injection in self._queue),
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._injected.clear()
            self._calls = 0


# -- answers that arrive whole but are wrong ------------------------------------------------------
UNKNOWN_FAULT_CODE = 42  # no code Odoo's xmlrpc_handle_exception_int sends
INJECTED_SERVER_ERROR = "injected server error: the source answered an error object"


def rewrite_answer(decision: FaultDecision, protocol: str, reply: codecs.Reply) -> codecs.Reply:
    """The ``reply`` of a call as an ``ANSWER_FAULT_KINDS`` fault sends it: a complete answer with
    the right framing (status 200 unless the protocol says otherwise) and wrong content.

    - ``duplicate`` / ``skip`` / ``corrupt``: a list result with its first record repeated, left
      out, or with ``changes`` set on it;
    - ``jsonrpc_error``: the protocol's server-error answer (a JSON-RPC error object; an XML-RPC
      fault 1, a JSON-2 HTTP 500) in place of the result;
    - ``xmlrpc_fault``: a fault with a code Odoo never sends;
    - ``invalid_utf8``: bytes that are not UTF-8 inside the first string value;
    - ``auth_expired``: the answer of a server that no longer accepts the API key (AccessDenied).
    """
    kind = decision.kind

    def raising(exc: Exception):
        def dispatch(*_args):
            raise exc

        return dispatch

    def request_id():
        try:
            return json.loads(reply.body).get("id")
        except (ValueError, AttributeError):
            return None

    def error_answer(exc: Exception):
        if protocol == "xmlrpc":
            return codecs.answer_xmlrpc(exc, raising(exc))
        if protocol == "json2":
            return codecs.json2_error(exc)
        request = {"id": request_id(), "params": {"service": "object", "method": "execute_kw", "args": []}}
        return codecs.answer_jsonrpc(request, raising(exc))

    if kind == "auth_expired":
        exc = codecs.unauthorized("Invalid apikey") if protocol == "json2" else errors.AccessDenied()
        new = error_answer(exc)
    elif kind == "jsonrpc_error":
        new = error_answer(RuntimeError(INJECTED_SERVER_ERROR))
    elif kind == "xmlrpc_fault":
        fault = xmlrpc.client.Fault(UNKNOWN_FAULT_CODE, "injected fault with a code Odoo never sends")
        body = xmlrpc.client.dumps(fault, methodresponse=True).encode()
        new = codecs.Reply(200, "text/xml; charset=utf-8", body)
    elif kind == "invalid_utf8":
        marker = b"<string>" if protocol == "xmlrpc" else b'": "'
        at = reply.body.find(marker)
        at = len(reply.body) // 2 if at < 0 else at + len(marker)
        new = dataclasses.replace(reply, body=reply.body[:at] + b"\xff\xfe\xc3(" + reply.body[at:])
    else:
        new = dataclasses.replace(reply, body=_rewrite_records(kind, protocol, reply.body, decision.changes or {}))
    return dataclasses.replace(new, headers={**reply.headers, **new.headers})


def _rewrite_records(kind: str, protocol: str, body: bytes, changes: dict) -> bytes:
    if protocol == "xmlrpc":
        (result,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
    else:
        answer = json.loads(body)
        result = answer["result"] if protocol == "jsonrpc" else answer
    if not isinstance(result, list) or not result:
        return body  # nothing to rewrite: the answer goes out as it was
    if kind == "duplicate":
        result = [*result, dict(result[0])]
    elif kind == "skip":
        result = result[1:]
    elif kind == "corrupt":
        result = [{**result[0], **changes}, *result[1:]]
    if protocol == "xmlrpc":
        return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True).encode()
    if protocol == "jsonrpc":
        return codecs.json_bytes({**answer, "result": result})
    return codecs.json_bytes(result)
