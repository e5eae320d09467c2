"""The simulator at scale: indexed searches equal brute force, the bulk generator's data is what
the ORM computes, the server reports its own time per call, and the real-Odoo latency preset costs
what DESIGN §4 measured."""

from __future__ import annotations

import argparse
import threading
import time

import pytest
import requests

from sync_pipeline.simulator.core import OdooSimulator
from sync_pipeline.simulator.faults import REAL_ODOO_PER_CALL, REAL_ODOO_PER_ROW, FaultConfig
from sync_pipeline.simulator.generator import generate
from sync_pipeline.simulator.serve import add_arguments
from sync_pipeline.simulator.server import SimulatorServer

DB, KEY = "odoo", "admin"


def json2(session, url, model, method, **named):
    response = session.post(
        f"{url}/json/2/{model}/{method}",
        json=named,
        headers={"Authorization": f"bearer {KEY}", "X-Odoo-Database": DB},
    )
    assert response.status_code == 200, response.text
    return response


@pytest.fixture(scope="module")
def server():
    sim = OdooSimulator()
    generate(sim, seed=7, scale=0.3, days=20, companies=2)
    with SimulatorServer(sim) as srv:
        yield srv


@pytest.fixture
def clean(server):
    server.faults.clear()
    server.reset_stats()
    yield server
    server.faults.clear()


# -- the server's own time --------------------------------------------------------------------
def test_every_answer_carries_the_servers_own_seconds_and_stats_add_them_up(clean):
    server, session = clean, requests.Session()
    server.faults.update(latency_per_call=0.05)  # injected latency is not the simulator's time
    seconds = []
    for _ in range(3):
        response = json2(session, server.url, "sale.order.line", "search_read", domain=[], fields=["name"], limit=20)
        seconds.append(float(response.headers["X-Simulator-Seconds"]))
    json2(session, server.url, "res.partner", "search_count", domain=[])
    assert all(0 < s < 0.05 for s in seconds)
    stats = session.get(f"{server.url}/sim/stats").json()["server_time"]
    assert stats["calls"] == 4
    assert stats["by_method"]["sale.order.line"]["search_read"]["calls"] == 3
    assert stats["by_method"]["res.partner"]["search_count"]["calls"] == 1
    assert stats["seconds"] == pytest.approx(server.timings.seconds(), abs=1e-5)
    assert sum(seconds) <= stats["seconds"] < 0.05 * 4
    assert stats["by_protocol"].keys() == {"json2"}
    session.post(f"{server.url}/sim/reset-stats")
    assert server.timings.snapshot()["calls"] == 0


# -- the real-Odoo latency preset -------------------------------------------------------------
def test_real_odoo_preset_costs_8_ms_per_call_and_0_4_ms_per_row(clean):
    server, session = clean, requests.Session()
    preset = FaultConfig.real_odoo()
    assert (preset.latency_per_call, preset.latency_per_row, preset.row_workers) == (0.008, 0.0004, 1)
    server.faults.update(**{k: v for k, v in preset.settings().items() if k != "seed"})

    def timed(limit):
        started = time.perf_counter()
        response = json2(session, server.url, "sale.order.line", "search_read", domain=[], fields=["name"], limit=limit)
        assert len(response.json()) == limit
        return time.perf_counter() - started

    trivial = min(timed(1) for _ in range(5))
    page = min(timed(100) for _ in range(3))
    assert REAL_ODOO_PER_CALL + REAL_ODOO_PER_ROW <= trivial < 0.030
    assert REAL_ODOO_PER_CALL + 100 * REAL_ODOO_PER_ROW <= page < 0.090
    # one worker: two pages asked at once queue for it, as on one threaded Odoo process
    threads = [threading.Thread(target=timed, args=(100,)) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - started >= REAL_ODOO_PER_CALL + 200 * REAL_ODOO_PER_ROW


def test_latency_option_of_the_simulator_command():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).latency == "none"
    args = parser.parse_args(["--latency", "real"])
    faults = FaultConfig.preset(args.latency)
    assert (faults.latency_per_call, faults.latency_per_row) == (REAL_ODOO_PER_CALL, REAL_ODOO_PER_ROW)
    assert FaultConfig.preset("real", latency_per_call=0.02).latency_per_call == 0.02
    assert FaultConfig.preset("none").settings()["latency_per_call"] == 0.0
    with pytest.raises(ValueError, match="unknown latency preset"):
        FaultConfig.preset("slow")
    with pytest.raises(SystemExit):
        parser.parse_args(["--latency", "slow"])
