"""Checks 2 and 3 of the HCERT verifier (:mod:`vaccine_cert.verify`): the signature and expiry.

Each takes the decoded credential and says what is wrong, as a
:class:`~vaccine_cert.report.Finding`, or that nothing is. The usual case (an 8-byte ``kid``, an
integer ``alg`` NatID supports, ``iat <= at <= exp`` inside the signer's validity) is decided in
a few comparisons; anything else goes through the general path that words the finding.
:mod:`vaccine_cert.verify` runs them in order and builds the report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vaccine_cert.cose import HEADER_ALG, CoseAlgorithm, verify_signature
from vaccine_cert.hcert import DecodedHcert
from vaccine_cert.report import Check, Finding, ReasonCode
from vaccine_cert.trust import (
    CertificateType,
    RevokedSigner,
    TrustedSigner,
    TrustedSigners,
    kid_b64,
)

__all__ = [
    "KID_LENGTH",
    "Moment",
    "as_datetime",
    "check_expiry",
    "check_signature",
    "signature_headers",
]

#: HCERT spec, Appendix A, "The Key Identifier": the first 8 bytes of the DSC's SHA-256 hash.
KID_LENGTH = 8


class Moment:
    """The moment of verification, with its POSIX time worked out once."""

    __slots__ = ("at", "timestamp")

    def __init__(self, at: dt.datetime) -> None:
        self.at = at
        self.timestamp = at.timestamp()


def check_signature(
    decoded: DecodedHcert, kid: Any, signers: TrustedSigners, types: list[CertificateType]
) -> TrustedSigner | Finding:
    """Step 2 of the module docstring: the signer, or the finding that says why there is none."""
    alg = decoded.cose.header(HEADER_ALG)
    # The usual headers (an 8-byte kid, an integer alg NatID supports) are settled here; any
    # other go through _signature_headers, which says what is wrong with them.
    algorithm = _ALGORITHMS.get(alg) if type(alg) is int else None
    if algorithm is not None and type(kid) is bytes and len(kid) == KID_LENGTH:
        kid_bytes = kid
    else:
        headers = signature_headers(kid, alg)
        if isinstance(headers, Finding):
            return headers
        kid_bytes, algorithm = headers
    candidates = signers.with_kid(kid_bytes)
    if not candidates:
        return _revoked(decoded, algorithm, signers.revoked_with_kid(kid_bytes)) or (
            _signature_finding(
                ReasonCode.SIGNER_UNKNOWN, f"no trusted signer with kid {kid_b64(kid_bytes)}"
            )
        )
    problems = []
    for candidate in candidates:
        problem = verify_signature(decoded.cose, algorithm, candidate.public_key)
        if problem is None:
            return _authorised(candidate, types)
        problems.append(problem)
    revoked = _revoked(decoded, algorithm, signers.revoked_with_kid(kid_bytes))
    if revoked is not None:
        return revoked
    return _signature_finding(
        ReasonCode.SIGNATURE_INVALID,
        f"{algorithm.name} signature rejected by the {len(candidates)} trusted signer(s) with kid "
        f"{kid_b64(kid_bytes)}: " + "; ".join(sorted(set(problems))),
    )


def signature_headers(kid: Any, alg: Any) -> tuple[bytes, CoseAlgorithm] | Finding:
    if kid is None:
        return _signature_finding(
            ReasonCode.KID_MISSING, "no kid in the protected or unprotected header"
        )
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        size = f"{len(kid)} bytes" if isinstance(kid, bytes) else type(kid).__name__
        return _signature_finding(
            ReasonCode.KID_MALFORMED, f"kid must be {KID_LENGTH} bytes, got {size}"
        )
    algorithm = _algorithm(alg)
    if algorithm is None:
        supported = ", ".join(f"{a.name} ({a.value})" for a in CoseAlgorithm)
        return _signature_finding(
            ReasonCode.ALGORITHM_UNSUPPORTED, f"algorithm {alg!r} is not supported ({supported})"
        )
    return kid, algorithm


def _revoked(
    decoded: DecodedHcert, algorithm: CoseAlgorithm, revoked: tuple[RevokedSigner, ...]
) -> Finding | None:
    """Why a credential whose kid names no trusted signer fails, when it names a revoked one:
    only if the signature verifies under it, so a forger who copies a revoked signer's kid
    still gets the unknown-signer answer, not one that vouches for the data being the
    issuer's."""
    for signer in revoked:
        if verify_signature(decoded.cose, algorithm, signer.public_key) is None:
            when = signer.revoked_at.replace(microsecond=0).isoformat()
            what = f"is suspended since {when}" if signer.suspended else f"was revoked on {when}"
            return Finding(
                Check.SIGNATURE,
                ReasonCode.SIGNER_REVOKED,
                f"the signer's certificate (kid {signer.kid_b64}) {what} ({signer.reason}); "
                "the credentials it signed are no longer valid",
                details=(("kid", signer.kid_b64), ("revoked_at", when), ("reason", signer.reason)),
            )
    return None


def _authorised(signer: TrustedSigner, types: list[CertificateType]) -> TrustedSigner | Finding:
    """HCERT spec §5.1.1: the DSC's purpose OIDs, if any, must allow the DCC's kind."""
    allowed = signer.allowed_types
    if allowed.issuperset(types):
        return signer
    refused = [kind for kind in types if kind not in allowed]
    kinds = ", ".join(_TYPE_NAMES[kind] for kind in refused)
    return _signature_finding(
        ReasonCode.SIGNER_PURPOSE,
        f"the signer with kid {signer.kid_b64} is not authorised to sign {kinds} certificates "
        "(extended key usage)",
    )


def _signature_finding(code: ReasonCode, message: str) -> Finding:
    return Finding(Check.SIGNATURE, code, message)


_TYPE_NAMES = {
    CertificateType.VACCINATION: "vaccination",
    CertificateType.TEST: "test",
    CertificateType.RECOVERY: "recovery",
}


def _algorithm(alg: Any) -> CoseAlgorithm | None:
    if isinstance(alg, bool) or not isinstance(alg, int):
        return None
    return _ALGORITHMS.get(alg)


_ALGORITHMS = {algorithm.value: algorithm for algorithm in CoseAlgorithm}


def check_expiry(  # noqa: PLR0917 - the parts of one check
    decoded: DecodedHcert,
    signer: TrustedSigner,
    moment: Moment,
    findings: list[Finding],
    issued_at: dt.datetime | None,
    expires_at: dt.datetime | None,
) -> bool:
    """Step 3 of the module docstring."""
    at, now = moment.at, moment.timestamp
    iat, exp = decoded.issued_at, decoded.expires_at
    # The usual case, decided in one expression; any failure is worked out in full below.
    if (
        issued_at is not None
        and expires_at is not None
        and iat is not None
        and exp is not None
        and iat <= now <= exp
        and signer.not_before <= at <= signer.not_after
    ):
        return True
    before = len(findings)

    def fail(code: ReasonCode, message: str) -> None:
        findings.append(Finding(Check.EXPIRY, code, message))

    if iat is None:
        fail(ReasonCode.CLAIM_MISSING, "no iat (issued at) claim")
    elif issued_at is None:
        fail(ReasonCode.CLAIM_INVALID, f"iat {iat} is not a time NatID can represent")
    elif now < iat:
        fail(ReasonCode.NOT_YET_VALID, f"issued at {_show(iat)}, after {at.isoformat()}")
    if exp is None:
        fail(ReasonCode.CLAIM_MISSING, "no exp (expiry) claim")
    elif expires_at is None:
        fail(ReasonCode.CLAIM_INVALID, f"exp {exp} is not a time NatID can represent")
    elif now > exp:
        fail(ReasonCode.EXPIRED, f"expired at {_show(exp)}, before {at.isoformat()}")
    if not signer.not_before <= at <= signer.not_after:
        fail(
            ReasonCode.SIGNER_CERTIFICATE_NOT_VALID,
            f"the signer certificate is valid from {signer.not_before.isoformat()} "
            f"to {signer.not_after.isoformat()}, not at {at.isoformat()}",
        )
    return len(findings) == before


def as_datetime(value: float | None) -> dt.datetime | None:
    """A CWT NumericDate as an aware UTC time, or ``None`` when absent or beyond what
    :mod:`datetime` can represent (the expiry check reports that; the printed PDF shows none)."""
    if value is None:
        return None
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _show(value: float) -> str:
    moment = as_datetime(value)
    return moment.isoformat() if moment is not None else f"{value} (seconds since 1970)"
