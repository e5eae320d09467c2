"""Run the Odoo simulator as a standalone server.

    python -m sync_pipeline.simulator.serve --port 8069 --scale 1 --seed 0

Prints the URL, database, credentials and generated counts, then serves until SIGTERM/SIGINT.

With ``--store PATH`` (``sync-pipeline simulator``'s default: ``.local/simulator/odoo.pickle``) the
simulator restores the Odoo saved there instead of generating one, saves it after changes and at
exit, and holds the store while it serves (persist.py); ``--fresh`` generates anew and replaces it.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from datetime import date
from pathlib import Path

from .faults import FaultConfig
from .server import SimulatorServer


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8069,
    scale: float = 1.0,
    seed: int = 0,
    days: int = 60,
    companies: int = 3,
    start_date: date | None = None,
    latency_per_call: float = 0.0,
    latency_per_row: float = 0.0,
    version: str = "17.0",
    order_sequence: str = "shared",
    latency: str = "none",
    store: Path | None = None,
    fresh: bool = False,
) -> None:
    """Serve a dataset over XML-RPC/JSON-RPC/JSON-2 and block until signalled: the one saved in
    ``store`` when there is one (and not ``fresh``), else a generated one (then saved to ``store``)."""
    from . import persist
    from .core import OdooSimulator
    from .generator import generate

    claim = persist.Claim(store, port=port, host=host) if store is not None else None
    try:
        sim = None
        if store is not None and not fresh:
            found = persist.load(store, version=version, order_sequence=order_sequence)
            sim = found.sim
            if sim is None and Path(store).exists():
                print(found.message, flush=True)
        if sim is not None:
            where = f"{persist.shown_path(store)} (saved at {found.saved_at}; --fresh generates anew)"
            counts_title, counts = f"  restored: {where}", persist.record_counts(sim)
        else:
            sim = OdooSimulator(version=version, order_sequence=order_sequence)
            start = start_date or date(2025, 1, 1)
            counts = generate(sim, seed=seed, scale=scale, start_date=start, days=days, companies=companies)
            counts_title = "  generated:"
            if store is not None:
                persist.save(sim, store)
        explicit = {
            k: v for k, v in (("latency_per_call", latency_per_call), ("latency_per_row", latency_per_row)) if v
        }
        faults = FaultConfig.preset(latency, **explicit)
        stop = threading.Event()

        def on_signal(signum, _frame):
            stop.set()

        # Installed explicitly: a background process may inherit SIGTERM/SIGINT as ignored.
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        # The dataset lives as long as the server: keep it out of the cyclic collector's passes (at a
        # million records a full pass takes seconds, and it would land in the middle of a call).
        gc.freeze()
        server = SimulatorServer(sim, host=host, port=port, faults=faults)
        server.start()
        autosave = None
        if claim is not None:
            claim.update(port=server.port, host=host)
            autosave = persist.Autosave(sim, store)
        try:
            lines = [
                "Odoo simulator ready",
                f"  url:      {server.url}",
                f"  database: {sim.db_name}",
                "  login:    admin",
                "  password: admin (also the API key for JSON-2: Authorization: bearer admin)",
                f"  version:  {sim.version}",
                f"  orders:   {sim.order_sequence} sequence (S00001...)",
                f"  latency:  {faults.latency_per_call}s per call, {faults.latency_per_row}s per row ({latency})",
            ]
            if store is not None:
                lines.append(f"  store:    {persist.shown_path(store)} (saved after changes and at exit)")
            lines.append(counts_title)
            lines += [f"    {name}: {value}" for name, value in counts.items()]
            print("\n".join(lines), flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
            saved = autosave is not None and autosave.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            print("Odoo simulator stopped" + (f" (saved to {persist.shown_path(store)})" if saved else ""), flush=True)
    finally:
        if claim is not None:
            claim.release()


def add_arguments(parser: argparse.ArgumentParser, *, default_store: Path | None = None) -> None:
    """The simulator's options (shared with ``sync-pipeline simulator``, whose store is .local/'s)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--store",
        type=Path,
        default=default_store,
        metavar="PATH",
        help="restore the Odoo saved in PATH instead of generating one, save it after changes and at exit "
        f"(default: {default_store or 'none'})",
    )
    parser.add_argument("--no-store", dest="store", action="store_const", const=None, help="keep nothing on disk")
    parser.add_argument(
        "--fresh", action="store_true", help="generate anew even when the store holds an Odoo (and replace it)"
    )
    parser.add_argument("--port", type=int, default=8069)
    parser.add_argument("--scale", type=float, default=1.0, help="data volume (1.0 ≈ 4 orders/company/day)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--companies", type=int, default=3)
    parser.add_argument("--start-date", type=date.fromisoformat, default=None)
    parser.add_argument("--latency-per-call", type=float, default=0.0, help="seconds added to every call")
    parser.add_argument("--latency-per-row", type=float, default=0.0, help="seconds added per row returned")
    parser.add_argument(
        "--latency",
        choices=["none", "real"],  # faults.LATENCY_PRESETS
        default="none",
        help="latency preset: real = a real Odoo 17 (8 ms per call, 0.4 ms per row in one worker); "
        "--latency-per-call/--latency-per-row override its values",
    )
    parser.add_argument(
        "--odoo-version",
        choices=["17.0", "19.0"],
        default="17.0",
        help="the Odoo the simulator answers as (19.0: tax_ids, product_uom_id, formatted_read_group)",
    )
    parser.add_argument(
        "--order-sequence",
        choices=["shared", "per_company"],  # core.ORDER_SEQUENCES, not imported to keep the CLI light
        default="shared",
        help="sale order numbers: one sequence for all companies (Odoo's default) or one per company",
    )


def serve_from_args(args: argparse.Namespace) -> int:
    serve(
        host=args.host,
        port=args.port,
        scale=args.scale,
        seed=args.seed,
        days=args.days,
        companies=args.companies,
        start_date=args.start_date,
        latency_per_call=args.latency_per_call,
        latency_per_row=args.latency_per_row,
        version=getattr(args, "odoo_version", "17.0"),
        order_sequence=getattr(args, "order_sequence", "shared"),
        latency=getattr(args, "latency", "none"),
        store=getattr(args, "store", None),
        fresh=getattr(args, "fresh", False),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a simulated Odoo over its external APIs.")
    add_arguments(parser)
    from .persist import StoreInUse

    try:
        return serve_from_args(parser.parse_args(argv))
    except StoreInUse as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
