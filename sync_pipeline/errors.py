"""What the command line tells an operator when a command fails: one line and an exit code.

``explain(exc)`` is the one place that turns an exception into that line. Mistakes an operator can
fix (Odoo or PostgreSQL unreachable, a wrong login, database or argument) name the setting or the
option to change; anything else is an unexpected error, and ``--debug`` shows its traceback.

Exit codes: 0 success, 1 a failure (configuration, a server, a failed run, unexpected), 2 a wrong
command line (argparse's own code), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg2

from sync_pipeline import settings
from sync_pipeline.odoo.errors import OdooAuthError, OdooError, OdooServerError, OdooTransientError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

LOCAL_PG_HINT = "for the project-local PostgreSQL run `sync-pipeline db start` (or `make pg-start`)"
_LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}
_MISSING_DATABASE = re.compile(r'database "([^"]*)" does not exist')
_PG_CONNECT_FAILED = re.compile(r"connection to server|could not connect|could not translate host name|timeout expired")
_PG_LOGIN_FAILED = re.compile(r'authentication failed for user "([^"]*)"')


class CommandError(Exception):
    """A mistake the operator can fix, already phrased as the line to print (exit 1)."""

    exit_code = EXIT_FAILURE


class UsageError(CommandError):
    """A wrong value on the command line that argparse cannot see (exit 2, as argparse's own)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Explanation:
    message: str
    exit_code: int = EXIT_FAILURE


def explain(exc: BaseException) -> Explanation:
    """The line for ``exc``: from the first exception in its chain that we know, else 'unexpected'."""
    if isinstance(exc, KeyboardInterrupt):
        return Explanation("interrupted", EXIT_INTERRUPTED)
    for link in _chain(exc):
        for kind, describe in _known():
            if isinstance(link, kind):
                found = describe(link)
                if found is not None:
                    return found
    return Explanation(f"unexpected error: {_first_line(exc)}; run with --debug for the traceback")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps: a DB-API error inside SQLAlchemy's, causes and contexts."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 20:
        link = pending.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        pending.extend(e for e in (getattr(link, "orig", None), link.__cause__, link.__context__) if e is not None)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


# --- our own and the settings' ---------------------------------------------------------------------


def _command_error(exc: CommandError) -> Explanation:
    return Explanation(str(exc), exc.exit_code)


def _settings_error(exc: settings.SettingsError) -> Explanation:
    return Explanation(str(exc))


# --- Odoo ------------------------------------------------------------------------------------------


def _odoo_login() -> dict[str, str]:
    """URL, database and login as the deployment configures them (the client's errors omit the URL)."""
    try:
        return settings.deployment_settings().odoo
    except settings.SettingsError:
        return {"url": "ODOO_URL", "db": "ODOO_DB", "username": "ODOO_USERNAME"}


def _why_unreachable(detail: str) -> str:
    lowered = detail.lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "host name not found"),
        ("failed to resolve", "host name not found"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
    ):
        if needle in lowered:
            return reason
    status = re.search(r"\bHTTP (\d{3})\b", detail)
    return f"HTTP {status.group(1)}" if status else detail.strip().splitlines()[0].split(";")[0][:120]


def _odoo_transient(exc: OdooTransientError) -> Explanation:
    login = _odoo_login()
    if "not retried" in exc.detail:  # a write that may have been applied: the client's own words matter
        return Explanation(f"Odoo at {login['url']}: {exc}")
    attempts = f", {exc.attempts} attempts" if exc.attempts > 1 else ""
    return Explanation(
        f"Odoo at {login['url']} is unreachable ({_why_unreachable(exc.detail)}{attempts}): "
        "check ODOO_URL and that the server is up"
    )


def _odoo_auth(exc: OdooAuthError) -> Explanation:  # noqa: ARG001
    login = _odoo_login()
    return Explanation(
        f"Odoo at {login['url']} refused login {login['username']!r} on database {login['db']!r}: "
        "check ODOO_API_KEY (the user's API key or password) and ODOO_USERNAME"
    )


def _odoo_server(exc: OdooServerError) -> Explanation | None:
    missing = _MISSING_DATABASE.search(exc.detail)
    if missing is None:
        return None
    login = _odoo_login()
    return Explanation(f"Odoo at {login['url']} has no database {missing.group(1)!r}: check ODOO_DB")


def _odoo_other(exc: OdooError) -> Explanation:
    return Explanation(f"Odoo at {_odoo_login()['url']}: {str(exc).strip().splitlines()[0]}")


# --- PostgreSQL ------------------------------------------------------------------------------------


def _shown_database_url() -> tuple[str, str]:
    """DATABASE_URL as the operator wrote it minus its password, and its host."""
    try:
        url = settings.libpq_url(settings.database_url())
    except settings.SettingsError:
        return "DATABASE_URL", ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.password is not None:
        user = parts.username or ""
        netloc = f"{user}@{parts.netloc.rsplit('@', 1)[1]}"
        url = parts._replace(netloc=netloc).geturl()
    return url, host


def _postgres(exc: psycopg2.OperationalError) -> Explanation | None:
    """Connecting failed: the server cannot be reached, or refuses the login or the database."""
    text = str(exc)
    if not _PG_CONNECT_FAILED.search(text):
        return None  # a failure after connecting (a query cancelled, a dropped session) is no setting's fault
    url, host = _shown_database_url()
    if (missing := _MISSING_DATABASE.search(text)) is not None:
        name = missing.group(1)
        local = f" (or `sync-pipeline db createdb {name}` on the project-local one)" if host in _LOCAL_HOSTS else ""
        return Explanation(f"PostgreSQL at {url} has no database {name!r}: check DATABASE_URL{local}")
    if (login := _PG_LOGIN_FAILED.search(text)) is not None:
        return Explanation(f"PostgreSQL at {url} refused user {login.group(1)!r}: check the password in DATABASE_URL")
    hint = f"; {LOCAL_PG_HINT}" if host in _LOCAL_HOSTS else " and that the server is up"
    return Explanation(f"PostgreSQL at {url} is unreachable ({_why_unreachable(text)}): check DATABASE_URL{hint}")


def _invalid_config(exc: Exception) -> Explanation:
    """Dagster's config error: the resources' own messages name the variable (ODOO_PROTOCOL)."""
    return Explanation(str(exc).strip().splitlines()[0])


def _known() -> tuple[tuple[type[BaseException], Callable[..., Explanation | None]], ...]:
    """Dagster's errors only when it is loaded: otherwise none was raised, and importing it takes seconds."""
    dagster = sys.modules.get("dagster")
    return _KNOWN + (((dagster.DagsterInvalidConfigError, _invalid_config),) if dagster is not None else ())


# Most specific first: the first one that returns an explanation wins.
_KNOWN: tuple[tuple[type[BaseException], Callable[..., Explanation | None]], ...] = (
    (CommandError, _command_error),
    (settings.SettingsError, _settings_error),
    (OdooTransientError, _odoo_transient),
    (OdooAuthError, _odoo_auth),
    (OdooServerError, _odoo_server),
    (OdooError, _odoo_other),
    (psycopg2.OperationalError, _postgres),
)
