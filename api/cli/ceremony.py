"""``natid ceremony ...``: key ceremonies from a declarative file (issue 3; docs/ceremonies.md).

Examples::

    natid ceremony hash-passphrase                         # each officer, before the ceremony
    natid ceremony run examples/ceremony.yaml --dry-run    # validate, rehearse, print the plan
    natid ceremony run examples/ceremony.yaml              # officers type their passphrases
    natid ceremony verify var/ceremonies/<id>-<time>.json --root root.pem

Choices:

* Passphrases are typed at hidden prompts, one officer after the other; Enter alone declines.
  For rehearsals and tests, ``--passphrases-from FILE`` reads ``officer_id: passphrase`` lines
  (``#`` comments, blank lines ignored; spaces around the passphrase are not part of it). That
  file must be a regular file readable by its owner only (mode 0600 or 0400): anything group-
  or world-readable is refused before the ceremony starts. An officer missing from it has
  declined, and a wrong passphrase there gets no second attempt.
* The transcript goes to ``--transcript FILE`` or ``<data dir>/ceremonies/<id>-<UTC time>.json``,
  with the signatures in ``FILE.sig``; neither is ever overwritten.
* ``verify`` works offline on the two files; ``--root PEM`` pins the root certificate the
  auditor trusts, ``--ceremony-file`` the file that was run, and ``--check-store`` also
  compares the certificates with the hierarchy stored in the data directory.

Exit codes: 0 ok, 1 an error (invalid file, quorum not met, verification failed), 2 bad settings.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import DataDirOption, cli_context, cli_settings, fail
from core.errors import NatIDError

if TYPE_CHECKING:
    from api.context import AppContext
    from ca.ceremony import CeremonyPlan, CeremonyRunner, OfficerOutcome
    from ca.ceremony_file import Officer

__all__ = ["app", "read_passphrase_file"]

app = typer.Typer(
    help="Key ceremonies: hash-passphrase, run (--dry-run first), verify a transcript.",
    no_args_is_help=True,
)

FileArgument = Annotated[Path, typer.Argument(help="The ceremony file (YAML).", show_default=False)]
MAX_PASSPHRASE_FILE = 64 * 1024


def _read(path: Path, what: str, limit: int = 8 * 1024 * 1024) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        fail(f"cannot read the {what} {path}: {exc.strerror or type(exc).__name__}")
    if len(data) > limit:
        fail(f"the {what} {path} is larger than {limit} bytes")
    return data


def read_passphrase_file(path: Path) -> dict[str, str]:
    """``officer_id: passphrase`` lines of a file only its owner may read (see the docstring)."""
    try:
        info = path.stat()
    except OSError as exc:
        fail(f"cannot read the passphrase file {path}: {exc.strerror or type(exc).__name__}")
    if not stat.S_ISREG(info.st_mode):
        fail(f"the passphrase file {path} is not a regular file")
    if info.st_mode & 0o077:
        fail(
            f"the passphrase file {path} is readable by others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 it first"
        )
    secrets: dict[str, str] = {}
    text = _read(path, "passphrase file", MAX_PASSPHRASE_FILE).decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        officer, sep, secret = line.partition(":")
        if not sep or not officer.strip() or not secret.strip():
            # Never echo the line: it holds a passphrase.
            fail(f"{path} line {number}: expected 'officer_id: passphrase'")
        if officer.strip() in secrets:
            fail(f"{path} line {number}: officer {officer.strip()[:32]!r} is given twice")
        secrets[officer.strip()] = secret.strip()
    return secrets


def _runner(ctx: AppContext) -> CeremonyRunner:
    from importlib.metadata import version

    from ca.ceremony import CeremonyRunner
    from ca.urls import PkiUrls

    return CeremonyRunner(
        keys=ctx.keys,
        ca=ctx.ca(),
        ledger=ctx.ledger,
        clock=ctx.clock,
        urls=PkiUrls(ctx.settings.public_base_url),
        policy_arc=ctx.settings.certificate_policy_arc,
        allow_soft_production=ctx.settings.allow_soft_keys_in_production,
        software_version=version("natid"),
    )


def _show(plan: CeremonyPlan) -> None:
    for line in plan.lines():
        typer.echo(line)


@app.command("hash-passphrase")
def hash_passphrase() -> None:
    """Prompt twice (hidden) and print the Argon2id hash to paste into the ceremony file."""
    from ca.ceremony_file import hash_passphrase as make_hash

    first = typer.prompt("passphrase", hide_input=True, err=True)
    second = typer.prompt("passphrase again", hide_input=True, err=True)
    if first != second:
        fail("the two passphrases differ; nothing was printed")
    try:
        typer.echo(make_hash(first))
    except NatIDError as exc:
        fail(str(exc))


@app.command("run")
def run(
    file: FileArgument,
    data_dir: DataDirOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and rehearse; generate nothing.")
    ] = False,
    transcript: Annotated[
        Path | None,
        typer.Option(help="Transcript file (default: <data dir>/ceremonies/).", show_default=False),
    ] = None,
    passphrases_from: Annotated[
        Path | None,
        typer.Option(
            "--passphrases-from",
            help="Rehearsals and tests: 'officer_id: passphrase' lines, mode 0600.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a key ceremony: validate, ask the officers, generate, transcribe, store, audit."""
    from ca.ceremony import MAX_ATTEMPTS
    from ca.ceremony_file import parse_ceremony_file

    data = _read(file, "ceremony file")
    secrets = read_passphrase_file(passphrases_from) if passphrases_from is not None else None
    settings = cli_settings(data_dir)
    with cli_context(data_dir) as ctx:
        ceremony = parse_ceremony_file(data)
        runner = _runner(ctx)
        if transcript is None:
            stamp = ctx.clock.now().strftime("%Y%m%dT%H%M%SZ")
            transcript = settings.data_dir / "ceremonies" / f"{ceremony.id}-{stamp}.json"
        if dry_run:
            _show(runner.plan(ceremony, transcript_path=transcript))
            typer.echo(
                f"dry run: the ceremony is valid; nothing was generated (transcript: {transcript})"
            )
            return

        def ask(officer: Officer, attempt: int) -> str | None:
            if secrets is not None:
                return secrets.get(officer.id)
            if attempt > 1:
                typer.echo(
                    f"  passphrase not accepted (attempt {attempt} of {MAX_ATTEMPTS})", err=True
                )
            who = f"{officer.id} ({officer.role}{', ' + officer.name if officer.name else ''})"
            answer: str = typer.prompt(
                f"{who}: passphrase, or Enter to decline",
                hide_input=True,
                default="",
                show_default=False,
                err=True,
            )
            return answer

        def outcome(officer: Officer, result: OfficerOutcome) -> None:
            typer.echo(f"  officer {officer.id}: {result.value.replace('_', ' ')}", err=True)

        result = runner.run(
            ceremony,
            ask,
            transcript_path=transcript,
            max_attempts=1 if secrets is not None else MAX_ATTEMPTS,
            on_plan=_show,
            on_outcome=outcome,
        )
        typer.echo(
            f"ceremony {result.ceremony_id} completed; "
            f"confirmed by {', '.join(result.quorum.confirmed)}"
        )
        typer.echo(f"transcript: {result.transcript_path}")
        typer.echo(f"signatures: {result.signature_path}")
        typer.echo(f"transcript SHA-256: {result.transcript_sha256}")
        if result.audit_seq is not None:
            typer.echo(f"audit ledger: entry {result.audit_seq} (ca.ceremony.completed)")
        typer.echo(f"root certificate serial: {result.serials.get('root', '-')}")


@app.command("verify")
def verify(  # noqa: PLR0917 - Typer maps parameters to options
    transcript: Annotated[Path, typer.Argument(help="The transcript (JSON).", show_default=False)],
    signature: Annotated[
        Path | None, typer.Option(help="Signatures (default: TRANSCRIPT.sig).", show_default=False)
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="The root certificate you trust (PEM).", show_default=False),
    ] = None,
    ceremony_file: Annotated[
        Path | None,
        typer.Option("--ceremony-file", help="The ceremony file that was run.", show_default=False),
    ] = None,
    check_store: Annotated[
        bool, typer.Option("--check-store", help="Compare with the stored hierarchy too.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Check a ceremony transcript and its signatures; print OK or what failed."""
    import hashlib

    from cryptography import x509

    from ca.ceremony_transcript import TranscriptInvalid, compare_with_stored, verify_transcript

    sig_path = signature or transcript.with_name(transcript.name + ".sig")
    trusted = None
    if root is not None:
        try:
            trusted = x509.load_pem_x509_certificate(_read(root, "root certificate"))
        except ValueError:
            fail(f"{root} is not a PEM certificate")
    file_hash = None
    if ceremony_file is not None:
        file_hash = hashlib.sha256(_read(ceremony_file, "ceremony file")).hexdigest()
    try:
        verified = verify_transcript(
            _read(transcript, "transcript"),
            _read(sig_path, "signature file"),
            trusted_root=trusted,
            file_sha256=file_hash,
        )
    except TranscriptInvalid as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from None
    if check_store:
        with cli_context(data_dir) as ctx:
            stored = ctx.ca().hierarchy()
            certs = [*stored.cas.values(), *stored.ocsp_responders.values(), stored.tsa]
            missing = compare_with_stored(verified, certs)
        if missing:
            typer.echo(f"FAILED: not in the stored hierarchy: {', '.join(missing)}")
            raise typer.Exit(1)
    typer.echo(
        f"OK: ceremony {verified.ceremony_id}, transcript SHA-256 {verified.sha256}, "
        f"signed by {', '.join(verified.signed_by)}, confirmed by "
        f"{', '.join(verified.confirmed_by)}"
        + ("; matches the stored hierarchy" if check_store else "")
    )
