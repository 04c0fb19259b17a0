"""What every ``natid`` command shares: ``--data-dir``, settings, the context, error output.

Every command takes ``--data-dir DIR`` (or reads ``NATID_DATA_DIR``). Errors print one
readable line to stderr and exit non-zero; a NatID error never prints a traceback. A database
that cannot be reached is one of them (``database_unreachable``, core/db.py): the context
connects before the command runs, and the line names the host and port (or the SQLite file)
and the driver's reason, never the URL's password.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from api.context import AppContext, build_context
from core.db import connect_check
from core.errors import NatIDError
from core.settings import Settings, load_settings

__all__ = ["DataDirOption", "JsonOption", "cli_context", "cli_settings", "fail"]

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


@contextlib.contextmanager
def cli_context(data_dir: Path | None, *, migrate: bool = True) -> Iterator[AppContext]:
    """Build the application context for one command, and turn NatID errors into one line."""
    settings = cli_settings(data_dir)
    ctx: AppContext | None = None
    try:
        ctx = build_context(settings, migrate=migrate)
        if not migrate:
            # Migrating connected already; otherwise say now that the database is unreachable.
            connect_check(ctx.engine)
        from api.listeners import install_ledger_listeners  # the routers load only when needed

        install_ledger_listeners(ctx)
        yield ctx
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")
    finally:
        if ctx is not None:
            ctx.close()


def is_tty() -> bool:
    return sys.stdout.isatty()
