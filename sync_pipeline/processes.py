"""Processes and ports we start and stop: liveness, process groups, ports, stop with escalation.

One home for what the local PostgreSQL (``db/localpg.py``), the ``dagster-daemon`` of a backfill
(``backfill.py``) and the Makefile's scripts (``scripts/lib.sh``) do to their processes. Stopping
follows CONVENTIONS "Processes": a signal, a wait, the next signal; by pid or process group id,
never by name. A child can inherit SIGTERM/SIGINT as ignored, so the last step is always SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# (signal, seconds to wait for the process to go) tried in turn.
Escalation = Sequence[tuple[signal.Signals, float]]
TERM_THEN_KILL: Escalation = ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0))

_POLL_SECONDS = 0.1


def pid_alive(pid: int) -> bool:
    """True while pid runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): trust kill(0)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group; via /proc, else a signal-0 probe."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) != 0


def wait_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = _POLL_SECONDS) -> bool:
    """Poll condition until it holds or timeout_s passes; whether it held."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def wait_pid_gone(pid: int, timeout_s: float) -> bool:
    return wait_until(lambda: not pid_alive(pid), timeout_s)


def wait_port_free(port: int, timeout_s: float = 10.0, host: str = "127.0.0.1") -> bool:
    return wait_until(lambda: port_is_free(port, host), timeout_s)


def wait_port_listening(port: int, timeout_s: float, pid: int | None = None, host: str = "127.0.0.1") -> bool:
    """Until something accepts connections on host:port; whether it does (no longer waiting once
    pid, the server that should listen, died)."""
    wait_until(lambda: not port_is_free(port, host) or (pid is not None and not pid_alive(pid)), timeout_s, 0.5)
    return not port_is_free(port, host)


def stop_pid(pid: int, escalation: Escalation = TERM_THEN_KILL) -> bool:
    """Signal pid with each signal of escalation in turn until it is gone; whether it is gone.

    The caller reaps its own child afterwards (``Popen.wait``, the shell's ``wait``).
    """
    for sig, wait_s in escalation:
        if not pid_alive(pid):
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_pid_gone(pid, wait_s):
            return True
    return not pid_alive(pid)


def stop_group(pgid: int, escalation: Escalation = TERM_THEN_KILL) -> list[int]:
    """Signal what is left in process group pgid, each signal in turn; the pids that survived all."""
    for sig, wait_s in escalation:
        if not group_members(pgid):
            return []
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        wait_until(lambda: not group_members(pgid), wait_s, 0.2)
    return group_members(pgid)


def stop_session_leader(
    pid: int, first: signal.Signals = signal.SIGTERM, log: Callable[[str], None] = print, name: str = "process"
) -> bool:
    """Stop a process started as the leader of its own session, then what it left in its group.

    ``first`` (SIGINT for ``dagster dev``, which shuts its children down on it), 20 s; SIGTERM, 5 s;
    SIGKILL, 5 s; then the group, TERM then KILL. Used by ``scripts/lib.sh``'s ``stop_pid``. Whether
    nothing of it is left.
    """
    if pid_alive(pid):
        log(f"stopping {name} (pid {pid})")
        if not stop_pid(pid, ((first, 20.0), (signal.SIGTERM, 5.0))):
            log(f"{name} (pid {pid}) ignored SIGTERM: killing it")
            if not stop_pid(pid, ((signal.SIGKILL, 5.0),)):
                log(f"WARNING: {name} (pid {pid}) is still alive")
    if group_members(pid):
        log(f"stopping processes {name} left behind (process group {pid})")
    left = stop_group(pid, ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)))
    if left:
        log(f"WARNING: processes of {name}'s group {pid} survived SIGKILL: {left}")
    return not left and not pid_alive(pid)
