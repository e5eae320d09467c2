"""Scale (issue 8): a year of a large distributor through a real Dagster instance and daemon.

Every backfill here takes the path of `sync-pipeline backfill`: ONE asset backfill registered in a
Dagster instance on PostgreSQL (the repo's dagster.yaml) and split into runs by a real
`dagster-daemon` (benchmarks/stack.py). Parts, each printed with how it was measured:

- fixed:     400 unchanged, nearly empty partitions of one empreendimento (the graph synced once,
             then again with nothing to change): fixed_run_s is that run's own wall time, and
             floor_s Dagster's own event cost for it (its ASSET_MATERIALIZATION_PLANNED +
             ASSET_MATERIALIZATION events stored again, in batches of DAGSTER_EVENT_BATCH_SIZE as
             the run worker stores them, into the same kind of storage on the same PostgreSQL).
- year:      N empreendimentos × 365 days (full: 10 × 365, ~1,000,000 invoice lines).
- parallel:  the faturamento extract of one empreendimento's year (in a child process, as in a run
             worker: not sharing the simulator's interpreter lock), 8 workers vs 1, 20 ms per call added;
             then with a real Odoo's latency (8 ms per call, 0.4 ms per row, one worker).
- protocols: the same extract over JSON-RPC, XML-RPC and JSON-2 (rows/s, bytes each way).
- naive:     the seeds' naive faturamento sync (benchmarks/faturamento_sync.py) vs ours on one
             empreendimento × 30 days of the same data, on a database of its own.
- curve:     ours on one partition of 1k..100k lines (time per line, statements), then the same
             partition with every line changed (every row re-written).
- latency:   invoices posted one by one in the simulator while the daemon runs its sensors at the
             default interval, each awaited until visible in faturamento_produto and carteira_saldo.

    DATABASE_URL=postgresql://postgres@127.0.0.1:54329/bench_scale \\
        .venv/bin/python benchmarks/backfill_scale.py [--quick] [--only fixed,year,...]

It DROPS and recreates the operational and Dagster schemas of that database (and uses a second one,
<name>_naive): give it a database of its own. Figures only; never in CI. Ends with one line:
fixed_run_s=… floor_s=… year_s=… year_lines=… peak_rss_mb=… p50_latency_s=… p95_latency_s=…
parallel_speedup=… naive_ratio=…
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import random
import resource
import signal
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

START = date(2025, 1, 1)
# Before any sync_pipeline import: the date partitions start at SYNC_START_DATE (read on import).
os.environ["SYNC_START_DATE"] = START.isoformat()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stack as bench  # noqa: E402
from dagster import DagsterEventType, RunsFilter  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from sync_pipeline.settings import database_url  # noqa: E402

PARTS = ("fixed", "year", "parallel", "protocols", "naive", "curve", "latency")
FIXED_ORDER_LINES = 100  # "nearly empty": a real Odoo 17 with ~100 order lines (issue 8)
ADDED_LATENCY_S = 0.02
SIZES = {  # the year (empreendimentos × days, order lines), invoices posted, read page size, curve, fixed run
    "full": dict(
        companies=10,
        days=365,
        order_lines=1_200_000,
        invoices=20,
        page_size=1000,
        curve=(1_000, 10_000, 100_000),
        fixed_days=400,
    ),
    # Measured here under load: Dagster stored ~60 ms per event, so a 400-partition run spent
    # ~170 s writing its 2,800 ASSET_MATERIALIZATION_PLANNED events before its worker started, and
    # run monitoring (start_timeout_seconds: 180) failed it. --quick stays well below that.
    "quick": dict(
        companies=2, days=60, order_lines=5_000, invoices=3, page_size=200, curve=(1_000, 10_000), fixed_days=60
    ),
}


def peak_rss_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.{digits}f}"


# --- data ----------------------------------------------------------------------------------------


def generated_simulator(order_lines: int, days: int, companies: int, seed: int = 8):
    from sync_pipeline.simulator.core import OdooSimulator
    from sync_pipeline.simulator.generator import generate, scale_for_order_lines

    sim = OdooSimulator()
    scale = scale_for_order_lines(order_lines, days, companies)
    before = peak_rss_self_mb()
    counts = generate(sim, seed=seed, scale=scale, start_date=START, days=days, companies=companies, bulk=True)
    gc.freeze()  # as `sync-pipeline simulator` does: no cyclic-collector passes over the store mid-call
    print(
        f"[{bench.timestamp()}] simulator: {companies} empreendimentos × {days} days, {counts['order_lines']:,} order "
        f"lines, {counts['invoice_lines']:,} invoice lines, generated in {counts['seconds']:.1f}s "
        f"(this process's peak RSS {before:.0f} → {peak_rss_self_mb():.0f} MiB)"
    )
    return sim, counts


# --- a backfill through the daemon and what it cost ----------------------------------------------


def run_backfill(st: bench.Stack, emps: list[str], first: date, last: date, label: str, timeout_s: float) -> dict:
    """Submit ONE asset backfill and wait for it (the daemon splits it into runs); its figures."""
    from sync_pipeline.backfill import submit_asset_backfill, wait_for_backfill

    st.server.reset_stats()
    partitions = len(emps) * ((last - first).days + 1)
    with bench.RunMemory(st.instance) as memory:
        started = time.monotonic()
        submitted_at = time.time()
        backfill_id = submit_asset_backfill(st.instance, empreendimentos=emps, start=first, end=last, title=label)

        def progress(done: int, total: int, failed: int, status: str) -> None:
            elapsed = time.monotonic() - started
            print(f"    [{elapsed:6.1f}s] {label}: {status}, {done}/{total} runs finished, {failed} failed")
            if failed:
                print_failures(st, backfill_id)

        outcome = wait_for_backfill(
            st.instance, backfill_id, timeout_seconds=timeout_s, check=st.check, on_progress=progress
        )
        wall_s = time.monotonic() - started
    sim_stats = st.server.stats()
    if not outcome.succeeded:
        print(f"  backfill {label} did not succeed: {outcome}\n{st.daemon.log_tail(30) if st.daemon else ''}")
    figures = run_figures(st, outcome.run_ids)
    figures.update(
        label=label,
        backfill_id=backfill_id,
        succeeded=outcome.succeeded,
        wall_s=wall_s,
        partitions=partitions,
        sim_s=sim_stats["server_time"]["seconds"],
        odoo_calls=sim_stats["calls_total"],
        rss_mb=memory.peak_mb(outcome.run_ids),
        pickup_s=(figures["first_start"] - submitted_at) if figures["first_start"] else float("nan"),
    )
    return figures


_REPORTED: set[str] = set()


def print_failures(st: bench.Stack, backfill_id: str) -> None:
    """The last messages of each failed run of the backfill, once."""
    from dagster import DagsterRunStatus

    for run in st.instance.get_runs(RunsFilter.for_backfill(backfill_id)):
        if run.status == DagsterRunStatus.FAILURE and run.run_id not in _REPORTED:
            _REPORTED.add(run.run_id)
            print(f"      run {run.run_id[:8]} failed; its last messages:")
            for entry in list(st.instance.all_logs(run.run_id))[-8:]:
                print(f"        {entry.dagster_event_type or 'log'}: {(entry.message or '')[:300]}")


def run_figures(st: bench.Stack, run_ids: list[str]) -> dict:
    """From the instance: each run's wall time, its events by type, and the metadata every
    materialization carries (seconds, SQL statements and Odoo calls of its chunk, partitions in it).
    A multi-asset's assets share their step's cost: it is counted once per step and partition."""
    records = st.instance.get_run_records(RunsFilter(run_ids=list(run_ids))) if run_ids else []
    run_wall = sum((r.end_time or 0) - (r.start_time or 0) for r in records if r.start_time)
    starts = [r.start_time for r in records if r.start_time]
    events: Counter[str] = Counter()
    planned_at: list[float] = []
    cost: dict[tuple[str, str], dict] = {}
    materialized: set[tuple[str, str]] = set()
    for run_id in run_ids:
        for entry in st.instance.all_logs(run_id):
            ev = entry.dagster_event
            if ev is None:
                events["log"] += 1
                continue
            events[ev.event_type_value] += 1
            if ev.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                planned_at.append(entry.timestamp)
            if ev.event_type != DagsterEventType.ASSET_MATERIALIZATION:
                continue
            mat = ev.event_specific_data.materialization
            materialized.add((mat.asset_key.to_user_string(), mat.partition))
            md = {k: v.value for k, v in mat.metadata.items()}
            cost.setdefault((ev.step_key, mat.partition), md)
    seconds = sum(float(md.get("seconds") or 0) for md in cost.values())
    by_step: Counter[str] = Counter()
    for (step, _partition), md in cost.items():
        by_step[step] += float(md.get("seconds") or 0)
    statements = sum(
        float(md.get("sql_statements") or 0) / max(1, int(md.get("chunk_partitions") or 1))
        + float(md.get("run_sql_statements") or 0) / max(1, int(md.get("run_partitions") or 1))  # once per run
        for md in cost.values()
    )
    calls = sum(
        float(md.get("odoo_calls_chunk") or 0) / max(1, int(md.get("chunk_partitions") or 1)) for md in cost.values()
    )
    return {
        "runs": len(run_ids),
        "run_wall_s": run_wall,
        "first_start": min(starts) if starts else None,
        "events": events,
        "planned_span_s": (max(planned_at) - min(planned_at)) if planned_at else 0.0,
        "asset_partitions": len(materialized),
        "asset_s": seconds,
        "asset_s_by_step": by_step,
        "statements": statements,
        "metadata_odoo_calls": calls,
    }


def print_backfill(f: dict, lines: int | None = None) -> None:
    parts = f["partitions"]
    ours_s = max(0.0, f["asset_s"] - f["sim_s"])
    dagster_s = max(0.0, f["run_wall_s"] - f["asset_s"])
    rss = f["rss_mb"]
    ev = f["events"]
    print(
        f"  {f['label']}: {parts} partitions in {f['wall_s']:.1f}s from submit to done "
        f"({parts / f['wall_s']:.1f} partitions/s"
        + (f", {lines:,} invoice lines, {lines / f['wall_s']:,.0f} lines/s" if lines is not None else "")
        + f"), {f['runs']} runs{'' if f['succeeded'] else ' — NOT ALL SUCCEEDED'}"
    )
    print(
        f"    daemon pick-up (submit → first run started) {fmt(f['pickup_s'])}s; runs' own wall time "
        f"{f['run_wall_s']:.1f}s in all"
    )
    print(
        f"    time in Dagster {dagster_s:.1f}s (runs' wall time minus the seconds the assets report: process, "
        f"code load, events) · our code {ours_s:.1f}s (the assets' seconds minus the simulator's) · "
        f"simulator {f['sim_s']:.1f}s (its own time per call, server side)"
    )
    print(
        "    the assets' seconds by step: "
        + ", ".join(f"{step} {s:.1f}s" for step, s in f["asset_s_by_step"].most_common())
    )
    print(
        f"    per partition: {f['statements'] / parts:.2f} SQL statements, {f['odoo_calls'] / parts:.2f} Odoo calls "
        f"({f['odoo_calls']} calls seen by the simulator, {f['metadata_odoo_calls']:.0f} reported by the extracts); "
        f"{f['asset_partitions']} asset-partitions materialized"
    )
    print(
        f"    events: {sum(ev.values())} in all, {ev['ASSET_MATERIALIZATION_PLANNED']} ASSET_MATERIALIZATION_PLANNED, "
        f"{ev['ASSET_MATERIALIZATION']} ASSET_MATERIALIZATION, {ev['ASSET_CHECK_EVALUATION']} check evaluations; "
        f"the PLANNED events, written when the run is created (before its worker starts), span "
        f"{f['planned_span_s']:.1f}s"
    )
    if rss:
        print(
            "    peak RSS per run process (VmHWM of the run worker pid and its children, polled from /proc): "
            + ", ".join(f"{run[:8]} {mb:.0f} MiB" for run, mb in sorted(rss.items()))
        )
    else:
        print("    peak RSS per run process: not read (no run worker pid seen)")


# --- fixed cost and the floor --------------------------------------------------------------------


def event_floor(st: bench.Stack, run_ids: list[str]) -> tuple[float, int, int]:
    """Store again the run's ASSET_MATERIALIZATION_PLANNED and ASSET_MATERIALIZATION events (same
    shape: same asset keys, partitions and metadata) into a PostgresEventLogStorage on a schema of
    its own in the same database, in batches of DAGSTER_EVENT_BATCH_SIZE as the run worker stores
    them (sync_pipeline sets 1000; 0 or 1: one by one); the seconds it took, the events stored and
    the batch size."""
    from dagster._core.events.log import EventLogEntry
    from dagster_postgres import PostgresEventLogStorage

    entries = []
    for run_id in run_ids:
        for kind in (DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_MATERIALIZATION):
            entries += [e for e in st.instance.all_logs(run_id, of_type=kind)]
    schema = "dagster_bench_floor"
    bench._admin(
        st.database_url,
        bench.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(bench.sql.Identifier(schema)),
        bench.sql.SQL("CREATE SCHEMA {}").format(bench.sql.Identifier(schema)),
    )
    storage = PostgresEventLogStorage(bench.dagster_url(st.database_url, schema))
    try:
        fake_run = "bench-floor-" + os.urandom(4).hex()
        copies = [
            EventLogEntry(
                error_info=None,
                level=e.level,
                user_message=e.user_message,
                run_id=fake_run,
                timestamp=e.timestamp,
                step_key=e.step_key,
                job_name=e.job_name,
                dagster_event=e.dagster_event,
            )
            for e in entries
        ]
        batch = int(os.environ.get("DAGSTER_EVENT_BATCH_SIZE", "0") or 0)
        started = time.perf_counter()
        if batch > 1:
            for start in range(0, len(copies), batch):
                storage.store_event_batch(copies[start : start + batch])
        else:
            for entry in copies:
                storage.store_event(entry)
        seconds = time.perf_counter() - started
    finally:
        storage.dispose()
        bench._admin(
            st.database_url, bench.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(bench.sql.Identifier(schema))
        )
    return seconds, len(copies), batch


def part_fixed(args, result: dict) -> None:
    from sync_pipeline.partitions import empreendimento_key

    days = args.size["fixed_days"]
    print(f"\n== fixed: {days} partitions of one empreendimento with nothing to change")
    sim, _ = generated_simulator(FIXED_ORDER_LINES, days, 1)
    with bench.bench_stack(sim, database_url=args.database_url, start_date=START) as st:
        emp = empreendimento_key(sorted(r["id"] for r in sim.rows("res.company"))[0])
        last = START + timedelta(days=days - 1)
        first_sync = run_backfill(st, [emp], START, last, "first sync", args.timeout)
        print_backfill(first_sync)
        unchanged = run_backfill(st, [emp], START, last, "re-sync, nothing changed", args.timeout)
        print_backfill(unchanged)
        floor_s, stored, batch = event_floor(st, _runs_of(st, unchanged))
        how = f"in batches of {batch} as the run worker stores them" if batch > 1 else "one by one"
        print(
            f"  floor: {stored} events (the re-sync's PLANNED + MATERIALIZATION) stored again {how} into "
            f"Dagster's PostgreSQL event log storage: {floor_s:.1f}s ({floor_s / max(1, stored) * 1000:.2f} ms each)"
        )
        print(
            f"  fixed run: {unchanged['run_wall_s']:.1f}s the run itself (fixed_run_s), "
            f"{unchanged['wall_s']:.1f}s from submit to done — Dagster's backfill daemon looks at a new "
            "backfill every 30 s (its loop, not configurable in 1.13), the pick-up above"
        )
    result["fixed_run_s"] = unchanged["run_wall_s"]
    result["fixed_end_to_end_s"] = unchanged["wall_s"]
    result["floor_s"] = floor_s
    result.setdefault("rss", []).extend(unchanged["rss_mb"].values())


def _runs_of(st: bench.Stack, figures: dict) -> list[str]:
    return [r.run_id for r in st.instance.get_runs(RunsFilter.for_backfill(figures["backfill_id"]))]


# --- the year --------------------------------------------------------------------------------------


def part_year(args, st: bench.Stack, emps: list[str], result: dict) -> None:
    size = args.size
    last = START + timedelta(days=size["days"] - 1)
    print(f"\n== year: {len(emps)} empreendimentos × {size['days']} days ({START}..{last})")
    figures = run_backfill(st, emps, START, last, "year", args.timeout)
    with st.engine.connect() as conn:
        lines = conn.execute(
            text("SELECT count(*) FROM odoo_fatura_linha WHERE partition_date BETWEEN :a AND :b"),
            {"a": START, "b": last},
        ).scalar_one()
        rows = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("faturamento_produto", "carteira_principal", "carteira_saldo")
        }
    print_backfill(figures, lines)
    print("    rows written: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))
    rss = figures["rss_mb"]
    if rss:
        print(
            f"    memory vs empreendimentos: {len(emps)} empreendimentos, one run each at most "
            f"{max(rss.values()):.0f} MiB (min {min(rss.values()):.0f}); compare with the fixed run's single run"
        )
    result.update(year_s=figures["wall_s"], year_lines=lines)
    result.setdefault("rss", []).extend(rss.values())


# --- extract throughput ----------------------------------------------------------------------------


class WireBytes:
    """Bytes sent and received by the Odoo client's transports (request bodies, response bodies)."""

    def __init__(self) -> None:
        from sync_pipeline.odoo import transport

        self.sent = self.received = 0
        original = transport.OdooTransport._post
        counter = self

        def counting_post(self, call, path, *, body, headers):
            response = original(self, call, path, body=body, headers=headers)
            counter.sent += len(body)
            counter.received += len(response.content)
            return response

        transport.OdooTransport._post = counting_post

    def reset(self) -> None:
        self.sent = self.received = 0


WIRE: WireBytes | None = None


STAGE_SECONDS: list[float] = []  # in the extract process: seconds in stage_invoice_lines, per extract


def _time_staging() -> None:
    """Time the CPU part of the extract (mapping the lines read to staged rows) apart from the pages."""
    from sync_pipeline.odoo import faturamento

    if getattr(faturamento.stage_invoice_lines, "timed", False):
        return
    stage = faturamento.stage_invoice_lines

    def timed(**kwargs):
        started = time.perf_counter()
        try:
            return stage(**kwargs)
        finally:
            STAGE_SECONDS.append(time.perf_counter() - started)

    timed.timed = True
    faturamento.stage_invoice_lines = timed


def extract_in_this_process(url: str, emp: str, first: date, last: date, protocol: str, workers: int, page: int):
    """The faturamento extract of (emp, first..last), as a run's extract step calls it; runs in the
    extract process (a child: the simulator in the parent does not share its interpreter lock).
    ``s`` is the whole extract, ``stage_s`` its mapping of lines to rows, the rest is reading pages."""
    from sync_pipeline.odoo.client import OdooClient
    from sync_pipeline.odoo.faturamento import extract_invoices
    from sync_pipeline.partitions import company_id_for, partition_day

    global WIRE
    if WIRE is None:
        WIRE = WireBytes()
    _time_staging()
    with OdooClient(url, "odoo", "admin", "admin", protocol=protocol, page_size=page, max_workers=workers) as client:
        client.uid  # noqa: B018 -- authenticate outside the timing
        WIRE.reset()
        STAGE_SECONDS.clear()
        started = time.perf_counter()
        found = extract_invoices(
            client,
            empreendimento=emp,
            company_id=company_id_for(emp),
            first=first,
            last=last,
            partition_day_of=partition_day,
        )
        seconds = time.perf_counter() - started
        calls = client.stats.total
    stage_s = sum(STAGE_SECONDS)
    return {
        "s": seconds,
        "stage_s": stage_s,
        "pages_s": seconds - stage_s,
        "lines": found.lines,
        "calls": calls,
        "sent": WIRE.sent,
        "received": WIRE.received,
    }


class Extractor:
    """Times extracts in one child process (spawned once) against the stack's simulator."""

    def __init__(self, st: bench.Stack) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.st = st
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __call__(self, emp: str, first: date, last: date, *, protocol="jsonrpc", workers=4, page_size=1000) -> dict:
        st = self.st
        st.server.reset_stats()
        result = self.pool.submit(
            extract_in_this_process, st.server.url, emp, first, last, protocol, workers, page_size
        ).result()
        stats = st.server.stats()
        result.update(records=stats["rows_returned"], sim_s=stats["server_time"]["seconds"])
        return result


_EXTRACTORS: dict[int, Extractor] = {}


def stack_extractor(st: bench.Stack) -> Extractor:
    """One extract process per stack, shut down with it (bench_stack's ExitStack is not reachable here)."""
    if id(st) not in _EXTRACTORS:
        _EXTRACTORS[id(st)] = Extractor(st)
    return _EXTRACTORS[id(st)]


REAL_DAYS = 90  # the real-Odoo-latency extracts read a quarter: at 0.4 ms a row, a year is ~140 s per extract


def part_parallel(args, st: bench.Stack, emp: str, result: dict) -> None:
    last = START + timedelta(days=args.size["days"] - 1)
    page = args.size["page_size"]
    print(f"\n== parallel extract: faturamento of {emp} {START}..{last}, pages of {page} ids")
    faults = st.server.faults
    try:
        extract = stack_extractor(st)
        faults.update(latency_per_call=ADDED_LATENCY_S)
        runs = {w: extract(emp, START, last, workers=w, page_size=page) for w in (1, 8)}
        for w, r in runs.items():
            print(
                f"  {w} worker(s), {ADDED_LATENCY_S * 1000:.0f} ms added per call: {r['s']:.2f}s = pages "
                f"{r['pages_s']:.2f}s + mapping lines to rows {r['stage_s']:.2f}s; {r['lines']:,} lines "
                f"({r['lines'] / r['s']:,.0f}/s), {r['calls']} calls, {r['received'] / 1e6:.1f} MB, simulator's own "
                f"time {r['sim_s']:.2f}s (one interpreter: its calls take turns)"
            )
        serial, parallel = runs[1], runs[8]
        speedup = serial["pages_s"] / parallel["pages_s"]
        latency_s = serial["calls"] * ADDED_LATENCY_S
        cpu_s = serial["pages_s"] - latency_s
        print(
            f"  parallel speedup 8 vs 1 workers: pages {speedup:.1f}x (target ≥ 5x), whole extract "
            f"{serial['s'] / parallel['s']:.1f}x. Of the serial pages' {serial['pages_s']:.2f}s, the added latency "
            f"is {latency_s:.2f}s ({serial['calls']} calls × {ADDED_LATENCY_S * 1000:.0f} ms) and {cpu_s:.2f}s is "
            f"CPU (the simulator's {serial['sim_s']:.2f}s, the client decoding and checking the rest), which "
            f"overlapping cannot hide: the pages' floor is ≈ {max(serial['sim_s'], cpu_s - serial['sim_s']):.2f}s, "
            f"so ≤ {serial['pages_s'] / max(serial['sim_s'], cpu_s - serial['sim_s']):.1f}x here"
        )
        real_last = min(last, START + timedelta(days=REAL_DAYS - 1))
        for odoo_workers, client_workers in ((1, (8,)), (8, (1, 8))):
            faults.update(latency_per_call=0.008, latency_per_row=0.0004, row_workers=odoo_workers)
            timed = {}
            for w in client_workers:
                r = timed[w] = extract(emp, START, real_last, workers=w, page_size=page)
                source_s = r["records"] * 0.0004 / odoo_workers
                print(
                    f"  real-Odoo latency (8 ms/call, 0.4 ms/row, an Odoo of {odoo_workers} worker(s)), {START}.."
                    f"{real_last}, {w} client worker(s): {r['s']:.2f}s for {r['records']:,} records read; the "
                    f"source's own row work alone is {source_s:.2f}s ({source_s / r['s'] * 100:.0f}% of the "
                    "extract: how close to the source's limit)"
                )
            if len(timed) == 2:
                real_speedup = timed[1]["pages_s"] / timed[8]["pages_s"]
                print(
                    f"  against an Odoo of {odoo_workers} workers, 8 vs 1 client workers: pages {real_speedup:.1f}x, "
                    f"whole extract {timed[1]['s'] / timed[8]['s']:.1f}x"
                )
                result["real_parallel_speedup"] = real_speedup
    finally:
        faults.update(latency_per_call=0.0, latency_per_row=0.0, row_workers=0)
    result["parallel_speedup"] = speedup


def part_protocols(args, st: bench.Stack, emp: str) -> None:
    last = START + timedelta(days=args.size["days"] - 1)
    page = args.size["page_size"]
    print(f"\n== protocols: the same extract ({emp} {START}..{last}, 4 workers, pages of {page}, no added latency)")
    extract = stack_extractor(st)
    for protocol in ("jsonrpc", "xmlrpc", "json2"):
        r = extract(emp, START, last, protocol=protocol, workers=4, page_size=page)
        print(
            f"  {protocol:<8} {r['s']:6.2f}s  {r['records'] / r['s']:8,.0f} records/s ({r['lines']:,} lines, "
            f"{r['records']:,} records in {r['calls']} calls)  sent {r['sent'] / 1e6:6.2f} MB  received "
            f"{r['received'] / 1e6:7.2f} MB  simulator's own time {r['sim_s']:.2f}s"
        )


# --- the seeds' naive sync vs ours, and the scaling curve ----------------------------------------


@contextlib.contextmanager
def side_database(url: str):
    """``<name>_naive`` on the same server, at the newest migration (made if missing)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_naive"
    with contextlib.suppress(Exception):
        bench._admin(url, bench.sql.SQL("CREATE DATABASE {}").format(bench.sql.Identifier(name)))
    side = parsed.set(database=name).render_as_string(hide_password=False)
    engine = bench.reset_database(side)
    try:
        yield side, engine
    finally:
        engine.dispose()


def part_naive(args, st: bench.Stack, emp: str, result: dict) -> None:
    import faturamento_sync as seeds

    from sync_pipeline.db.faturamento import apply_partitions
    from sync_pipeline.db.schema import odoo_fatura_linha
    from sync_pipeline.db.staging import Scope, mirror_partitions
    from sync_pipeline.odoo.client import OdooClient
    from sync_pipeline.odoo.faturamento import extract_invoices
    from sync_pipeline.partitions import SyncPartition, company_id_for, partition_day
    from sync_pipeline.resources.postgres import PostgresResource

    first = START + timedelta(days=max(0, min(150, args.size["days"] - 30)))  # inside the generated dates
    days = [first + timedelta(days=i) for i in range(30)]
    with OdooClient(st.server.url, "odoo", "admin", "admin", protocol="jsonrpc") as client:
        found = extract_invoices(
            client,
            empreendimento=emp,
            company_id=company_id_for(emp),
            first=days[0],
            last=days[-1],
            partition_day_of=partition_day,
        )
    # naive_sync knows posted and cancelled NFs only, and multiplies by peso_unitario: both sides get those rows.
    by_day = {
        d: [r for r in found.staged.rows_by_day.get(d, []) if r["move_state"] in seeds.STATUS and r["peso_unitario"]]
        for d in days
    }
    rows = [r for d in days for r in by_day[d]]
    print(f"\n== naive vs ours: {emp} × 30 days ({days[0]}..{days[-1]}), {len(rows):,} invoice lines, empty tables")
    with side_database(args.database_url) as (url, engine):
        pg = PostgresResource(database_url=url)
        engine = pg.engine()
        event.listen(engine, "before_cursor_execute", seeds.TRIPS.statement)
        event.listen(engine, "commit", seeds.TRIPS.commit)

        def empty():
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {seeds.TABLES} RESTART IDENTITY"))
            seeds.TRIPS.reset(0.0)

        empty()
        started = time.perf_counter()
        with engine.connect() as conn:
            for d in days:  # the seed's loop: one day at a time
                seeds.naive_sync(conn, by_day[d])
        naive_s = time.perf_counter() - started
        naive = (seeds.TRIPS.statements, seeds.TRIPS.commits)
        empty()
        scope = Scope(emp, tuple(days), first=False)
        keys = {d: SyncPartition(emp, d).key for d in days}
        started = time.perf_counter()
        pg.unit_of_work(
            lambda conn: mirror_partitions(
                conn, odoo_fatura_linha, scope, rows, {}, asset="odoo_fatura_linha", partition_keys=keys, run_id="b"
            ),
            name="stage",
        )
        pg.unit_of_work(lambda conn: apply_partitions(conn, scope), name="apply")
        ours_s = time.perf_counter() - started
        ours = (seeds.TRIPS.statements, seeds.TRIPS.commits)
        with engine.connect() as conn:
            written = conn.execute(text("SELECT count(*) FROM faturamento_produto")).scalar_one()
        event.remove(engine, "before_cursor_execute", seeds.TRIPS.statement)
        event.remove(engine, "commit", seeds.TRIPS.commit)
    ratio = naive_s / ours_s if ours_s else float("nan")
    print(
        f"  naive (seed 02, row by row, a commit every 10 lines, per day): {naive_s:.2f}s, "
        f"{len(rows) / naive_s:,.0f} lines/s, {naive[0]:,} statements, {naive[1]:,} commits"
    )
    print(
        f"  ours (stage + apply, the 30 days as one chunk): {ours_s:.2f}s, {len(rows) / ours_s:,.0f} lines/s, "
        f"{ours[0]} statements, {ours[1]} commits; {written:,} faturamento_produto rows"
    )
    print(f"  naive/ours {ratio:.1f}x (database side only: both get the same extracted lines)")
    result["naive_ratio"] = ratio


def analyze_staged(pg, staged: int) -> None:
    from sync_pipeline.assets.common import analyze_if_grown
    from sync_pipeline.db.schema import odoo_fatura_linha

    analyze_if_grown(pg, [odoo_fatura_linha], staged)


def part_curve(args) -> None:
    import faturamento_sync as seeds

    from sync_pipeline.resources.postgres import PostgresResource

    print("\n== curve: ours on one faturamento partition, empty tables (benchmarks/faturamento_sync.py's data)")
    with side_database(args.database_url) as (url, _):
        pg = PostgresResource(database_url=url)
        engine = pg.engine()
        # the seeds' own round-trip counter too, which run_ours checks against the unit of work's
        event.listen(engine, "before_cursor_execute", seeds.TRIPS.statement)
        event.listen(engine, "commit", seeds.TRIPS.commit)
        rows, refs = seeds.generate(1_000)  # warm up: connections, the server's catalog caches
        seeds.reset(engine, refs)
        seeds.TRIPS.reset(0.0)
        seeds.run_ours(pg, rows, after_stage=analyze_staged)

        def timed(rows: list[dict], label: str) -> None:
            seeds.TRIPS.reset(0.0)
            before = peak_rss_self_mb()
            started = time.perf_counter()
            # As the asset does between its extract and its transform: fresh staging rows get statistics.
            statements, commits, _ = seeds.run_ours(pg, rows, after_stage=analyze_staged)
            seconds = time.perf_counter() - started
            print(
                f"  {label}: {seconds:6.2f}s, {seconds / len(rows) * 1e6:6.1f} µs per line, {statements} statements, "
                f"{commits} commits, this process's peak RSS {before:.0f} → {peak_rss_self_mb():.0f} MiB"
            )

        for lines in args.size["curve"]:
            rows, refs = seeds.generate(lines)
            seeds.reset(engine, refs)
            timed(rows, f"{lines:>7,} lines")
            for row in rows:  # the same partition again, every line changed in Odoo: every row re-written
                row["quantidade"] += 1
            timed(rows, f"{lines:>7,} lines re-written")


# --- incremental latency -----------------------------------------------------------------------


def open_order_lines(st: bench.Stack, company: int, wanted: int) -> list[dict]:
    """Confirmed orders' lines with at least 2 left to invoice (invoicing 1 leaves the line open, in
    carteira_saldo with its invoiced quantity grown: a line invoiced in full leaves the table, which
    the latency's wait would never see), newest orders first."""

    def call(model, method, *a, **kw):
        return st.sim.execute_kw(st.sim.admin_uid, model, method, list(a), kw)

    orders = call(
        "sale.order",
        "search_read",
        [("company_id", "=", company), ("state", "=", "sale")],
        ["name", "partner_id"],
        order="id desc",
        limit=wanted * 10,
    )
    by_id = {o["id"]: o for o in orders}
    lines = call(
        "sale.order.line",
        "search_read",
        [("order_id", "in", list(by_id))],
        ["order_id", "product_id", "product_uom_qty", "qty_invoiced", "price_unit"],
        order="id",
    )
    picked, seen = [], set()
    for ln in lines:
        order = by_id[ln["order_id"][0]]
        if ln["product_uom_qty"] - ln["qty_invoiced"] >= 2 and order["id"] not in seen:
            seen.add(order["id"])
            picked.append({**ln, "order": order})
    return picked[:wanted]


_SALDO_FATURADO = text(
    "SELECT coalesce(sum(qtd_faturada), 0) FROM carteira_saldo WHERE empreendimento = :e AND num_pedido = :p"
)


def _visible(st: bench.Stack, emp: str, order: str, move: int, before, seen: dict[str, float]) -> bool:
    """Note when the invoice shows in faturamento_produto and when the order's saldo took it in."""
    with st.engine.connect() as conn:
        if "faturamento" not in seen:
            found = conn.execute(text("SELECT 1 FROM faturamento_produto WHERE odoo_move_id = :m LIMIT 1"), {"m": move})
            if found.first():
                seen["faturamento"] = time.time()
        if "carteira_saldo" not in seen:
            if conn.execute(_SALDO_FATURADO, {"e": emp, "p": order}).scalar_one() >= before + 1:
                seen["carteira_saldo"] = time.time()
    return len(seen) == 2


def _run_breakdown(st: bench.Stack, run, emp: str, posted_at: float) -> str:
    """Where a latency run's seconds went: its steps (the seconds the assets report, the slowest
    first) and the rest (process start, code load, events); and the other runs of the
    empreendimento that held its one-writer slot after the post (what it queued behind)."""
    f = run_figures(st, [run.dagster_run.run_id])
    ran = (run.end_time or 0) - (run.start_time or 0)
    steps = ", ".join(f"{step} {s:.2f}" for step, s in f["asset_s_by_step"].most_common(3))
    out = f"; in the run: steps {f['asset_s']:.2f}s ({steps}), Dagster {max(0.0, ran - f['asset_s']):.2f}s"
    others = [
        r
        for r in st.instance.get_run_records(RunsFilter(tags={"sync/empreendimento": emp}), limit=20)
        if r.dagster_run.run_id != run.dagster_run.run_id
        and r.start_time is not None
        and (r.end_time or time.time()) > posted_at
        and r.start_time < (run.start_time or time.time())
    ]
    if others:
        out += "; queued behind " + ", ".join(
            f"{r.dagster_run.tags.get('sync/trigger', 'backfill')} {(r.end_time or 0) - r.start_time:.1f}s"
            for r in others
        )
    return out


def part_latency(args, st: bench.Stack, result: dict) -> None:
    from sync_pipeline.partitions import company_id_for, empreendimento_key
    from sync_pipeline.sensors import SENSOR_INTERVAL_SECONDS
    from sync_pipeline.simulator.generator import add_invoice

    n = args.invoices
    emp = empreendimento_key(sorted(r["id"] for r in st.sim.rows("res.company"))[0])
    company = company_id_for(emp)
    print(
        f"\n== latency: {n} invoices posted one by one ({emp}), sensors at {SENSOR_INTERVAL_SECONDS}s; each posted "
        f"after a random 0..{SENSOR_INTERVAL_SECONDS}s pause (so posts fall anywhere between ticks)"
    )
    lines = open_order_lines(st, company, n)
    if len(lines) < n:
        print(f"  only {len(lines)} open order lines found")
    rng = random.Random(5)
    samples = []
    for i, ln in enumerate(lines):
        order = ln["order"]["name"]
        with st.engine.connect() as conn:
            before = conn.execute(_SALDO_FATURADO, {"e": emp, "p": order}).scalar_one()
        time.sleep(rng.uniform(0, SENSOR_INTERVAL_SECONDS))
        posted_at = time.time()
        posted_dt = datetime.fromtimestamp(posted_at, tz=UTC)
        move = add_invoice(
            st.sim,
            company,
            ln["order"]["partner_id"][0],
            [(ln["product_id"][0], 1, ln["price_unit"], ln["id"])],
            date.today().isoformat(),
        )
        seen: dict[str, float] = {}

        def visible(seen=seen, move=move, order=order, before=before) -> bool:
            return _visible(st, emp, order, move, before, seen)

        bench.wait_until(visible, args.latency_timeout, poll_s=0.2, check=st.check)
        sensor_runs = RunsFilter(tags={"sync/trigger": "invoice_sensor"}, created_after=posted_dt)

        def finished(sensor_runs=sensor_runs):
            found = st.instance.get_run_records(sensor_runs, ascending=True)
            return found if found and all(r.dagster_run.is_finished for r in found) else None

        runs = bench.wait_until(finished, 60, poll_s=0.5) or st.instance.get_run_records(sensor_runs, ascending=True)
        run = runs[0] if runs else None
        fat = seen.get("faturamento", float("nan")) - posted_at
        sal = seen.get("carteira_saldo", float("nan")) - posted_at
        if run is not None:
            tick = run.create_timestamp.timestamp() - posted_at
            queued = (run.start_time or float("nan")) - run.create_timestamp.timestamp()
            ran = (run.end_time or float("nan")) - (run.start_time or float("nan"))
            where = f"sensor tick +{tick:.1f}s, queue+launch {queued:.1f}s, run {ran:.1f}s ({len(runs)} sensor runs)"
            where += _run_breakdown(st, run, emp, posted_at)
        else:
            where = "no invoice_sensor run seen"
        print(
            f"  {i + 1:>2}. invoice {move} for {order}: faturamento_produto +{fmt(fat)}s, carteira_saldo "
            f"+{fmt(sal)}s — {where}"
        )
        samples.append(float("nan") if math.isnan(fat) or math.isnan(sal) else max(fat, sal))
    done = sorted(s for s in samples if not math.isnan(s))
    if done:
        p50 = statistics.median(done)
        p95 = done[min(len(done) - 1, math.ceil(0.95 * len(done)) - 1)]
        print(
            f"  post → visible in both tables: p50 {p50:.1f}s, p95 {p95:.1f}s over {len(done)} of {len(samples)} "
            f"(the others not visible within {args.latency_timeout:.0f}s)"
        )
        result.update(p50_latency_s=p50, p95_latency_s=p95)


# --- main -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 empreendimentos × 60 days, a fixed run of 60 partitions"
    )
    parser.add_argument("--fixed-days", type=int, help="partitions of the fixed run (full 400, quick 60)")
    parser.add_argument("--days", type=int, help="days of the year (full 365, quick 60)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {','.join(PARTS)}")
    parser.add_argument("--companies", type=int, help="empreendimentos in the year (full 10, quick 2)")
    parser.add_argument("--order-lines", type=int, help="order lines in the year (full 1,200,000)")
    parser.add_argument("--invoices", type=int, help="invoices posted for the latency (full 20, quick 4)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a backfill may take")
    parser.add_argument("--latency-timeout", type=float, default=120, help="seconds an invoice may take to show")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    args.size = dict(SIZES["quick" if args.quick else "full"])
    for key in ("companies", "order_lines", "invoices", "fixed_days", "days"):
        if getattr(args, key) is not None:
            args.size[key] = getattr(args, key)
    args.invoices = args.size["invoices"]
    args.database_url = database_url()
    # `timeout` or a kill sends SIGTERM: exit through the context managers, which stop the daemon.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench.check_own_database(args.database_url)

    from sync_pipeline.partitions import empreendimento_key

    started = time.monotonic()
    result: dict = {}
    print(f"[{bench.timestamp()}] backfill_scale {'--quick ' if args.quick else ''}parts: {', '.join(parts)}")
    if "fixed" in parts:
        part_fixed(args, result)
    if "curve" in parts:  # its own data and database: no simulator needed
        part_curve(args)
    rest = [p for p in parts if p not in ("fixed", "curve")]
    if rest:
        size = args.size
        print(f"\n== the year's data: {size['companies']} empreendimentos × {size['days']} days")
        sim, _ = generated_simulator(size["order_lines"], size["days"], size["companies"])
        needs_daemon = bool({"year", "latency"} & set(rest))
        with bench.bench_stack(sim, database_url=args.database_url, start_date=START, daemon=needs_daemon) as st:
            emps = [empreendimento_key(c) for c in sorted(r["id"] for r in sim.rows("res.company"))]
            if "year" in rest:
                part_year(args, st, emps, result)
            if "parallel" in rest:
                part_parallel(args, st, emps[0], result)
            if "protocols" in rest:
                part_protocols(args, st, emps[0])
            if "naive" in rest:
                part_naive(args, st, emps[0], result)
            for extractor in _EXTRACTORS.values():
                extractor.__exit__(None, None, None)
            if "latency" in rest:
                part_latency(args, st, result)
    rss = result.get("rss") or []
    print(
        f"\n[{bench.timestamp()}] done in {time.monotonic() - started:.0f}s; "
        f"this process's peak RSS {peak_rss_self_mb():.0f} MiB"
    )
    print(
        f"fixed_run_s={fmt(result.get('fixed_run_s'))} floor_s={fmt(result.get('floor_s'))} "
        f"year_s={fmt(result.get('year_s'))} year_lines={result.get('year_lines', 'nan')} "
        f"peak_rss_mb={fmt(max(rss) if rss else None, 0)} p50_latency_s={fmt(result.get('p50_latency_s'))} "
        f"p95_latency_s={fmt(result.get('p95_latency_s'))} parallel_speedup={fmt(result.get('parallel_speedup'))} "
        f"naive_ratio={fmt(result.get('naive_ratio'))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
