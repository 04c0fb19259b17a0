"""Request and response schemas of the RA REST API (:mod:`api.routers.ra`).

pydantic models with ``extra="forbid"`` (STYLE.md: pydantic only where untrusted data
enters): a misspelt or smuggled field is a 422, not silently ignored. Responses are separate
from the domain values (:class:`ca.store.IssuedCertificate`), so a key handle or anything
else not listed here cannot reach a response by accident.
"""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ca.profiles import DccPurpose
from ca.revocation import RevocationReason
from ca.store import IssuedCertificate
from hsm_adapters.base import KeyAlgorithm

__all__ = [
    "CertificateOut",
    "CertificatePage",
    "IssueRequest",
    "RekeyRequest",
    "RevokeRequest",
    "SubjectLogEntryOut",
    "SubjectLogOut",
    "SubjectRevocationOut",
    "SubjectRevokeRequest",
    "certificate_out",
]


class IssueRequest(BaseModel):
    """A certificate for a register subject, from a CSR or a key made in the key backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str = Field(
        max_length=40, description="citizen-auth, citizen-sign, gov-auth, gov-sign, eseal, ..."
    )
    subject: str = Field(min_length=1, max_length=200, description="The register's id.")
    csr: str | None = Field(default=None, description="PKCS#10 request, PEM (at most 64 KiB).")
    server_key: bool = Field(default=False, description="Generate the key in the key backend.")
    algorithm: KeyAlgorithm | None = Field(default=None, description="With server_key.")
    dns_names: list[str] | None = Field(
        default=None, max_length=100, description="tls-server: DNS names (default: the CSR's)."
    )
    dcc_purposes: list[DccPurpose] | None = Field(
        default=None, max_length=3, description="health-dsc: what the signer may sign."
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> IssueRequest:
        if (self.csr is None) == (not self.server_key):
            raise ValueError("give either csr or server_key: true")
        if self.algorithm is not None and not self.server_key:
            raise ValueError("algorithm goes with server_key")
        return self


class RekeyRequest(BaseModel):
    """A new key for the subject of an existing certificate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    csr: str | None = Field(default=None, description="PKCS#10 request, PEM (at most 64 KiB).")
    server_key: bool = False
    algorithm: KeyAlgorithm | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> RekeyRequest:
        if (self.csr is None) == (not self.server_key):
            raise ValueError("give either csr or server_key: true")
        if self.algorithm is not None and not self.server_key:
            raise ValueError("algorithm goes with server_key")
        return self


class RevokeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: RevocationReason = Field(description="RFC 5280 §5.3.1 CRLReason name.")
    invalidity_date: AwareDatetime | None = Field(
        default=None, description="When the key is known or suspected to have been compromised."
    )


class SubjectRevokeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: RevocationReason = Field(description="RFC 5280 §5.3.1 CRLReason name.")


class CertificateOut(BaseModel):
    """A certificate as the CA recorded it (never a private key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serial: str
    profile: str
    subject_id: str | None
    issuer: str = Field(description="The issuing CA's name (citizen, entity, ...).")
    not_before: dt.datetime
    not_after: dt.datetime
    status: str = Field(description="good, revoked or on_hold.")
    certificate: str = Field(description="The certificate, PEM.")
    key_label: str | None = Field(
        default=None, description="Label of a server-side key in the key backend."
    )
    issued_at: dt.datetime
    requested_by: str | None = Field(description="Operator id (or cli) that requested it.")
    renewed_from: str | None
    replaced_by: str | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    invalidity_date: dt.datetime | None


class CertificatePage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    items: list[CertificateOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null at end.")


class SubjectRevocationOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject_id: str
    reason: str
    revoked: list[str] = Field(description="Serials revoked by this request.")


class SubjectLogEntryOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    leaf_index: int
    leaf_hash: str = Field(description="Merkle leaf hash, base64.")
    serial: str
    issuer: str = Field(description="The issuing CA's distinguished name (RFC 4514).")
    logged_at: dt.datetime
    profile: str | None = Field(description="From the certificate record; null if none.")
    status: str | None = Field(description="From the certificate record; null if none.")
    certificate: str = Field(description="The logged certificate, PEM.")


class SubjectLogOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject_id: str
    entries: list[SubjectLogEntryOut]


def certificate_out(cert: IssuedCertificate) -> CertificateOut:
    reason = cert.revocation_reason
    return CertificateOut(
        serial=cert.serial_hex,
        profile=cert.profile.value,
        subject_id=cert.subject_id,
        issuer=cert.issuer,
        not_before=cert.not_before,
        not_after=cert.not_after,
        status=cert.status.value,
        certificate=cert.pem,
        key_label=cert.key_label,
        issued_at=cert.issued_at,
        requested_by=cert.requested_by,
        renewed_from=cert.renewed_from,
        replaced_by=cert.replaced_by,
        revoked_at=cert.revoked_at,
        revocation_reason=reason.value if reason is not None else None,
        invalidity_date=cert.invalidity_date,
    )
