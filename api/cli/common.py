"""What every ``natid`` command shares: ``--data-dir``, settings, the context, error output.

Every command takes ``--data-dir DIR`` (or reads ``NATID_DATA_DIR``). Errors print one
readable line to stderr and exit non-zero; a NatID error never prints a traceback. A database
that cannot be reached is one of them (``database_unreachable``, core/db.py): the context
connects before the command runs, and the line names the host and port (or the SQLite file)
and the driver's reason, never the URL's password. So is a database URL that cannot be used
(``invalid_database_url``, exit 2 as for other configuration errors), and a database lost in
the middle of the command (:func:`fail_if_database_gone`): one line without the statement or
its parameters, where SQLAlchemy's own error would print both with a page of traceback.
Anything else is a programming error and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.exceptions import TyperException

from api.context import AppContext, build_context
from core.db import connect_check, connection_lost, make_engine
from core.errors import DatabaseUnreachable, InvalidDatabaseURL, NatIDError
from core.settings import Settings, load_settings

__all__ = [
    "DataDirOption",
    "JsonOption",
    "cli_context",
    "cli_errors",
    "cli_settings",
    "fail",
    "fail_if_database_gone",
]

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (database, key store). Default: $NATID_DATA_DIR or ./var",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def cli_settings(data_dir: Path | None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return load_settings(**overrides)
    except NatIDError as exc:
        fail(str(exc), 2)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it was raised from or while handling, back to where it started. A
    service that turns a database error into its own raises it ``from None`` (SQLAlchemy's
    message quotes the parameters), which hides the driver's error from tracebacks but keeps it
    as the context."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def fail_if_database_gone(exc: BaseException, database_url: str) -> None:
    """Exit with one line if ``exc``, or what it was raised from, says that the database went
    away in the middle of the work; return otherwise.

    Two signs: SQLAlchemy marked a statement's connection as broken (``connection_invalidated``:
    the backend was terminated, the server restarted or closed the socket), or a driver error
    about the connection (``OperationalError``, ``InterfaceError``) came while the server
    cannot be connected to now, which one more attempt tells (the server went away between the
    start-up check and the work). The line names where the database is and the driver's reason
    (core/db.py), never the statement, its parameters (ID numbers among them) or the password;
    the transaction that was open is rolled back, as on any error.
    """
    if isinstance(exc, DatabaseUnreachable):
        return  # connect_check's own report
    suspect = False
    for error in _causes(exc):
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            lost = connection_lost(database_url, error)
            fail(f"{lost} [{lost.code}]")
        suspect = suspect or _about_the_connection(error)
    # A SQLite file has no server to go away, and connecting to one that is gone would make it.
    if not suspect or make_url(database_url).get_backend_name() == "sqlite":
        return
    engine = make_engine(database_url)
    try:
        connect_check(engine)
    except DatabaseUnreachable as unreachable:
        fail(f"{unreachable} [{unreachable.code}]")
    finally:
        engine.dispose()


_CONNECTION_ERRORS = frozenset({"OperationalError", "InterfaceError"})


def _about_the_connection(error: BaseException) -> bool:
    """Whether ``error`` is a driver's error about the connection or the server's state: PEP 249
    names those ``OperationalError`` and ``InterfaceError`` in every driver, and SQLAlchemy wraps
    them in classes of the same names (a ``ProgrammingError`` or ``IntegrityError`` never is)."""
    return any(cls.__name__ in _CONNECTION_ERRORS for cls in type(error).__mro__)


@contextlib.contextmanager
def cli_errors(database_url: str) -> Iterator[None]:
    """One line on stderr instead of a traceback, for what the operator can act on: the
    database gone (:func:`fail_if_database_gone`), an unusable database URL (exit 2) and every
    other NatID error (exit 1). Programming errors keep their traceback."""
    try:
        yield
    except (typer.Exit, typer.Abort, TyperException):
        raise  # a command's own exit, or a usage error that typer reports
    except Exception as exc:
        fail_if_database_gone(exc, database_url)
        if isinstance(exc, InvalidDatabaseURL):
            fail(f"{exc} [{exc.code}]", 2)
        if isinstance(exc, NatIDError):
            fail(f"{exc} [{exc.code}]")
        raise


@contextlib.contextmanager
def cli_context(
    data_dir: Path | None,
    *,
    migrate: bool = True,
    check_public_url: bool = True,
    default_public_url: str | None = None,
) -> Iterator[AppContext]:
    """Build the application context for one command, and turn NatID errors and a database
    gone into one line (:func:`cli_errors`). ``check_public_url`` and ``default_public_url``
    go to :func:`~api.context.build_context` (the recorded public base URL)."""
    settings = cli_settings(data_dir)
    ctx: AppContext | None = None
    try:
        with cli_errors(settings.resolved_database_url):
            ctx = build_context(
                settings,
                migrate=migrate,
                check_public_url=check_public_url,
                default_public_url=default_public_url,
            )
            if not migrate:
                # Migrating connected already; otherwise say now that the database is unreachable.
                connect_check(ctx.engine)
            from api.listeners import install_ledger_listeners  # the routers load only when needed

            install_ledger_listeners(ctx)
            yield ctx
    finally:
        if ctx is not None:
            ctx.close()


def is_tty() -> bool:
    return sys.stdout.isatty()
