"""The HCERT verifier: pure, offline, and total - every payload gets a report, none an exception.

:func:`verify` takes the ``HC1:`` text, the trusted document signer certificates and the
moment ``at``, and runs the checks of the health-credentials issue in this order (each
outcome ``pass``, ``fail`` or ``skipped``; checks 2 and 3 are in :mod:`vaccine_cert.checks`):

1. ``decode`` - :func:`vaccine_cert.hcert.decode_hc1`: prefix, Base45, zlib, CBOR, COSE_Sign1,
   CWT claims and the DCC. If it fails, every other check is ``skipped``.
2. ``signature`` (HCERT spec, "Signature Algorithm", "Key Identifier") - the ``kid`` header
   (protected first, see
   :meth:`vaccine_cert.cose.CoseSign1.header`) must be 8 bytes and name at least one trusted
   DSC; ``alg`` must be ES256 or PS256; the signature must verify under one of the DSCs with
   that ``kid`` (the spec: "a verifier MUST check all DSCs with that KID"); and that DSC's
   purpose OIDs, if it has any, must allow the kind of certificate (vaccination, test,
   recovery) in the DCC (HCERT Appendix A, "Key Usage Policy Identifiers"). A signature that
   verifies only under a DSC the verifier knows to be revoked fails with ``signer_revoked``,
   naming the date and the reason (:class:`~vaccine_cert.trust.RevokedSigner`).
3. ``expiry`` (RFC 8392 §3.1.4, §3.1.6; HCERT "Expiration Time", "Issued At") -
   ``iat <= at <= exp``, both claims required, and ``at`` inside the signer DSC's validity
   period: a credential cannot be more valid than its signer (the spec has the issuer keep
   iat and exp inside it; the public vectors CO16 and CO17, which expect the expiration check
   to fail, have DSCs that are not valid at their validation clock either).
4. ``schema`` - the DCC against the DCC JSON schema (:class:`vaccine_cert.schema.DccSchema`).
5. ``revocation`` - a later slice supplies the revocation list. The ``revocation`` hook, when
   given, decides; without it the check is ``skipped`` (does not apply) and a finding says the
   credential was not checked against a revocation list.

Checks 3-5 run only once the signature passed: the HCERT spec ("Input Data Validation")
has the signature verified before the contents are processed, and a forged credential's
expiry or schema means nothing. They are ``skipped`` otherwise.

The credential is valid exactly when checks 1-4 pass and revocation passed or was not asked
for; only then does the report carry a :class:`~vaccine_cert.report.VerifiedCredential`. The
holder is in the report only once the signature passed (:mod:`vaccine_cert.report`); the
dates and the DCC are as read from the credential, trustworthy only when it is valid.
:func:`verify` raises only for the caller's own mistakes - a naive ``at``
(:class:`~core.errors.InvalidInput`), an unusable trusted certificate
(:class:`~vaccine_cert.errors.InvalidTrustedCertificate`) - and whatever the revocation hook
itself raises.

HCERT spec: eHealth Network, "Electronic Health Certificate Specification", v1.0.5.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

from cryptography import x509

from core.clock import require_aware
from vaccine_cert.checks import KID_LENGTH, Moment, as_datetime, check_expiry, check_signature
from vaccine_cert.cose import HEADER_KID
from vaccine_cert.errors import HcertDecodeError
from vaccine_cert.hcert import DecodedHcert, decode_hc1
from vaccine_cert.report import (
    _MINTED,
    Check,
    Finding,
    Holder,
    Outcome,
    ReasonCode,
    RevocationCheck,
    RevocationQuery,
    VerificationReport,
    VerifiedCredential,
)
from vaccine_cert.schema import DccSchema
from vaccine_cert.trust import CertificateType, TrustedSigner, TrustedSigners

__all__ = ["KID_LENGTH", "verify", "verify_many"]

# Iterating an Enum class is slow; these run once per verification.
_CHECKS = tuple(Check)
_TYPES = tuple((kind, kind.value) for kind in CertificateType)
_TYPE_KEYS = dict(_TYPES)
# The hot path reads enum members from module globals: in Python 3.11 reading one off its class
# (``Outcome.PASS``) takes the slow attribute path that EnumType's ``__getattr__`` installs,
# some 20 times the cost of reading a global.
_PASS, _FAIL = Outcome.PASS, Outcome.FAIL
_SIGNATURE, _EXPIRY = Check.SIGNATURE, Check.EXPIRY
_SCHEMA, _REVOCATION = Check.SCHEMA, Check.REVOCATION
#: The outcomes once decoding passed; each payload gets a copy.
_DECODED = dict.fromkeys(_CHECKS, Outcome.SKIPPED) | {Check.DECODE: Outcome.PASS}
_REVOCATION_NOT_CHECKED = Finding(
    Check.REVOCATION, ReasonCode.NOT_CHECKED, "not checked: no revocation list given"
)


def verify(
    payload: str,
    *,
    trusted: TrustedSigners | Iterable[x509.Certificate],
    at: dt.datetime,
    schema: DccSchema | None = None,
    revocation: RevocationCheck | None = None,
) -> VerificationReport:
    """Verify one ``HC1:`` payload at ``at`` against ``trusted`` (see the module docstring).

    ``trusted`` is best a prebuilt :class:`~vaccine_cert.trust.TrustedSigners` when verifying
    many credentials; ``schema`` defaults to the schema NatID ships.
    """
    at = require_aware(at)
    signers = _signers(trusted)
    schema = schema if schema is not None else DccSchema.bundled()
    step = _decode(payload)
    if isinstance(step, VerificationReport):
        return step
    _signature(step, signers)
    return _finish(step, Moment(at), schema, revocation)


def verify_many(
    payloads: Iterable[str],
    *,
    trusted: TrustedSigners | Iterable[x509.Certificate],
    at: dt.datetime,
    schema: DccSchema | None = None,
    revocation: RevocationCheck | None = None,
) -> list[VerificationReport]:
    """Verify many payloads, in order: the same checks and the same reports as :func:`verify`
    on each, faster.

    Speed, not semantics: the work runs in phases over the whole batch - every decoding, then
    every signature, then the remaining checks - instead of payload by payload. Interleaving
    Python decoding with OpenSSL's P-256 arithmetic evicts the CPU cache lines each needs (the
    interpreter's objects, OpenSSL's precomputed point tables); phase by phase each stays warm
    (``docs/benchmarks.md``, HCERT section, has the figures). Border posts and airlines
    re-check batches (``natid health verify --jsonl``).
    """
    at = require_aware(at)
    signers = _signers(trusted)
    schema = schema if schema is not None else DccSchema.bundled()
    moment = Moment(at)
    steps = [_decode(payload) for payload in payloads]
    for step in steps:
        if not isinstance(step, VerificationReport):
            _signature(step, signers)
    return [
        step if isinstance(step, VerificationReport) else _finish(step, moment, schema, revocation)
        for step in steps
    ]


def _signers(trusted: TrustedSigners | Iterable[x509.Certificate]) -> TrustedSigners:
    if isinstance(trusted, TrustedSigners):
        return trusted
    return TrustedSigners.from_certificates(trusted)


class _Pending:
    """One payload between the phases of verification: decoded, its signature maybe checked."""

    __slots__ = ("decoded", "findings", "kid", "outcomes", "signer", "types")

    def __init__(self, decoded: DecodedHcert) -> None:
        self.decoded = decoded
        self.outcomes = _DECODED.copy()
        self.findings: list[Finding] = []
        dcc = decoded.dcc
        # A loop, not a comprehension: in Python 3.11 each comprehension is a function call.
        types: list[CertificateType] = []
        for kind, key in _TYPES:
            if key in dcc:
                types.append(kind)
        self.types = types
        self.kid: Any = decoded.cose.header(HEADER_KID)
        self.signer: TrustedSigner | None = None


def _decode(payload: str) -> _Pending | VerificationReport:
    """Check 1; a failed decoding is already the final report."""
    try:
        decoded = decode_hc1(payload)
    except HcertDecodeError as exc:
        outcomes = dict.fromkeys(_CHECKS, Outcome.SKIPPED)
        outcomes[Check.DECODE] = Outcome.FAIL
        return VerificationReport(
            checks=MappingProxyType(outcomes),
            findings=(Finding(Check.DECODE, ReasonCode.DECODE_FAILED, str(exc)),),
            failed_stage=exc.stage,
        )
    return _Pending(decoded)


def _signature(step: _Pending, signers: TrustedSigners) -> None:
    """Check 2."""
    checked = check_signature(step.decoded, step.kid, signers, step.types)
    if isinstance(checked, Finding):
        step.findings.append(checked)
        step.outcomes[_SIGNATURE] = _FAIL
    else:
        step.signer = checked
        step.outcomes[_SIGNATURE] = _PASS


def _finish(
    step: _Pending, moment: Moment, schema: DccSchema, revocation: RevocationCheck | None
) -> VerificationReport:
    """Checks 3-5 (only after a trusted signature), then the report."""
    decoded, outcomes, findings, signer = step.decoded, step.outcomes, step.findings, step.signer
    dcc, issuer = decoded.dcc, decoded.issuer
    types = step.types
    kind = types[0] if len(types) == 1 else None
    uvci = _uvci(dcc, kind)
    issued_at = as_datetime(decoded.issued_at)
    expires_at = as_datetime(decoded.expires_at)
    # HCERT spec, "Input Data Validation": the signature is verified before the contents are
    # processed. Without a trusted signature, the remaining checks are skipped.
    passed = False
    holder = None
    if signer is not None:
        holder = Holder.from_dcc(dcc)
        # 3. expiry
        expiry_ok = check_expiry(decoded, signer, moment, findings, issued_at, expires_at)
        outcomes[_EXPIRY] = _PASS if expiry_ok else _FAIL

        # 4. schema
        problems = schema.errors(dcc)
        if problems:
            outcomes[_SCHEMA] = _FAIL
            findings.extend(
                Finding(
                    Check.SCHEMA, ReasonCode.SCHEMA_INVALID, f"DCC schema {schema.version}: {p}"
                )
                for p in problems
            )
        else:
            outcomes[_SCHEMA] = _PASS

        # 5. revocation
        if revocation is None:
            findings.append(_REVOCATION_NOT_CHECKED)
            revocation_ok = True
        else:
            revoked = revocation(
                RevocationQuery(
                    kid=signer.kid,
                    issuer_country=issuer,
                    uvci=uvci,
                    certificate_type=kind,
                    signature=decoded.cose.signature,
                )
            )
            if revoked is None:
                outcomes[_REVOCATION] = _PASS
                revocation_ok = True
            else:
                outcomes[_REVOCATION] = _FAIL
                findings.append(Finding(Check.REVOCATION, ReasonCode.REVOKED, revoked))
                revocation_ok = False
        # Decoding and the signature passed, or there would be no signer.
        passed = expiry_ok and not problems and revocation_ok

    credential = None
    if passed and signer is not None and holder is not None and kind and issued_at and expires_at:
        credential = VerifiedCredential(
            certificate_type=kind,
            holder=holder,
            issuer_country=issuer,
            uvci=uvci,
            issued_at=issued_at,
            expires_at=expires_at,
            signer=signer,
            dcc_json=decoded.dcc_json,
            _minted=_MINTED,
        )
    kid = step.kid
    return VerificationReport(
        checks=MappingProxyType(outcomes),
        findings=tuple(findings),
        credential=credential,
        kid=kid if isinstance(kid, bytes) else None,
        holder=holder,
        issuer_country=issuer,
        issued_at=issued_at,
        expires_at=expires_at,
        dcc_json=decoded.dcc_json,
    )


def _uvci(dcc: dict[str, Any], kind: CertificateType | None) -> str | None:
    if kind is None:
        return None
    group = dcc.get(_TYPE_KEYS[kind])  # not kind.value: an Enum property costs a Python call
    if isinstance(group, list) and group and isinstance(group[0], dict):
        ci = group[0].get("ci")
        return ci if isinstance(ci, str) else None
    return None
