"""``natid registry ...``: list, add and bulk-import persons, legal entities and civil servants.

Examples::

    natid registry add person --json dara.json        # prints the new person's id
    natid registry list persons --json --limit 0      # every person, as JSON
    natid registry import people.csv                   # or --kind entities|servants
    natid registry import people.csv --json           # the report as JSON

``dara.json`` holds at least ``national_id``, ``name_km``, ``name_latin`` and ``birthdate``
(``id`` is optional: a random one is made); the field names, and the CSV format of
``import``, are described in ``registry/schemas.py`` and ``registry/csvimport.py``.

Choices: ``add`` prints only the id, so scripts can capture it (``--json`` names the input
file, as the issue specifies). ``list --json`` includes ``national_id``, since operators script
against it; the table does not, so the number is not left on a screen. Exit codes: 0 ok, 1 an
error or rejected rows (the good rows of an import are still loaded), 2 bad settings.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail
from core.errors import NatIDError
from registry.csvimport import read_import_file
from registry.records import CivilServant, LegalEntity, Person, RecordKind

__all__ = ["app", "entity_json", "person_json", "servant_json"]

app = typer.Typer(
    help="The register of persons, legal entities and civil servants.", no_args_is_help=True
)

#: The audit ``actor`` of changes made from the command line.
CLI_ACTOR = "cli"
MAX_JSON_BYTES = 1024 * 1024
#: Rejected rows printed in text mode; ``--json`` lists them all.
MAX_PRINTED_REJECTIONS = 200


class SubjectKind(StrEnum):
    PERSON = "person"
    ENTITY = "entity"
    SERVANT = "servant"


def person_json(p: Person) -> dict[str, Any]:
    return {
        "id": p.id,
        "national_id": p.national_id,
        "name_km": p.name_km,
        "name_latin": p.name_latin,
        "family_name_km": p.family_name_km,
        "given_name_km": p.given_name_km,
        "family_name_latin": p.family_name_latin,
        "given_name_latin": p.given_name_latin,
        "birthdate": p.birthdate.isoformat(),
        "sex": p.sex.value if p.sex is not None else None,
        "nationality": p.nationality,
        "address": p.address,
        "phone": p.phone,
        "email": p.email,
        "status": p.status.value,
        "created_at": p.created_at.isoformat(),
    }


def entity_json(e: LegalEntity) -> dict[str, Any]:
    return {
        "id": e.id,
        "register_no": e.register_no,
        "name_km": e.name_km,
        "name_en": e.name_en,
        "kind": e.kind.value,
        "status": e.status.value,
        "created_at": e.created_at.isoformat(),
    }


def servant_json(s: CivilServant) -> dict[str, Any]:
    return {
        "id": s.id,
        "person_id": s.person_id,
        "ministry_id": s.ministry_id,
        "ministry": s.ministry_name_en,
        "ministry_km": s.ministry_name_km,
        "unit": s.unit,
        "title": s.title,
        "unit_km": s.unit_km,
        "title_km": s.title_km,
        "employee_number": s.employee_number,
        "active": s.active,
        "created_at": s.created_at.isoformat(),
    }


def _echo_json(value: object) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _table(rows: list[list[str]], header: list[str]) -> None:
    # Widths from the Latin columns only are a fair guess: Khmer clusters render narrower than
    # their code-point count, so the Khmer name is the last column.
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("list")
def list_records(
    kind: Annotated[RecordKind, typer.Argument(help="persons, entities or servants")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(min=0, help="At most N records; 0 for all.")] = 100,
) -> None:
    """List persons, legal entities or civil servants (a table, or JSON with --json)."""
    with cli_context(data_dir) as ctx:
        register = ctx.register
        most = limit or None
        if kind is RecordKind.PERSONS:
            records = [person_json(p) for p in register.list_persons(limit=most)]
            header = ["id", "name_latin", "sex", "birthdate", "status", "name_km"]
        elif kind is RecordKind.ENTITIES:
            records = [entity_json(e) for e in register.list_entities(limit=most)]
            header = ["id", "register_no", "kind", "status", "name_en", "name_km"]
        else:
            records = [servant_json(s) for s in register.list_servants(limit=most)]
            header = ["id", "person_id", "employee_number", "ministry", "unit", "title"]
    if as_json:
        _echo_json(records)
        return
    _table([[str(r[h] if r[h] is not None else "") for h in header] for r in records], header)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        if str(path) == "-":
            text = sys.stdin.read(MAX_JSON_BYTES + 1)
        else:
            with path.open(encoding="utf-8") as handle:
                text = handle.read(MAX_JSON_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}")
    if len(text) > MAX_JSON_BYTES:
        fail(f"{path} is larger than {MAX_JSON_BYTES // 1024} KiB")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # The decoder's message gives the position, never the content.
        fail(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(value, dict):
        fail(f"{path} must hold one JSON object")
    return value


@app.command()
def add(
    kind: Annotated[SubjectKind, typer.Argument(help="person, entity or servant")],
    json_file: Annotated[
        Path, typer.Option("--json", help="JSON file with the record ('-' for stdin).")
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Add one person, legal entity or civil servant from a JSON file; print its id."""
    record = _read_json_object(json_file)
    with cli_context(data_dir) as ctx:
        if kind is SubjectKind.PERSON:
            new_id = ctx.register.add_person(record, actor=CLI_ACTOR).id
        elif kind is SubjectKind.ENTITY:
            new_id = ctx.register.add_entity(record, actor=CLI_ACTOR).id
        else:
            new_id = ctx.register.add_servant(record, actor=CLI_ACTOR).id
    typer.echo(new_id)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row of field names.")],
    kind: Annotated[
        RecordKind | None,
        typer.Option(help="persons, entities or servants; default: recognised from the header."),
    ] = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bulk-load a CSV file: valid rows are loaded together, rejected rows listed by line."""
    try:
        data = read_import_file(file)
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")
    with cli_context(data_dir) as ctx:
        report = ctx.register.import_csv(data, kind=kind, actor=CLI_ACTOR)
    if as_json:
        _echo_json(
            {
                "kind": report.kind.value,
                "loaded": report.loaded,
                "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
            }
        )
    else:
        typer.echo(
            f"loaded {report.loaded} {report.kind.value}; rejected {len(report.rejected)} rows"
        )
        for row in report.rejected[:MAX_PRINTED_REJECTIONS]:
            typer.echo(f"  {row}")
        if len(report.rejected) > MAX_PRINTED_REJECTIONS:
            more = len(report.rejected) - MAX_PRINTED_REJECTIONS
            typer.echo(f"  ... and {more} more (use --json for all)")
    if report.rejected:
        raise typer.Exit(1)


# --- life events (issue 8) ---------------------------------------------------------------------


@app.command()
def event(
    json_file: Annotated[
        Path, typer.Option("--json", help="JSON file with one life event ('-' for stdin).")
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Inject a life event, e.g. {"type": "death", "subject": "<person id>", "date": "2026-11-01"};
    print it with its processing outcome as JSON (exit 1 if processing failed)."""
    from api.lifecycle import record_event
    from api.routers.registry_events import event_out
    from registry.events import EventOutcome, EventSource

    record = _read_json_object(json_file)
    with cli_context(data_dir) as ctx:
        stored, _created = record_event(ctx, record, source=EventSource.CLI, actor=CLI_ACTOR)
    _echo_json(event_out(stored))
    if stored.outcome is EventOutcome.FAILED:
        raise typer.Exit(1)


events_app = typer.Typer(help="The register's life-event feed.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("process")
def process_events(data_dir: DataDirOption = None) -> None:
    """Carry out every unprocessed or failed life event (certificates, sessions, roles)."""
    from api.lifecycle import process_pending
    from registry.events import EventOutcome

    with cli_context(data_dir) as ctx:
        done = process_pending(ctx)
    failed = [e for e in done if e.outcome is EventOutcome.FAILED]
    typer.echo(f"processed {len(done)} events; {len(failed)} failed")
    for item in failed:
        typer.echo(f"  {item.id} ({item.type.value}): {(item.outcome_detail or {}).get('error')}")
    if failed:
        raise typer.Exit(1)
