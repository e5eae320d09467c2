"""One Odoo per environment (issue 10 item 4), with real processes: the simulator keeps its Odoo in
a store file across restarts; the demo plants nothing outside the project-local PostgreSQL;
scripts/dev.sh stops everything it started on a SIGTERM to its process group and never takes a
stranger on the simulator's port for its Odoo."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from sync_pipeline import demo, errors
from sync_pipeline.db import localpg
from sync_pipeline.processes import group_members, pid_alive, port_is_free, stop_pid, wait_port_listening
from sync_pipeline.settings import normalize_pg_url
from sync_pipeline.simulator import persist

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCALE = "0.05"  # 33 orders: each start takes about a second


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the simulator's store ---------------------------------------------------------------------------


class _Simulator:
    """`sync-pipeline simulator` as a user starts it, in its own session, on a free port."""

    def __init__(self, store: Path, *options: str):
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [BIN / "sync-pipeline", "simulator", "--port", str(self.port), "--scale", SCALE, "--store", str(store)]
            + list(options),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if not wait_port_listening(self.port, 30, self.proc.pid):
            self.kill()
            raise AssertionError(f"the simulator did not listen: {self.proc.stdout.read()}")
        self.odoo = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self.port}/xmlrpc/2/object", allow_none=True)
        self.output = ""

    def call(self, model: str, method: str, *args, **kwargs):
        return self.odoo.execute_kw("odoo", 2, "admin", model, method, list(args), kwargs)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=20)
        self.output = self.proc.stdout.read()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def _serving(store: Path, *options: str):
    sim = _Simulator(store, *options)
    try:
        yield sim
    finally:
        sim.kill()


def _new_order(sim: _Simulator) -> str:
    """A quotation with one line, confirmed: the sale order sequence gives its name."""
    partner = sim.call("res.partner", "search", [("customer_rank", ">", 0)], limit=1)[0]
    product = sim.call("product.product", "search", [], limit=1)[0]
    order = sim.call(
        "sale.order",
        "create",
        [{"partner_id": partner, "order_line": [(0, 0, {"product_id": product, "product_uom_qty": 3})]}],
    )[0]
    sim.call("sale.order", "action_confirm", [order])
    return sim.call("sale.order", "read", [order], ["name"])[0]["name"]


def test_the_simulator_keeps_its_odoo_across_restarts_and_fresh_starts_anew(tmp_path):
    store = tmp_path / "odoo.pickle"
    with _serving(store) as sim:
        line = sim.call("sale.order.line", "search_read", [], ["product_uom_qty"], limit=1, order="id")[0]
        sim.call("sale.order.line", "write", [line["id"]], {"product_uom_qty": line["product_uom_qty"] + 7})
        sim.call("res.partner", "create", [{"name": "Cliente Persistido Ltda"}])
        first = _new_order(sim)
        # a second simulator on the same store is refused: two writers would lose each other's edits
        second = subprocess.run(
            [BIN / "sync-pipeline", "simulator", "--port", "0", "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert second.stderr.startswith(f"sync-pipeline simulator: error: the Odoo simulator pid {sim.proc.pid} ")
        assert second.stderr.count("\n") == 1
        assert sim.stop() == 0
    assert "  generated:" in sim.output and f"Odoo simulator stopped (saved to {store})" in sim.output

    with _serving(store) as sim:
        assert sim.call("sale.order.line", "read", [line["id"]], ["product_uom_qty"])[0]["product_uom_qty"] == (
            line["product_uom_qty"] + 7
        )
        assert sim.call("res.partner", "search_count", [("name", "=", "Cliente Persistido Ltda")]) == 1
        assert sim.call("sale.order", "search_read", [("name", "=", first)], ["state"])[0]["state"] == "sale"
        assert _new_order(sim) == f"S{int(first[1:]) + 1:05d}"  # the sequence went on, no number twice
        # saved a moment after a write: a SIGKILL (no shutdown) loses nothing once that save is done
        saved_before = store.stat().st_mtime_ns
        sim.call("res.partner", "create", [{"name": "Depois do Ultimo Save"}])
        deadline = time.monotonic() + 15
        while store.stat().st_mtime_ns == saved_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sim.stop(signal.SIGKILL) == -signal.SIGKILL
    assert "  restored: " in sim.output and "    sale.order: " in sim.output

    with _serving(store) as sim:
        assert sim.call("res.partner", "search_count", [("name", "=", "Depois do Ultimo Save")]) == 1
        assert sim.stop() == 0

    with _serving(store, "--fresh") as sim:
        assert sim.call("res.partner", "search_count", [("name", "like", "Cliente Persistido")]) == 0
        assert sim.call("sale.order", "search_count", [("name", "=", first)]) == 0
        assert sim.stop() == 0
    assert "  generated:" in sim.output
    with _serving(store) as sim:  # --fresh replaced the store
        assert sim.call("res.partner", "search_count", [("name", "like", "Cliente Persistido")]) == 0
        assert sim.stop() == 0


def test_a_corrupt_or_other_format_store_starts_afresh_with_one_line(tmp_path):
    store = tmp_path / "odoo.pickle"
    store.write_bytes(b"\x80\x05 not a store at all")
    with _serving(store) as sim:
        assert sim.stop() == 0
    first_line = sim.output.splitlines()[0]
    assert first_line == f"{store} is not a simulator store file: starting afresh (it will be replaced)"
    assert "  generated:" in sim.output

    # the file is a good store now; an older format, then a truncated copy, are refused
    magic, header, payload = store.read_bytes().split(b"\n", 2)
    old = json.loads(header) | {"format": 0}
    store.write_bytes(magic + b"\n" + json.dumps(old).encode() + b"\n" + payload)
    with _serving(store) as sim:
        assert sim.stop() == 0
    assert sim.output.splitlines()[0] == (
        f"{store} was written by another simulator (format 0, code {old['code']}; this one: format "
        f"{persist.FORMAT}, code {persist.code_fingerprint()}): starting afresh (it will be replaced)"
    )
    good = store.read_bytes()
    store.write_bytes(good[: len(good) // 2])
    with _serving(store) as sim:
        assert sim.stop() == 0
    assert (
        sim.output.splitlines()[0] == f"{store} is corrupt (checksum mismatch): starting afresh (it will be replaced)"
    )
    with _serving(store) as sim:  # and what it generated instead is restored next time
        assert sim.stop() == 0
    assert sim.output.splitlines()[0] == "Odoo simulator ready" and "  restored: " in sim.output


# --- the demo writes only into the project-local PostgreSQL ---------------------------------------


class _Forwarder:
    """A TCP port forwarding to the project-local PostgreSQL, counting the connections it gets: a
    real server behind a URL that is not the project-local one's."""

    def __init__(self, target_port: int):
        self.target_port, self.connections = target_port, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.sock.accept()
                self.connections += 1
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


def test_the_demo_refuses_a_database_that_is_not_the_project_local_one(database_url):
    local = make_url(database_url)
    forwarder = _Forwarder(localpg.default_port())
    try:
        # the same server through another port: a database the demo must not take for the local one
        foreign = local.set(port=forwarder.port, password="s3cret").render_as_string(hide_password=False)
        with create_engine(normalize_pg_url(foreign)).connect():  # it is a real database (connection 1)...
            pass
        store = persist.default_store_path()
        store_before = store.stat().st_mtime_ns if store.exists() else None
        done = subprocess.run(
            [BIN / "sync-pipeline", "demo", "--scale", SCALE, "--days", "3"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DATABASE_URL": foreign, "SYNC_DEPLOYMENT": "local"},
        )
        shown = local.set(port=forwarder.port, password="s3cret", drivername="postgresql").render_as_string()
        assert "***" in shown
        assert done.returncode == 1
        assert done.stderr == (
            f"sync-pipeline demo: error: DATABASE_URL is {shown}, not the project-local PostgreSQL "
            f"(127.0.0.1:{localpg.default_port()}): the demo plants fake pré-separações and separações and loads "
            "generated Odoo data, so it runs only there; unset DATABASE_URL and run `make demo` (it starts that "
            "PostgreSQL); nothing was written\n"
        )
        assert "s3cret" not in done.stdout + done.stderr
        # ...which the demo never connected to, and the simulator's store was left alone
        assert forwarder.connections == 1
        assert (store.stat().st_mtime_ns if store.exists() else None) == store_before

        # the planting step itself refuses too, before it connects
        for url in (foreign, "postgresql://app:pw@db.example.com:5432/producao"):
            with pytest.raises(errors.CommandError, match="not the project-local PostgreSQL"):
                demo.plant_decisions(create_engine(normalize_pg_url(url)))
        assert forwarder.connections == 1
        assert demo.foreign_database(database_url) is None  # the tests' own database is local
    finally:
        forwarder.close()


# --- scripts/dev.sh --------------------------------------------------------------------------------


def _dev_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SIM_PORT": str(_free_port()),
        "DAGSTER_PORT": str(_free_port()),
        "SIM_STORE": str(tmp_path / "odoo.pickle"),
        "SIM_ARGS": f"--scale {SCALE}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("ODOO_URL", None)
    return env | extra


def _dev_sh(env: dict[str, str], log: Path) -> subprocess.Popen:
    """scripts/dev.sh in its own process group (a terminal's job), its output in log."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            ["bash", REPO / "scripts" / "dev.sh"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                children.setdefault(int(stat[stat.rfind(")") + 2 :].split()[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _leftover_simulator(store: Path, port: int) -> int:
    """A simulator of store whose starter exited (a make dev killed with SIGKILL): its pid."""
    subprocess.run(
        [
            "sh",
            "-c",
            f"setsid {BIN / 'sync-pipeline'} simulator --port {port} --scale {SCALE} --store {store} "
            ">/dev/null 2>&1 < /dev/null &",
        ],
        check=True,
        cwd=REPO,
    )
    assert wait_port_listening(port, 30)
    kind, pid, _ = persist.who_serves(store, port)
    assert kind == "leftover"
    return pid


def test_dev_sh_replaces_a_leftover_simulator_and_a_sigterm_to_its_group_stops_everything(tmp_path):
    env = _dev_env(tmp_path)
    sim_port, dagster_port = int(env["SIM_PORT"]), int(env["DAGSTER_PORT"])
    leftover = _leftover_simulator(Path(env["SIM_STORE"]), sim_port)
    log = tmp_path / "dev.log"
    proc = _dev_sh(env, log)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            started |= _descendants(proc.pid)
            if b"dagster dev (pid" in log.read_bytes() and not port_is_free(dagster_port):
                break
            time.sleep(0.5)
        assert proc.poll() is None and not port_is_free(dagster_port), log.read_text()
        started |= _descendants(proc.pid)
        text = log.read_text()
        replaced = (
            f"the Odoo simulator an earlier make dev left running (pid {leftover}) listens on 127.0.0.1:{sim_port}"
        )
        assert f"{replaced}: replacing it" in text
        assert not pid_alive(leftover)
        assert "  restored: " in text  # ours serves the Odoo the leftover saved
        assert persist.who_serves(Path(env["SIM_STORE"]), sim_port)[0] == "running"

        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)  # a supervisor, or `kill -TERM -- -<pgid>`
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGTERM)  # and again, impatient, while dagster dev shuts down
        deadline = t0 + 30
        while time.monotonic() < deadline and (
            group_members(proc.pid) or any(pid_alive(p) for p in started) or not port_is_free(sim_port)
            or not port_is_free(dagster_port)
        ):  # fmt: skip
            time.sleep(0.2)
        assert proc.wait(timeout=5) == 143
        assert not group_members(proc.pid)
        assert [p for p in started if pid_alive(p)] == []
        assert port_is_free(sim_port) and port_is_free(dagster_port)
        assert "Odoo simulator stopped" in log.read_text()
    finally:
        for pid in (proc.pid, *started, leftover):
            if pid_alive(pid):
                stop_pid(pid)
        with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def test_dev_sh_never_takes_a_stranger_on_the_simulator_port(tmp_path):
    env = _dev_env(tmp_path)
    sim_port = int(env["SIM_PORT"])
    with socket.create_server(("127.0.0.1", sim_port)):  # a plain server: not our simulator
        done = subprocess.run(["bash", REPO / "scripts" / "dev.sh"], cwd=REPO, env=env, capture_output=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"==> error: 127.0.0.1:{sim_port} is taken by something that is not this project's Odoo simulator: stop "
        f"it, set SIM_PORT=<free port>, or ODOO_URL=http://127.0.0.1:{sim_port} to sync from it\n"
    )

    # our simulator, started by a process still running (another make dev): not taken over either
    with _serving(Path(env["SIM_STORE"])) as sim:
        done = subprocess.run(
            ["bash", REPO / "scripts" / "dev.sh"],
            cwd=REPO,
            env=env | {"SIM_PORT": str(sim.port)},
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert done.stderr.decode() == (
            f"==> error: 127.0.0.1:{sim.port} is served by this project's Odoo simulator (pid {sim.proc.pid}) for "
            f"pid {os.getpid()}, which still runs (another make dev?): stop it, or set SIM_PORT=<free port>\n"
        )
        assert sim.call("res.company", "search_count", []) > 0  # still serving
        assert sim.stop() == 0
