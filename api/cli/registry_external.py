"""``natid registry check-external``: is the civil register on X-Road reachable and ours?

It reads the ``NATID_XROAD_*`` settings, connects to the X-Road security server with mutual
TLS, asks the register's subsystem for its services (``listMethods``) and requires the
configured one among them. With ``--person-id`` it also reads that person and prints whether
it was found and the proofing level: ids and codes only, no personal data on the screen.

Exit codes: 0 reachable, 1 unreachable or refused, 2 bad settings.

Wiring (main.py): ``registry.app.command("check-external")(registry_external.check_external)``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli.common import DataDirOption, JsonOption, cli_settings, fail
from api.register_port import xroad_config
from core.clock import SystemClock
from core.errors import NatIDError
from core.settings import SettingsError
from registry.errors import SubjectNotFound
from registry.xroad import XRoadRegister

__all__ = ["check_external"]


def check_external(
    data_dir: DataDirOption = None,
    person_id: Annotated[
        str | None, typer.Option("--person-id", help="Also read this person (internal id).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the connection to the civil register behind the X-Road security server."""
    settings = cli_settings(data_dir)
    try:
        config = xroad_config(settings)
        register = XRoadRegister(config, clock=SystemClock())
    except SettingsError as exc:
        fail(str(exc), code=2)
    except OSError as exc:
        fail(f"the X-Road TLS files cannot be loaded ({type(exc).__name__})", code=2)
    report: dict[str, object] = {"register": settings.register_adapter, "service": config.service}
    try:
        report["services"] = list(register.check())
        if person_id is not None:
            try:
                level = register.proofing_level(person_id)
            except SubjectNotFound:
                report["person"] = {"id": person_id, "found": False}
            else:
                report["person"] = {
                    "id": person_id,
                    "found": True,
                    "proofing_level": level.value if level is not None else None,
                }
    except NatIDError as exc:
        fail(f"the external register is not usable: {exc}")
    finally:
        register.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    offered = report["services"]
    assert isinstance(offered, list)
    typer.echo(f"reachable: {config.service} ({len(offered)} services offered)")
    if "person" in report:
        typer.echo(f"person: {json.dumps(report['person'])}")
