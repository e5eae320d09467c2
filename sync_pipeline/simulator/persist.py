"""The simulator's data on disk, so every local tool serves the same Odoo (``.local/simulator/``).

``make demo`` generates an Odoo, syncs it and edits it; ``make dev`` must then serve that Odoo, with
the demo's edits, or a re-sync from the UI undoes them. So the simulator keeps its state in a file:

- ``<db>.pickle``: the simulator's state (its store whole, the sequences, the clock and whatever
  else the simulator holds), written atomically (temp file, fsync, rename): a kill at any moment
  leaves the previous file or the new one, never half of one. The first line names the format, the
  second is a JSON header (format, a fingerprint of the simulator's code, Odoo version, checksum),
  then the pickle. A file written by another format or another simulator code is not loaded: the
  caller starts afresh and says why in one line.
- ``<db>.pid``: locked (``flock``) for as long as a simulator serves that store, and holding its pid,
  parent pid and port. The lock keeps two simulators from writing one store, and tells the scripts
  whether what listens on a port is ours (:func:`who_serves`); the kernel drops it with the process,
  even on SIGKILL, so a stale file never looks alive.

The simulator's model specs (and their fields) hold lambdas and are code, not data: they are pickled
by name and resolved against the restoring simulator's own specs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the command line builds its parser from this module's paths
    from .core import OdooSimulator

REPO_ROOT = Path(__file__).resolve().parents[2]
STORE_DIR = REPO_ROOT / ".local" / "simulator"
MAGIC = b"sync-pipeline odoo simulator store\n"
FORMAT = 1
# The modules that define what the file holds (the simulator's state, the store and its indexes, the
# models and their fields): after a change to one of them an older file may lack an index or a field
# in ways pickle would not notice, so it is not loaded. A change elsewhere (a method, a computation,
# the generator) applies to the restored data as an upgrade applies to a real Odoo's.
_LAYOUT_MODULES = ("core.py", "store.py", "models.py", "fields.py")
# Rebuilt by OdooSimulator() from the code (specs, caches), not picklable (the lock), or Autosave's hook.
_REBUILT = frozenset({"specs", "metas", "_renames", "_lock", "execute_kw"})
# Methods that never change the store; any other call marks it for saving.
READ_METHODS = frozenset(
    {"search", "search_read", "search_count", "read", "fields_get", "name_search", "read_group", "formatted_read_group"}
)
# Record counts printed on a restore.
SHOWN_MODELS = (
    "res.company",
    "res.partner",
    "product.product",
    "sale.order",
    "sale.order.line",
    "account.move",
    "account.move.line",
)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def default_store_path(db_name: str = "odoo") -> Path:
    return STORE_DIR / f"{db_name}.pickle"


def shown_path(path: Path) -> str:
    """The path relative to the repository when it is inside it (what a user reads in the log)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _LAYOUT_MODULES:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    return digest.hexdigest()[:16]


def record_counts(sim: OdooSimulator) -> dict[str, int]:
    return {model: len(sim.store[model].records) for model in SHOWN_MODELS if model in sim.specs}


# --- save and load ---------------------------------------------------------------------------------


class _Pickler(pickle.Pickler):
    """Pickles the simulator's specs and fields as references to the code that defines them."""

    def __init__(self, file, sim: OdooSimulator):
        from .fields import Field
        from .models import ModelSpec

        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._code_types = (ModelSpec, Field)
        self._refs: dict[int, tuple] = {}
        for name, spec in sim.specs.items():
            self._refs[id(spec)] = ("spec", name)
            for fname, fld in spec.fields.items():
                self._refs[id(fld)] = ("field", name, fname)

    def persistent_id(self, obj):
        if isinstance(obj, self._code_types):
            return self._refs.get(id(obj))
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, sim: OdooSimulator):
        super().__init__(file)
        self._sim = sim

    def persistent_load(self, pid):
        if pid[0] == "spec":
            return self._sim.specs[pid[1]]
        if pid[0] == "field":
            return self._sim.specs[pid[1]].fields[pid[2]]
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")


def snapshot(sim: OdooSimulator) -> bytes:
    """The whole file's bytes for ``sim`` as it is now (taken under the simulator's lock)."""
    buffer = io.BytesIO()
    with sim._lock:  # the lock execute_kw holds: no call is half-applied in the snapshot
        state = {name: value for name, value in vars(sim).items() if name not in _REBUILT}
        _Pickler(buffer, sim).dump(state)
    payload = buffer.getvalue()
    header = {
        "format": FORMAT,
        "code": code_fingerprint(),
        "db_name": sim.db_name,
        "version": sim.version,
        "order_sequence": sim.order_sequence,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "counts": record_counts(sim),
    }
    return MAGIC + json.dumps(header).encode() + b"\n" + payload


def save(sim: OdooSimulator, path: Path) -> None:
    """Write ``sim``'s state to ``path`` atomically: a temp file in the same directory, fsync, rename."""
    data = snapshot(sim)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class Loaded:
    """What :func:`load` found: the restored simulator, or None and the one line saying why not."""

    sim: OdooSimulator | None
    message: str
    saved_at: str = ""


def load(path: Path, *, version: str = "17.0", order_sequence: str = "shared") -> Loaded:
    """The simulator saved in ``path``, if it is a store of this format and code for that Odoo version
    and order sequence; else ``Loaded(None, why)``, and the caller starts afresh."""
    path = Path(path)
    where = shown_path(path)
    if not path.exists():
        return Loaded(None, f"no saved simulator store at {where}")
    try:
        with open(path, "rb") as fh:
            if fh.readline() != MAGIC:
                return Loaded(None, f"{where} is not a simulator store file: starting afresh (it will be replaced)")
            header = json.loads(fh.readline())
            payload = fh.read()
    except (OSError, ValueError) as exc:
        return Loaded(None, f"{where} is unreadable ({exc}): starting afresh (it will be replaced)")
    if not isinstance(header, dict):
        return Loaded(None, f"{where} is corrupt (no header): starting afresh (it will be replaced)")
    ours = {"format": FORMAT, "code": code_fingerprint()}
    found = {key: header.get(key) for key in ours}
    if found != ours:
        return Loaded(
            None,
            f"{where} was written by another simulator (format {found['format']}, code {found['code']}; this one: "
            f"format {FORMAT}, code {ours['code']}): starting afresh (it will be replaced)",
        )
    asked = {"version": version, "order_sequence": order_sequence}
    held = {key: header.get(key) for key in asked}
    if held != asked:
        return Loaded(
            None,
            f"{where} holds an Odoo {held['version']} with {held['order_sequence']} order numbers, not the "
            f"{version} with {order_sequence} order numbers asked for: starting afresh (it will be replaced)",
        )
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        return Loaded(None, f"{where} is corrupt (checksum mismatch): starting afresh (it will be replaced)")
    from .core import OdooSimulator

    sim = OdooSimulator(db_name=header.get("db_name", "odoo"), version=version, order_sequence=order_sequence)
    try:
        state = _Unpickler(io.BytesIO(payload), sim).load()
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means: not a store we can use
        return Loaded(None, f"{where} is corrupt ({type(exc).__name__}: {exc}): starting afresh (it will be replaced)")
    vars(sim).update(state)
    return Loaded(sim, f"restored from {where}", header.get("saved_at", ""))


# --- saving while serving ----------------------------------------------------------------------------


class Autosave:
    """Saves ``sim`` to ``path`` after the calls that may change it: ``delay`` seconds after the last
    one (at most ``max_delay`` after the first unsaved one), from a background thread; ``close`` saves
    what is left. Wraps the instance's ``execute_kw``, the one door of every call, so the simulator's
    code needs no hook."""

    def __init__(
        self,
        sim: OdooSimulator,
        path: Path,
        *,
        delay: float = 1.0,
        max_delay: float = 10.0,
        log: Callable[[str], None] = _err,
    ):
        self.sim, self.path, self.delay, self.max_delay, self.log = sim, Path(path), delay, max_delay, log
        self.saves = 0
        self._cond = threading.Condition()
        self._first_unsaved: float | None = None
        self._last_change = 0.0
        self._closing = False
        original = sim.execute_kw

        def execute_kw(uid, model, method, args=(), kwargs=None):
            try:
                return original(uid, model, method, args, kwargs)
            finally:
                if method not in READ_METHODS:  # a failed write may have changed something too
                    self.changed()

        self._original = original
        sim.execute_kw = execute_kw
        self._thread = threading.Thread(target=self._run, name="simulator-autosave", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        with self._cond:
            now = time.monotonic()
            if self._first_unsaved is None:
                self._first_unsaved = now
            self._last_change = now
            self._cond.notify()

    def _due_in(self) -> float | None:
        if self._first_unsaved is None:
            return None
        now = time.monotonic()
        return max(0.0, min(self._last_change + self.delay, self._first_unsaved + self.max_delay) - now)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closing and (due := self._due_in()) != 0.0:
                    self._cond.wait(due)
                if self._closing:
                    return
                self._first_unsaved = None
            self._save()

    def _save(self) -> bool:
        try:
            save(self.sim, self.path)
        except Exception as exc:  # noqa: BLE001 - serving goes on; the operator is told once per failure
            self.log(f"could not save the simulator's store to {shown_path(self.path)}: {type(exc).__name__}: {exc}")
            return False
        self.saves += 1
        return True

    def close(self) -> bool:
        """Stop the thread and save the changes not saved yet; whether the store now holds every
        change (True too when the last one was already saved a second after it was made)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self.sim.execute_kw = self._original
        with self._cond:
            pending, self._first_unsaved = self._first_unsaved is not None, None
        return self._save() if pending else True


# --- who serves a store -------------------------------------------------------------------------------


def pid_file(store: Path) -> Path:
    return Path(store).with_suffix(".pid")


class StoreInUse(Exception):
    """Another live simulator serves this store."""


class Claim:
    """This process serves ``store``: its pid file locked and filled, until :meth:`release`."""

    def __init__(self, store: Path, *, port: int, host: str = "127.0.0.1"):
        self.path = pid_file(store)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_info(fd)
            os.close(fd)
            raise StoreInUse(
                f"the Odoo simulator pid {holder.get('pid', '?')} (port {holder.get('port', '?')}) already serves "
                f"{shown_path(store)}: stop it first, or give another --store"
            ) from None
        self._fd = fd
        self.update(port=port, host=host)

    def update(self, *, port: int, host: str = "127.0.0.1") -> None:
        info = {"pid": os.getpid(), "ppid": os.getppid(), "port": port, "host": host}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode() + b"\n", 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # drops the lock
        self._fd = None


def _read_info(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def who_serves(store: Path, port: int) -> tuple[str, int, int]:
    """Who holds ``store``'s pid file on ``port``: ("running", pid, parent) for a simulator whose
    starter still runs (another ``make dev``, a terminal), ("leftover", pid, 0) for one whose starter is gone,
    ("foreign", 0, 0) when no simulator of this store serves that port."""
    path = pid_file(store)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ("foreign", 0, 0)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_info(fd)
        else:
            return ("foreign", 0, 0)  # nobody holds it: whatever listens is not a simulator of this store
    finally:
        os.close(fd)
    pid, parent = int(info.get("pid") or 0), int(info.get("ppid") or 0)
    if not pid or info.get("port") != port:
        return ("foreign", 0, 0)
    if parent > 1 and _parent_of(pid) == parent:
        return ("running", pid, parent)
    return ("leftover", pid, 0)
