"""The simulator's own time per call, so a benchmark can tell the simulator's cost from its client's.

:class:`CallTimes` adds up, per protocol, model and method, the calls answered and the seconds the
server spent on them: decoding the request, the model method under the simulator's lock (waiting
for it included) and encoding the answer; never the injected latency (see :mod:`.faults`), which
stands for the real Odoo being modelled, nor the network.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any


class CallTimes:
    """Thread-safe totals of calls and server-side seconds by (protocol, model, method)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str, str], list] = defaultdict(lambda: [0, 0.0])

    def add(self, protocol: str, model: str | None, method: str | None, seconds: float) -> None:
        with self._lock:
            total = self._totals[(protocol, model or "", method or "")]
            total[0] += 1
            total[1] += seconds

    def seconds(self) -> float:
        """Server-side seconds of every call counted so far."""
        with self._lock:
            return sum(total[1] for total in self._totals.values())

    def snapshot(self) -> dict[str, Any]:
        """``{"seconds": total, "calls": n, "by_method": {model: {method: {"calls", "seconds"}}}}``
        (protocols summed; ``by_protocol`` gives the seconds of each)."""
        with self._lock:
            items = sorted(self._totals.items())
        by_method: dict[str, dict[str, dict[str, float]]] = {}
        by_protocol: dict[str, float] = {}
        for (protocol, model, method), (calls, seconds) in items:
            entry = by_method.setdefault(model, {}).setdefault(method, {"calls": 0, "seconds": 0.0})
            entry["calls"] += calls
            entry["seconds"] = round(entry["seconds"] + seconds, 6)
            by_protocol[protocol] = round(by_protocol.get(protocol, 0.0) + seconds, 6)
        return {
            "seconds": round(sum(seconds for _, (_, seconds) in items), 6),
            "calls": sum(calls for _, (calls, _) in items),
            "by_protocol": by_protocol,
            "by_method": by_method,
        }

    def reset(self) -> None:
        with self._lock:
            self._totals.clear()
