"""``natid``: the operator's command line.

Start with ``natid init`` (data directory, database, development key store, demo data) and
``natid serve``. Every command takes ``--data-dir DIR`` or reads ``NATID_DATA_DIR``; every other
setting is an ``NATID_*`` environment variable (see README.md). Errors print one line and exit
non-zero.
"""

from __future__ import annotations

import os
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from api.cli import (
    audit,
    ca,
    ca_expiry,
    ca_ocsp,
    ca_public_url,
    ca_tsa,
    ceremony,
    health,
    idp_user,
    keys,
    kyc,
    operator,
    registry,
    registry_external,
)
from api.cli import idp as idp_cli
from api.cli import sign as sign_cli
from api.cli.ca_log import app as log_app
from api.cli.common import (
    DataDirOption,
    cli_context,
    cli_settings,
    fail,
    fail_if_database_gone,
)
from api.context import AppContext
from api.demo_setup import demo_block, ensure_demo_site

app = typer.Typer(
    name="natid",
    help=(
        "NatID: national digital identity and trust services.\n\n"
        "First run: `natid init`, then `natid serve` and open http://localhost:8000/readyz.\n"
        "Settings come from NATID_* environment variables; --data-dir overrides NATID_DATA_DIR."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys.app, name="keys", help="Keys in the key backend (never shows key material).")
app.add_typer(
    audit.app, name="audit", help="The audit ledger: verify, tail, head, checkpoint, export-key."
)
ca_ocsp.register(ca.app)
ca_public_url.register(ca.app)
ca_tsa.register(ca.app)
ca_expiry.register(ca.app)
ca.app.add_typer(log_app, name="log", help="The transparency log: verify, sth, subject.")
app.add_typer(ca.app, name="ca", help="The certificate authority: hierarchy, issuance, listing.")
app.add_typer(
    operator.app, name="operator", help="Operators of the admin and RA APIs and their tokens."
)
registry.app.command("check-external")(registry_external.check_external)
app.add_typer(registry.app, name="registry", help="The register of persons, entities, servants.")
idp_cli.app.add_typer(
    idp_user.app, name="user", help="IdP accounts: set-password, enroll-totp, show."
)
app.add_typer(idp_cli.app, name="idp", help="The OpenID provider: clients, signing keys, users.")
app.add_typer(sign_cli.app, name="sign", help="PDF signatures (PAdES B-B..B-LTA) and validation.")
app.add_typer(kyc.app, name="kyc", help="KYC for banks: relying parties and access figures.")
app.command("seal", help="E-seal every PDF of a directory with an entity's eseal certificate.")(
    sign_cli.seal_command
)
app.add_typer(
    health.app,
    name="health",
    help="Health credentials (EU DCC): issue, verify, revoke, signers, trust lists.",
)
app.add_typer(
    ceremony.app, name="ceremony", help="Key ceremonies: hash-passphrase, run (--dry-run), verify."
)


def _initialise(ctx: AppContext, *, demo: bool) -> int:
    """The idempotent part of `natid init` (also run by `natid serve` on an empty directory):
    the development hierarchy, the OpenID provider's signing key and, with ``demo``, the
    synthetic register. Returns how many demo records were added."""
    created = ctx.register.load_demo() if demo else 0
    ctx.ca().ensure_hierarchy(actor="natid-init")
    # The OpenID provider signs ID and access tokens from its first request on.
    ctx.idp_core().signing_keys.ensure_active(actor="natid-init")
    return created


def _sign_checkpoint(ctx: AppContext) -> int | None:
    """Sign the ledger's state once everything init or serve's start-up writes is in it (the
    demo accounts included), so even a fresh installation has a checkpoint that `natid audit
    verify` checks against the key backend. Returns the sequence number it covers (None for
    an empty ledger, which has nothing to sign); signs nothing new if the newest entry is
    already covered."""
    if ctx.ledger.head().seq == 0:
        return None
    return ctx.ledger.checkpoint().seq


def _refuse_production_init(ctx: AppContext, what: str) -> None:
    """Production mode never makes a development hierarchy or loads the synthetic register."""
    if ctx.settings.production and not ctx.ca().authorities():
        fail(
            f"{what}: production mode never initialises a data directory (a development CA "
            "hierarchy and the synthetic demo register): make the CA hierarchy with a key "
            "ceremony first (natid ceremony run FILE; docs/ceremonies.md) and load the "
            "register (natid registry import, or NATID_REGISTER=xroad); docs/deployment.md, "
            '"The first start"'
        )


@app.command()
def init(
    data_dir: DataDirOption = None,
    demo: Annotated[bool, typer.Option(help="Load the synthetic demo register.")] = True,
) -> None:
    """Create the data directory, database, development key store and demo data (idempotent)."""
    with cli_context(data_dir) as ctx:
        _refuse_production_init(ctx, "not initialising")
        if ctx.settings.production and demo:
            fail(
                "not initialising: production mode refuses the synthetic demo register; "
                "run `natid init --no-demo` (the hierarchy must come from a key ceremony)"
            )
        created = _initialise(ctx, demo=demo)
        counts = ctx.register.counts()
        typer.echo(f"data directory: {ctx.settings.data_dir.resolve()}")
        typer.echo(f"database: {ctx.engine.url.render_as_string(hide_password=True)}")
        typer.echo(f"key backend: {ctx.keys.name} ({len(ctx.keys.list())} keys)")
        authorities = ", ".join(a.name for a in ctx.ca().authorities())
        typer.echo(f"certificate authorities: {authorities}")
        typer.echo(f"public base URL: {ctx.settings.base_url} (recorded; certificates name it)")
        idp_key = ctx.idp_core().signing_keys.active_info()
        typer.echo(f"OpenID provider signing key: {idp_key.kid} ({idp_key.alg})")
        typer.echo(
            "register: "
            + ", ".join(f"{n} {kind}" for kind, n in counts.items())
            + (" (synthetic demo data loaded)" if created else "")
        )
        # The demo site (development only): its client and demo accounts, printed each time.
        demo_site = ensure_demo_site(ctx) if demo else None
        signed_seq = _sign_checkpoint(ctx)
        if signed_seq is not None:
            typer.echo(f"audit ledger: {signed_seq} entries, checkpoint signed")
        if demo_site is not None:
            typer.echo(demo_block(demo_site))
        typer.echo("NatID is initialised. Next: natid serve")


#: How long uvicorn's supervisor waits for a worker's health check (see uvicorn_options).
WORKER_HEALTHCHECK_SECONDS = 60


def uvicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """What ``natid serve`` runs uvicorn with (besides the application factory)."""
    from api.http_protocol import OneWriteHttpToolsProtocol

    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        # uvicorn's httptools protocol, sending each response's headers with its body in one
        # write (api/http_protocol.py).
        "http": OneWriteHttpToolsProtocol,
        "log_config": None,
        # The app applies the proxy headers itself (api/app.py), after noting the peer.
        "proxy_headers": False,
        # Our middleware logs each request (api/observability.py); uvicorn's access line would
        # repeat it, and uvicorn formats its arguments (quoting the whole path) on every
        # response even while its logger is disabled.
        "access_log": False,
        # With several workers, uvicorn's supervisor restarts a worker that has not answered
        # its health check within this many seconds. A worker imports and builds the whole
        # application first, which took 8-10 s on a busy 2-CPU host: the default 5 s had the
        # supervisor replace starting workers again and again.
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
    }


def _check_cache(ctx: AppContext) -> None:
    """Refuse to serve, before anything is initialised, on a cache that cannot keep NatID's
    short-lived state: a Redis that does not answer (NATID_REDIS_URL) or may evict keys."""
    from core.cache import CacheError

    try:
        ctx.cache.health_check()
    except CacheError as exc:
        fail(f"not starting: {exc.message}")


def port_mismatch(public_base_url: str, port: int) -> str | None:
    """A warning when the public base URL is this machine's and names another port than the
    one served: discovery, the demo site and the certificates would send clients there."""
    url = urlsplit(public_base_url)
    if url.hostname not in {"localhost", "127.0.0.1", "::1"}:
        return None  # a proxy's name: the port it listens on is its own
    named = url.port or (443 if url.scheme == "https" else 80)
    if named == port:
        return None
    return (
        f"warning: the public base URL is {public_base_url}, but this server listens on port "
        f"{port}; discovery, the demo site and certificate URLs name port {named}. Serve on port "
        f"{named}, or change the URL with `natid ca set-public-url http://localhost:{port}` "
        "(certificates already issued keep theirs); for a new data directory, set "
        f"NATID_PUBLIC_BASE_URL=http://localhost:{port} before its first `natid init`"
    )


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the NatID server (initialising the data directory first if needed; never in
    production mode)."""
    import uvicorn

    from api.observability import configure_logging
    from api.upkeep import attention_lines

    settings = cli_settings(data_dir)
    if data_dir is not None:
        # Workers are separate processes that read their settings from the environment.
        os.environ["NATID_DATA_DIR"] = str(data_dir)
    # Without NATID_PUBLIC_BASE_URL, a data directory's first URL names the port served;
    # afterwards the recorded one is used (core/installation.py).
    with cli_context(data_dir, default_public_url=f"http://localhost:{port}") as ctx:
        _check_cache(ctx)
        if ctx.settings.production:
            # Never a development hierarchy or the synthetic register (docs/deployment.md).
            _refuse_production_init(ctx, "not starting")
            ctx.idp_core().signing_keys.ensure_active(actor="natid-serve")
        elif ctx.register.counts().get("persons", 0) == 0 or not ctx.ca().authorities():
            typer.echo(f"initialising {ctx.settings.data_dir.resolve()}", err=True)
            _initialise(ctx, demo=True)
        # The demo site's client follows the public base URL (registered again if it changed).
        demo_site = ensure_demo_site(ctx)
        _sign_checkpoint(ctx)
        if demo_site is not None:
            typer.echo(demo_block(demo_site), err=True)
        # Short-lived OCSP responder certificates are renewed before they expire.
        for renewed in ca_ocsp.renew_due_responders(ctx):
            typer.echo(
                f"OCSP responder of {renewed.issuer} renewed: {renewed.serial_hex}", err=True
            )
        # What needs an operator (a CA or the TSA near its end, a CRL not republished in time),
        # as `natid ca expiry` says it; the running server repeats it daily (api/upkeep.py).
        for line in attention_lines(ctx):
            typer.echo(f"warning: {line}", err=True)
        public_base_url = ctx.settings.public_base_url
    mismatch = port_mismatch(public_base_url, port)
    if mismatch is not None:
        typer.echo(mismatch, err=True)
    typer.echo(f"NatID serving on http://{host}:{port}/ (readiness: /readyz)", err=True)
    if workers > 1:
        # prometheus_client picks its multiprocess mode from this variable when it is imported,
        # so it must be set before uvicorn spawns the workers; stale files would skew counts.
        import shutil

        metrics_dir = (settings.data_dir / "run" / "prometheus").resolve()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if settings.redis_url is None and workers > 1:
        typer.echo(
            "warning: several workers without NATID_REDIS_URL keep short-lived state per worker",
            err=True,
        )
    # The workers do not read the database for it: they get the URL settled on here.
    os.environ["NATID_PUBLIC_BASE_URL"] = public_base_url
    if workers > 1:
        # The supervisor of several workers logs through uvicorn's loggers in this process (a
        # worker that died and was replaced, a restart that failed): as JSON lines, like the
        # workers' own (log_config=None leaves the logging to NatID). One worker runs in this
        # process and configures the logging itself (api/app.py).
        configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run("api.app:create_app_from_env", **uvicorn_options(host, port, workers))


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOption = None) -> None:
    """Apply every pending migration."""
    from core.db import connect_check, make_engine
    from core.errors import DatabaseUnreachable, InvalidDatabaseURL
    from migrations import upgrade

    settings = cli_settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    try:
        engine = make_engine(url)
    except InvalidDatabaseURL as exc:
        fail(f"{exc} [{exc.code}]", 2)
    try:
        connect_check(engine)
        upgrade(engine)
    except DatabaseUnreachable as exc:
        fail(f"{exc} [{exc.code}]")
    except Exception as exc:  # noqa: BLE001 - one readable line for the operator
        fail_if_database_gone(exc, url)
        fail(f"migration failed: {type(exc).__name__}: {_migration_error(exc)}")
    finally:
        engine.dispose()
    typer.echo("database is at the newest revision")


def _migration_error(exc: Exception) -> str:
    """The first line of what went wrong in a migration: for a database error the driver's own
    reason, never SQLAlchemy's text around it, which quotes the statement and its parameters
    (a data migration's can hold register data)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        text = str(exc.orig).strip() if exc.orig is not None else ""
    else:
        text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


@app.command()
def version() -> None:
    """Print NatID's version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("natid"))


def run() -> None:
    """Console-script entry point."""
    app()
