"""What the HCERT verifier returns: one outcome per check, the reasons, and - only for a credential
that passed - a :class:`VerifiedCredential`.

The shape follows the health-credentials issue ("Verify"): ``valid``, ``checks`` with one
outcome per check (``decode``, ``signature``, ``expiry``, ``schema``, ``revocation``), each
``pass``, ``fail`` or ``skipped``, the ``holder``'s name and date of birth for the officer to
compare with a passport, the signer's ``kid`` (base64) and the ``reasons``.

"Parse, don't validate" (STYLE.md): the report says what was found; code that acts on a
credential takes a :class:`VerifiedCredential`, which only :func:`vaccine_cert.verify.verify`
can create and only when every check passed (:meth:`VerificationReport.require_valid` raises
otherwise). The holder's name and date of birth are in the report only once the signature
verified under a trusted signer: then they are the issuer's data even if the credential has
expired or was revoked, and the officer may see them as such; a credential whose signature
fails could say anything, and an officer shown a forged name beside "NOT VALID" may still
compare it with the passport. ``dcc_json`` keeps the DCC as read either way, for diagnostics and
tests; :meth:`VerificationReport.as_dict` prints it (``include_dcc``) only when the holder is
shown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from vaccine_cert.errors import CredentialRejected, DecodeStage, HealthCertError
from vaccine_cert.trust import CertificateType, TrustedSigner, kid_b64

__all__ = [
    "Check",
    "Finding",
    "Holder",
    "Outcome",
    "ReasonCode",
    "RevocationCheck",
    "RevocationQuery",
    "VerificationReport",
    "VerifiedCredential",
]


class Check(StrEnum):
    """The checks of the issue's verification contract, in the order they run."""

    DECODE = "decode"
    SIGNATURE = "signature"
    EXPIRY = "expiry"
    SCHEMA = "schema"
    REVOCATION = "revocation"


class Outcome(StrEnum):
    """A check's result. ``skipped``: it could not run (an earlier check failed) or does not
    apply."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    SKIPPED = "skipped"


class ReasonCode(StrEnum):
    """Stable codes for the findings, for programs that act on them."""

    DECODE_FAILED = "decode_failed"
    KID_MISSING = "kid_missing"
    KID_MALFORMED = "kid_malformed"
    ALGORITHM_UNSUPPORTED = "algorithm_unsupported"
    SIGNER_UNKNOWN = "signer_unknown"
    #: The signature verifies under a DSC its issuer revoked or suspended (RFC 5280 CRLReason).
    SIGNER_REVOKED = "signer_revoked"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNER_PURPOSE = "signer_not_authorised_for_type"
    CLAIM_MISSING = "claim_missing"
    CLAIM_INVALID = "claim_invalid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    SIGNER_CERTIFICATE_NOT_VALID = "signer_certificate_not_valid"
    SCHEMA_INVALID = "schema_invalid"
    REVOKED = "revoked"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason: which check, a stable code, and a message without personal data; ``details``
    holds the values in the message that a program (the border page, in the officer's
    language) shows on its own, as ``(name, text)`` pairs."""

    check: Check
    code: ReasonCode
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": str(self.check),
            "code": str(self.code),
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class Holder:
    """The holder as the DCC names them (schema ``nam`` and ``dob``)."""

    family_name: str | None  # fn
    given_name: str | None  # gn
    family_name_icao: str | None  # fnt, ICAO 9303 transliteration
    given_name_icao: str | None  # gnt
    date_of_birth: str | None  # dob: YYYY-MM-DD, YYYY-MM, YYYY or ""

    @classmethod
    def from_dcc(cls, dcc: Mapping[str, Any]) -> Holder:
        nam = dcc.get("nam")
        names = nam if isinstance(nam, dict) else _NO_NAMES
        # Written out rather than through a helper: this runs once per verification.
        fn, gn, fnt, gnt = names.get("fn"), names.get("gn"), names.get("fnt"), names.get("gnt")
        dob = dcc.get("dob")
        return cls(
            family_name=fn if isinstance(fn, str) else None,
            given_name=gn if isinstance(gn, str) else None,
            family_name_icao=fnt if isinstance(fnt, str) else None,
            given_name_icao=gnt if isinstance(gnt, str) else None,
            date_of_birth=dob if isinstance(dob, str) else None,
        )

    def as_dict(self) -> dict[str, str | None]:
        """In the DCC's own field names, for JSON output."""
        return {
            "fn": self.family_name,
            "gn": self.given_name,
            "fnt": self.family_name_icao,
            "gnt": self.given_name_icao,
            "dob": self.date_of_birth,
        }


_NO_NAMES: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RevocationQuery:
    """What a revocation check gets: the identifiers the DCC revocation design hashes."""

    kid: bytes
    issuer_country: str | None
    uvci: str | None
    certificate_type: CertificateType | None
    signature: bytes


#: The revocation hook: returns why the credential is revoked, or None if it is not.
RevocationCheck = Callable[[RevocationQuery], str | None]

_MINTED = object()


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """A credential every check passed on; made only by :func:`vaccine_cert.verify.verify`."""

    certificate_type: CertificateType
    holder: Holder
    issuer_country: str | None
    uvci: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    signer: TrustedSigner
    #: The DCC as canonical JSON text.
    dcc_json: str
    _minted: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._minted is not _MINTED:
            raise HealthCertError(
                "a VerifiedCredential comes only out of vaccine_cert.verify()",
                code="verified_credential_forged",
            )

    @property
    def kid(self) -> str:
        return self.signer.kid_b64

    def dcc(self) -> dict[str, Any]:
        """A fresh copy of the DCC."""
        result: dict[str, Any] = json.loads(self.dcc_json)
        return result


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """The verifier's answer for one payload; see the module docstring."""

    checks: Mapping[Check, Outcome]
    findings: tuple[Finding, ...]
    credential: VerifiedCredential | None = None
    kid: bytes | None = None
    #: Only when the signature verified (module docstring).
    holder: Holder | None = None
    issuer_country: str | None = None
    issued_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    #: The DCC as canonical JSON text, whenever decoding got that far (valid or not).
    dcc_json: str | None = None
    #: Where decoding stopped, when it did.
    failed_stage: DecodeStage | None = None

    @property
    def valid(self) -> bool:
        """True exactly when every check passed (revocation: or was not asked for)."""
        return self.credential is not None

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(str(finding) for finding in self.findings)

    @property
    def kid_b64(self) -> str | None:
        return None if self.kid is None else kid_b64(self.kid)

    def outcome(self, check: Check) -> Outcome:
        return self.checks[check]

    def codes(self, check: Check | None = None) -> frozenset[ReasonCode]:
        """The reason codes found, for one check or all."""
        return frozenset(f.code for f in self.findings if check is None or f.check is check)

    def require_valid(self) -> VerifiedCredential:
        """The verified credential, or :class:`CredentialRejected` with the reasons."""
        if self.credential is None:
            raise CredentialRejected(self.reasons)
        return self.credential

    def as_dict(self, *, include_dcc: bool = False) -> dict[str, Any]:
        """The issue's JSON object (``valid``, ``checks``, ``holder``, ``kid``, ``reasons``), plus
        ``issuer_country``, ``issued_at``, ``expires_at``, the ``findings`` with their codes
        and, if asked, the DCC itself. ``holder`` (and ``dcc``) are null unless the signature
        verified (module docstring)."""
        result: dict[str, Any] = {
            "valid": self.valid,
            "checks": {str(check): str(self.checks[check]) for check in Check},
            "holder": None if self.holder is None else self.holder.as_dict(),
            "kid": self.kid_b64,
            "reasons": list(self.reasons),
            "issuer_country": self.issuer_country,
            "issued_at": None if self.issued_at is None else self.issued_at.isoformat(),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "findings": [finding.as_dict() for finding in self.findings],
        }
        if include_dcc:
            dcc = self.dcc_json if self.holder is not None else None
            result["dcc"] = None if dcc is None else json.loads(dcc)
        return result
