"""The simulator at scale: bulk generation of ~1,000,000 invoice lines and 1,200,000 order lines
(10 empreendimentos × 365 days), then the cost of the calls the pipeline makes on that store.

    flock /tmp/sync_pipeline_tests.lock .venv/bin/python benchmarks/simulator_scale.py [--order-lines N]

Prints generation seconds and peak RSS, the table sizes, and milliseconds per call (in process,
and over JSON-2 with the server's own time from X-Simulator-Seconds). Never fails on speed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import date, timedelta

import requests

from sync_pipeline.simulator.core import OdooSimulator
from sync_pipeline.simulator.generator import generate, scale_for_order_lines
from sync_pipeline.simulator.server import SimulatorServer

START = date(2025, 1, 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order-lines", type=int, default=1_200_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--companies", type=int, default=10)
    args = parser.parse_args()
    scale = scale_for_order_lines(args.order_lines, args.days, args.companies)
    sim = OdooSimulator()
    started = time.perf_counter()
    counts = generate(sim, seed=1, scale=scale, start_date=START, days=args.days, companies=args.companies, bulk=True)
    seconds = time.perf_counter() - started
    print(f"generated in {seconds:.0f} s, peak RSS {peak_rss_mb():,.0f} MiB (scale {scale:.2f})")
    print("  " + ", ".join(f"{k}={v:,}" for k, v in counts.items() if k != "seconds"))
    for model in ("sale.order", "sale.order.line", "account.move", "account.move.line", "account.partial.reconcile"):
        print(f"  {model}: {len(sim.store[model].records):,} records")

    def call(model, method, *a, **kw):
        return sim.execute_kw(sim.admin_uid, model, method, list(a), kw)

    day = START + timedelta(days=args.days * 2 // 3)
    company = 3
    invoice_domain = [
        ("company_id", "=", company),
        ("move_type", "in", ["out_invoice", "out_refund"]),
        "|",
        "&",
        ("invoice_date", "=", False),
        "&",
        ("date", ">=", day.isoformat()),
        ("date", "<=", day.isoformat()),
        "&",
        ("invoice_date", ">=", day.isoformat()),
        ("invoice_date", "<=", day.isoformat()),
    ]
    moves = call("account.move", "search", invoice_domain, order="id")
    line_fields = ["move_id", "product_id", "quantity", "price_unit", "price_subtotal", "sale_line_ids"]
    wd = sorted(sim.store["sale.order.line"].values["write_date"].keys)
    cursor_wd = wd[len(wd) * 3 // 4]
    aml_ids = sorted(sim.store["account.move.line"].records)
    page = aml_ids[len(aml_ids) // 2 : len(aml_ids) // 2 + 2000]

    def cursor(model, write_date, record_id=0):
        return [
            "|",
            ("write_date", ">", write_date),
            "&",
            ("write_date", "=", write_date),
            ("id", ">", record_id),
        ]

    cases = {
        "account.move search, one company-day (invoice_domain)": lambda: call(
            "account.move", "search", invoice_domain, order="id"
        ),
        "account.move.line search_read of those invoices' lines": lambda: call(
            "account.move.line",
            "search_read",
            [("move_id", "in", moves), ("display_type", "=", "product")],
            line_fields,
            order="id",
        ),
        "sale.order search_read, one company-day (date_order range)": lambda: call(
            "sale.order",
            "search_read",
            [
                ("company_id", "=", company),
                ("date_order", ">=", f"{day} 03:00:00"),
                ("date_order", "<", f"{day + timedelta(days=1)} 03:00:00"),
            ],
            ["name", "state", "date_order", "write_date"],
            order="id",
        ),
        "sale.order.line write_date cursor (3/4 through), 2000 rows": lambda: call(
            "sale.order.line",
            "search_read",
            cursor("sale.order.line", cursor_wd),
            ["order_id", "write_date"],
            order="write_date asc, id asc",
            limit=2000,
        ),
        "sale.order.line write_date cursor from 1970, 2000 rows": lambda: call(
            "sale.order.line",
            "search_read",
            cursor("sale.order.line", "1970-01-01 00:00:00"),
            ["order_id", "write_date"],
            order="write_date asc, id asc",
            limit=2000,
        ),
        "account.move newest write (latest_change)": lambda: call(
            "account.move",
            "search_read",
            [("move_type", "in", ["out_invoice", "out_refund"])],
            ["write_date"],
            order="write_date desc, id desc",
            limit=1,
        ),
        "account.move.line read of 2000 ids": lambda: call("account.move.line", "read", page, line_fields),
        "account.move search_count of a company": lambda: call(
            "account.move", "search_count", [("company_id", "=", company)]
        ),
    }
    print(f"per call, in process (median of 5; {len(moves)} invoices that day):")
    for label, fn in cases.items():
        ms, result = timed(fn)
        rows = len(result) if isinstance(result, list) else result
        print(f"  {ms:8.1f} ms  {label} -> {rows}")

    with SimulatorServer(sim) as server:
        session = requests.Session()
        headers = {"Authorization": "bearer admin", "X-Odoo-Database": "odoo"}
        named = {
            "domain": cursor("account.move.line", cursor_wd),
            "fields": ["move_id", "quantity", "write_date"],
            "order": "write_date asc, id asc",
            "limit": 2000,
        }
        url = f"{server.url}/json/2/account.move.line/search_read"
        own, wall = [], []
        for _ in range(5):
            started = time.perf_counter()
            response = session.post(url, json=named, headers=headers)
            wall.append(time.perf_counter() - started)
            own.append(float(response.headers["X-Simulator-Seconds"]))
        print(
            f"over JSON-2, account.move.line cursor page of {len(response.json())} rows: "
            f"{statistics.median(wall) * 1000:.1f} ms wall, {statistics.median(own) * 1000:.1f} ms in the simulator "
            "(X-Simulator-Seconds)"
        )
    print(f"peak RSS {peak_rss_mb():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
