"""``natid registry ...``: list, add and bulk-import persons, legal entities and civil servants;
record and show identity proofing.

Examples::

    natid registry add person --json dara.json        # prints the new person's id
    natid registry list persons --json --limit 0      # every person, as JSON
    natid registry import people.csv                   # or --kind entities|servants
    natid registry import people.csv --json           # the report as JSON
    natid registry proof --subject ID --method in_person --level high \\
        --evidence national_id_card --office "One Window Office, Kampot" --officer SERVANT_ID
    natid registry proofing --subject ID --json       # the person's records and current level

``dara.json`` holds at least ``national_id``, ``name_km``, ``name_latin`` and ``birthdate``
(``id`` is optional: a random one is made); the field names, and the CSV format of
``import``, are described in ``registry/schemas.py`` and ``registry/csvimport.py``.

Choices: ``add`` prints only the id, so scripts can capture it (``--json`` names the input
file, as the issue specifies). ``list --json`` includes ``national_id``, since operators script
against it; the table does not, so the number is not left on a screen. ``proof`` prints the
stored record as JSON: codes, the office, the time and internal ids, no personal data (the
register writes its own ``registry.proofing.recorded`` audit entry, actor ``cli``). Its rules
(the method caps the level and decides the evidence; not in the future; an active person; the
officer an active civil servant other than the person) are those of ``registry/proofing.py``
and ``EmbeddedRegister.record_proofing``, the same as the officer pages'. Exit codes: 0 ok, 1
an error or rejected rows (the good rows of an import are still loaded), 2 bad settings or
usage.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail
from core.errors import NatIDError
from registry.csvimport import read_import_file
from registry.proofing import EVIDENCE_FOR
from registry.records import (
    AssuranceLevel,
    CivilServant,
    EvidenceType,
    LegalEntity,
    Person,
    ProofingMethod,
    ProofingRecord,
    RecordKind,
)
from registry.schemas import canonical_id

__all__ = ["app", "entity_json", "person_json", "proofing_json", "servant_json"]

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


def proofing_json(r: ProofingRecord) -> dict[str, Any]:
    """A proofing record for output: codes, the office, the time and internal ids only."""
    return {
        "id": r.id,
        "person_id": r.person_id,
        "method": r.method.value,
        "level": r.level.value,
        "evidence": r.evidence.value,
        "office": r.office,
        "officer_id": r.officer_id,
        "at": r.at.isoformat(),
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


# --- identity proofing -------------------------------------------------------------------------

# The help texts are made from the rules themselves (registry/proofing.py), so they cannot drift.
_METHOD_HELP = (
    "How the identity was checked; the method caps the level: "
    + ", ".join(f"{m.value} (up to {m.max_level.value})" for m in ProofingMethod)
    + "."
)
_EVIDENCE_HELP = (
    "What was checked, by method: "
    + "; ".join(
        f"{m.value}: {', '.join(sorted(e.value for e in EVIDENCE_FOR[m]))}" for m in ProofingMethod
    )
    + "."
)

SubjectOption = Annotated[
    str, typer.Option("--subject", "-s", help="Register id of the person (not an ID card number).")
]


def _person_id(text: str) -> str:
    """``--subject`` in canonical form, or exit 1 without echoing it (it may be an ID number)."""
    try:
        return canonical_id(text)
    except ValueError:
        fail(
            "--subject must be a person's register id (a UUID; `natid registry list persons` "
            "shows them), not an ID card number"
        )


def _proofing_time(text: str | None) -> dt.datetime | None:
    """``--at``: an ISO 8601 date and time with a time zone, or exit 1."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--at {text[:40]!r} is not an ISO 8601 date and time")
    if value.tzinfo is None:
        # A proofing time is a recorded fact: guessing UTC or Cambodian time could shift it by
        # seven hours, so the operator says which.
        fail("--at needs a time zone, for example 2026-10-31T09:30:00+07:00")
    return value.astimezone(dt.UTC)


@app.command()
def proof(
    *,
    subject: SubjectOption,
    method: Annotated[ProofingMethod, typer.Option(help=_METHOD_HELP)],
    level: Annotated[
        AssuranceLevel,
        typer.Option(help="eIDAS level of assurance reached (at most what --method reaches)."),
    ],
    evidence: Annotated[EvidenceType, typer.Option(help=_EVIDENCE_HELP)],
    office: Annotated[
        str,
        typer.Option(help="Where it took place, e.g. 'One Window Office, Kampot' (<= 200 chars)."),
    ],
    officer: Annotated[
        str | None,
        typer.Option(
            help="Register id of the civil servant who checked the identity (active, and not "
            "the person proven)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="When it took place: ISO 8601 with a time zone, not in the future. Default: now."
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Record an identity proofing event of a person; print the stored record as JSON.

    A person's level is their highest record's; citizen-sign and gov-sign certificates need high.
    """
    person_id, when = _person_id(subject), _proofing_time(at)
    with cli_context(data_dir) as ctx:
        record = ctx.register.record_proofing(
            person_id, method=method, level=level, evidence=evidence, office=office,
            officer_id=officer, at=when, actor=CLI_ACTOR,
        )  # fmt: skip
    _echo_json(proofing_json(record))


@app.command("proofing")
def show_proofing(
    subject: SubjectOption, data_dir: DataDirOption = None, as_json: JsonOption = False
) -> None:
    """Show a person's proofing records (oldest first) and the level they hold now."""
    person_id = _person_id(subject)
    with cli_context(data_dir) as ctx:
        records = ctx.register.proofing_records(person_id)
        current = ctx.register.proofing_level(person_id)
    level = current.value if current is not None else None
    if as_json:
        _echo_json(
            {
                "person_id": person_id,
                "current_level": level,
                "records": [proofing_json(r) for r in records],
            }
        )
        return
    typer.echo(f"current level: {level or 'none'}")
    if not records:
        typer.echo("no proofing records")
        return
    header = ["at", "level", "method", "evidence", "officer_id", "office"]
    rows = [
        [f"{r.at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC", r.level.value, r.method.value,
         r.evidence.value, r.officer_id or "-", r.office]
        for r in records
    ]  # fmt: skip
    _table(rows, header)
