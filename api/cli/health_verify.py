"""``natid health verify``: verify health credentials (EU DCC ``HC1:``) from text, a QR image or
JSON lines, against trusted signers and a revocation list, as a border post does.

Examples::

    natid health verify --payload 'HC1:...' --json
    natid health verify --image qr.png --trust kh.json --revocations rl.json --anchor kh.pem
    natid health verify --image photo.jpg --trust dscs/ --at 2027-01-01T00:00:00Z
    natid health verify --jsonl batch.jsonl --trust kh.json --anchor kh.pem > results.jsonl

``verify`` prints one line per check (or, with ``--json``, the issue's object) and exits 0 only
when every check passed, 1 when one failed (NOT VALID), and 2 when it could not verify at all
(a bad option, an unreadable file, a list whose signature fails, no trusted signers: one
``error:`` line), so a script tells a refused credential from a broken set-up; ``--jsonl``
prints one object per input line, in order, and exits 0 only if all were valid. The holder's
name and date of birth are shown only when the signature verified (marked when the credential
is NOT VALID for another reason, an expiry or a revocation). Trust for ``verify``: ``--trust``
takes PEM or DER certificates or a directory of them, trusted as given, or a trust list file
(JSON), whose entries are trusted only once each one's signature verifies under the anchor, as
``trustlist import`` checks them (a list is anyone's to write: without the check, a rogue
certificate beside a copied signature would be trusted). The anchor is ``--anchor``, else the
data directory's own; with neither, a trust list is refused. Without ``--trust`` the signers
and revocations of an initialised data directory are used; a data directory also names NatID's
revoked signers, so a credential one of them signed fails as "revoked on ... (reason)", not
as signed by an unknown signer. ``--revocations FILE`` must be signed by the same anchor; an
unsigned or forged list is an error (exit 2), never "nothing is revoked". Its issue date is
shown, with a warning on stderr once it is older than ``STALE_AFTER`` (7 days, as the border
page marks its lists old).

The verification itself is :func:`vaccine_cert.verify.verify` (no I/O); this module reads the
files, finds the anchor and the data directory, and words the answer. ``--at`` is ISO 8601; a
time without an offset is UTC.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from api.cli.common import DataDirOption, cli_context, cli_settings, fail
from api.cli.health import _read, _service
from core.errors import NatIDError

if TYPE_CHECKING:
    from vaccine_cert.report import RevocationCheck, VerificationReport
    from vaccine_cert.revocation import RevocationList
    from vaccine_cert.trust import RevokedSigner, TrustedSigners

__all__ = ["EXIT_ERROR", "EXIT_NOT_VALID", "EXIT_VALID", "verify_command"]

#: ``verify``'s exit codes: every check passed; a check failed; nothing could be verified.
EXIT_VALID, EXIT_NOT_VALID, EXIT_ERROR = 0, 1, 2
_NO_ANCHOR_FOR_REVOCATIONS = (
    "--revocations needs --anchor (the key that signed it), or a data directory"
)


@contextlib.contextmanager
def _could_not_verify() -> Iterator[None]:
    """Exit 2 for whatever stops ``verify`` before it has an answer (an unreadable file, a list
    whose signature fails, a database that cannot be reached), so that a script tells it from
    NOT VALID (exit 1). The helpers shared with the other commands exit 1; here that becomes 2."""
    try:
        yield
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]", EXIT_ERROR)
    except typer.Exit as exc:
        if exc.exit_code == EXIT_NOT_VALID:
            raise typer.Exit(EXIT_ERROR) from None
        raise


def _parse_at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(
            f"--at must be an ISO 8601 time such as 2027-01-01T00:00:00Z, got {text[:40]!r}",
            EXIT_ERROR,
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class _Anchor:
    """The key the signed lists given to ``verify`` must verify under - a trust list in
    ``--trust``, ``--revocations`` - loaded when a list first needs it: ``--anchor``, else the
    data directory's own trust-list anchor. ``used`` says whether a list needed it."""

    def __init__(self, path: Path | None, data_dir: Path | None) -> None:
        self._path = path
        self._data_dir = data_dir
        self._key: EllipticCurvePublicKey | None = None
        self.used = False

    def key(self, missing: str) -> EllipticCurvePublicKey:
        """The anchor; fail with ``missing`` if there is neither --anchor nor a data directory."""
        self.used = True
        if self._key is None:
            self._key = self._load(missing)
        return self._key

    def _load(self, missing: str) -> EllipticCurvePublicKey:
        from vaccine_cert.trustlist import load_anchor

        if self._path is not None:
            return load_anchor(_read(self._path, "the anchor"))
        if not _data_dir_ready(self._data_dir):
            fail(missing, EXIT_ERROR)
        with cli_context(self._data_dir, migrate=False) as ctx:
            return _service(ctx).trustlist_anchor()


def _certificates(data: bytes, name: str, anchor: _Anchor) -> list[x509.Certificate]:
    """The certificates of one ``--trust`` file. PEM or DER certificates are trusted as given
    (the operator chose the file); a trust list's entries only once their signatures verify
    under the anchor, as ``trustlist import`` checks them: a list can carry anyone's
    certificate, and an entry's signature is what says the list's publisher put it there."""
    from vaccine_cert.errors import TrustListRejected
    from vaccine_cert.trustlist import parse_trustlist

    if data.lstrip().startswith(b"["):
        key = anchor.key(
            f"{name} is a trust list, and its entries are trusted only once their signatures "
            "verify: give --anchor with the key or certificate that signed it (NatID's: "
            "`natid health trustlist anchor`)"
        )
        try:
            return [item.signer.certificate for item in parse_trustlist(data, anchor=key)]
        except TrustListRejected as exc:
            fail(f"{name}: {exc} [{exc.code}]", EXIT_ERROR)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        fail(f"{name} holds no PEM or DER certificate and is not a trust list", EXIT_ERROR)


def _trust_from_path(path: Path, anchor: _Anchor) -> TrustedSigners:
    from vaccine_cert.trust import TrustedSigners

    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    certificates = []
    for file in files:
        certificates += _certificates(_read(file, "the trust file"), str(file), anchor)
    if not certificates:
        fail(f"no certificates in {path}", EXIT_ERROR)
    return TrustedSigners.from_certificates(certificates)


def _data_dir_ready(data_dir: Path | None) -> bool:
    settings = cli_settings(data_dir)
    if settings.database_url:
        return True
    return (settings.data_dir / "natid.db").is_file()


@dataclass(frozen=True, slots=True)
class _Setup:
    """What ``verify`` checks against, worked out once before any credential."""

    signers: TrustedSigners | None
    #: NatID's revoked signers, when a data directory says: never trusted, named in reasons.
    revoked: tuple[RevokedSigner, ...]
    revocation: RevocationCheck | None
    #: The ``--revocations`` file, for its date; None when the revocations are the data
    #: directory's own (current) or there are none.
    revocation_list: RevocationList | None
    moment: dt.datetime


def _setup(
    trust: Path | None, revocations: Path | None, anchor: Path | None, at: str | None,
    data_dir: Path | None,
) -> _Setup:  # fmt: skip
    from vaccine_cert.revocation import RevocationList

    moment = _parse_at(at)
    anchors = _Anchor(anchor, data_dir)
    signers = _trust_from_path(trust, anchors) if trust is not None else None
    listed = None
    if revocations is not None:
        listed = RevocationList.from_document(
            _read(revocations, "the revocation list"),
            anchor=anchors.key(_NO_ANCHOR_FOR_REVOCATIONS),
        )
    if anchor is not None and not anchors.used:
        fail(
            "--anchor checks the signatures of a trust list given with --trust and of "
            "--revocations; give one of them",
            EXIT_ERROR,
        )
    revocation: RevocationCheck | None = listed
    revoked: tuple[RevokedSigner, ...] = ()
    if _data_dir_ready(data_dir):
        with cli_context(data_dir, migrate=False) as ctx:
            service = _service(ctx)
            revoked = service.revoked_signers()
            if signers is None:
                signers = service.trusted_signers()
                revocation = revocation or service.revocation_check()
            else:
                signers = signers.with_revoked(revoked)
            moment = moment or ctx.clock.now()
    return _Setup(signers, revoked, revocation, listed, moment or dt.datetime.now(dt.UTC))


def _age(seconds: float) -> str:
    """A list's age as the border page words it (``border.js``, ``age``)."""
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def _revocation_list_info(setup: _Setup) -> dict[str, Any] | None:
    """Which revocations were checked and how old they are (None: none were)."""
    from vaccine_cert.revocation import STALE_AFTER

    listed = setup.revocation_list
    if listed is None:
        if setup.revocation is None:
            return None
        return {"source": "data directory", "issued_at": None, "age_seconds": None,
                "age": None, "stale": False}  # fmt: skip
    made = listed.issued_at
    seconds = None if made is None else int((setup.moment - made).total_seconds())
    info: dict[str, Any] = {
        "source": "file",
        "issued_at": None if made is None else made.isoformat(),
        "age_seconds": seconds,
        "age": None if seconds is None else _age(seconds),
        "stale": listed.is_stale(setup.moment),
    }
    if made is None:
        info["warning"] = (
            "the revocation list has no issue date, so its age is unknown: a credential revoked "
            "after it was made passes; get a current one (GET /health/revocations)"
        )
    elif info["stale"]:
        info["warning"] = (
            f"the revocation list is {info['age']} old (issued {made.isoformat()}), older than "
            f"{STALE_AFTER.days} days: a credential revoked since then passes; get a current "
            "one (GET /health/revocations)"
        )
    return info


def _revocation_line(info: dict[str, Any] | None) -> str | None:
    if info is None:
        return None
    if info["source"] != "file":
        return "revocation list: the data directory's own, current"
    if info["issued_at"] is None:
        return "revocation list: no issue date"
    return f"revocation list: issued {info['issued_at']}, {info['age']} old"


def _show(report: VerificationReport, revocations: str | None) -> None:
    from vaccine_cert.report import Check, Outcome, ReasonCode

    typer.echo("VALID" if report.valid else "NOT VALID")
    for check, outcome in report.checks.items():
        typer.echo(f"  {check}: {outcome}")
    if revocations is not None and report.outcome(Check.REVOCATION) is not Outcome.SKIPPED:
        typer.echo(f"  {revocations}")
    holder = report.holder
    if holder is not None:
        names = " ".join(n for n in (holder.family_name, holder.given_name) if n)
        icao = " ".join(n for n in (holder.family_name_icao, holder.given_name_icao) if n)
        signed = "" if report.valid else " (as signed; the credential is NOT VALID)"
        typer.echo(f"holder: {names} ({icao}), born {holder.date_of_birth or 'unknown'}{signed}")
    elif report.dcc_json is not None:
        # Decoded, but the signature failed: the name and date of birth could be anyone's.
        why = (
            "its signer's certificate is revoked"
            if ReasonCode.SIGNER_REVOKED in report.codes(Check.SIGNATURE)
            else "the signature did not verify"
        )
        typer.echo(f"holder: not shown, {why} (the data may be forged)")
    if report.kid_b64:
        typer.echo(f"kid: {report.kid_b64}")
    for reason in report.reasons:
        typer.echo(f"  - {reason}")


def _input_failure(message: str) -> dict[str, Any]:
    checks = {"decode": "fail", "signature": "skipped", "expiry": "skipped", "schema": "skipped"}
    checks["revocation"] = "skipped"
    return {"valid": False, "checks": checks, "holder": None, "kid": None,
            "reasons": [f"input: {message}"], "issuer_country": None, "issued_at": None,
            "expires_at": None, "findings": []}  # fmt: skip


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true or false",
               int: "a number", float: "a number", type(None): "null"}  # fmt: skip


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _line_trust(value: object, revoked: tuple[RevokedSigner, ...]) -> TrustedSigners:
    """A ``--jsonl`` line's own ``trust``: an array of base64 DER certificates, trusted as
    given (whoever wrote the file vouches for them, as for certificate files in ``--trust``);
    raise TypeError/ValueError saying what is wrong."""
    from vaccine_cert.trust import TrustedSigner, TrustedSigners

    if not isinstance(value, list):
        raise TypeError(
            f"trust must be an array of base64 DER certificates, got {_json_type(value)}"
        )
    certificates = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(
                f"trust[{index}] is {_json_type(item)}, not a base64 DER certificate (a signed "
                "trust list goes in --trust, with --anchor)"
            )
        try:
            certificates.append(
                x509.load_der_x509_certificate(base64.b64decode(item, validate=True))
            )
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"trust[{index}] is not a base64 DER certificate") from exc
    return TrustedSigners((TrustedSigner.from_certificate(c) for c in certificates), revoked)


def _line_result(line: str, setup: _Setup) -> dict[str, Any]:
    """One ``--jsonl`` line's result; raises ValueError/TypeError for a line it cannot use."""
    from vaccine_cert.verify import verify

    item = json.loads(line)
    if not isinstance(item, dict) or not isinstance(item.get("payload"), str):
        raise TypeError('each line must be an object with a text "payload"')
    trust = setup.signers
    if item.get("trust") is not None:
        trust = _line_trust(item["trust"], setup.revoked)
    if trust is None:
        raise ValueError("no trust given on the line, with --trust or by a data directory")
    when = setup.moment
    if item.get("at") is not None:
        try:
            when = dt.datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("at must be an ISO 8601 time such as 2027-01-01T00:00:00Z") from None
        when = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    report = verify(item["payload"], trusted=trust, at=when, revocation=setup.revocation)
    return report.as_dict()


def _verify_lines(text: str, setup: _Setup) -> bool:
    all_valid = True
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            result = _line_result(line, setup)
        except (ValueError, TypeError, binascii.Error, NatIDError) as exc:
            result = _input_failure(str(exc)[:200])
        all_valid = all_valid and bool(result["valid"])
        typer.echo(json.dumps(result, ensure_ascii=False))
    return all_valid


_JSONL_HELP = (
    'Many: a JSON object a line, {"payload": "HC1:...", "trust": ["<base64 DER certificate>", '
    '...], "at": "<ISO 8601 time>"}; "trust" (certificates trusted as given, not a trust list) '
    'and "at" are optional and default to --trust (or the data directory) and --at. One result '
    "object a line, in order."
)


def verify_command(  # noqa: PLR0917 - Typer maps parameters to options
    payload: Annotated[str | None, typer.Option("--payload", help="The HC1: text.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="A photo or screenshot of the QR code.")
    ] = None,
    jsonl: Annotated[Path | None, typer.Option("--jsonl", help=_JSONL_HELP)] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="PEM/DER signer certificates or a directory of them (trusted as given), or a "
            "trust list (JSON; each entry's signature must verify under --anchor).",
        ),
    ] = None,
    revocations: Annotated[
        Path | None,
        typer.Option(
            "--revocations",
            help="A signed revocation list file; its issue date is shown, with a warning when "
            "it is older than 7 days.",
        ),
    ] = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="Key or certificate (PEM/DER) that signed the trust list in --trust and "
            "--revocations. Default: the data directory's own anchor.",
        ),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="Check as of this ISO 8601 time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Verify a credential: decode, signature, expiry, schema, revocation.

    Exit 0: VALID (with --jsonl: every line). Exit 1: NOT VALID. Exit 2: nothing was verified -
    a bad option, an unreadable file or image, a trust list or revocation list whose signature
    does not verify, no trusted signers.
    """
    from vaccine_cert.qrimage import read_qr_texts
    from vaccine_cert.verify import verify

    if sum(x is not None for x in (payload, image, jsonl)) != 1:
        fail("give exactly one of --payload, --image or --jsonl", EXIT_ERROR)
    with _could_not_verify():
        setup = _setup(trust, revocations, anchor, at, data_dir)
        info = _revocation_list_info(setup)
        if jsonl is not None:
            lines = _read(jsonl, "the JSON lines").decode("utf-8", errors="replace")
        elif setup.signers is None:
            fail("no trusted signers: give --trust FILE_OR_DIR, or initialise a data directory")
        else:
            if image is not None:
                payload = read_qr_texts(_read(image, "the image"))[0]
            assert payload is not None
            report = verify(
                payload.strip(), trusted=setup.signers, at=setup.moment,
                revocation=setup.revocation,
            )  # fmt: skip
    if info is not None and "warning" in info:
        typer.echo(f"warning: {info['warning']}", err=True)
    if jsonl is not None:
        line = _revocation_line(info)
        if line is not None:
            typer.echo(line, err=True)
        valid = _verify_lines(lines, setup)
        raise typer.Exit(EXIT_VALID if valid else EXIT_NOT_VALID)
    if as_json:
        result = report.as_dict()
        result["revocation_list"] = info
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _show(report, _revocation_line(info))
    raise typer.Exit(EXIT_VALID if report.valid else EXIT_NOT_VALID)
