"""Errors of health credentials. Each concrete error also derives from one of core's fault kinds.

The verifier itself never raises for a bad credential: :func:`vaccine_cert.verify.verify` turns
every problem into a failed check of its report. These errors are what the layers under it
raise (and it catches), and what a caller gets when it insists on a valid credential
(:meth:`~vaccine_cert.verify.VerificationReport.require_valid`). Messages never quote the
holder's name, date of birth or certificate identifier.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import (
    Conflict,
    InfrastructureError,
    InvalidInput,
    NatIDError,
    NotFound,
    RemoteDataError,
)

__all__ = [
    "AlreadyRevoked",
    "Base45Error",
    "CredentialRejected",
    "DecodeStage",
    "HcertDecodeError",
    "HealthCertError",
    "InvalidDccRecord",
    "InvalidRevocationHash",
    "InvalidTrustedCertificate",
    "NoHealthSigner",
    "QrImageUnreadable",
    "SchemaUnavailable",
    "TrustListRejected",
    "TrustListUnavailable",
    "UnknownHealthCertificate",
]


class HealthCertError(NatIDError):
    """Base of every error the vaccine_cert package raises."""

    code = "health_cert_error"


class DecodeStage(StrEnum):
    """The layers of an ``HC1:`` payload, outermost first (:mod:`vaccine_cert.hcert`)."""

    PREFIX = "prefix"  # the "HC1:" context identifier
    BASE45 = "base45"  # RFC 9285
    ZLIB = "zlib"  # RFC 1950
    CBOR = "cbor"  # RFC 8949, with NatID's size, depth and tag limits
    COSE = "cose"  # COSE_Sign1, RFC 9052 §4.2
    CWT = "cwt"  # CWT claims, RFC 8392, and the hcert claim -260


class Base45Error(HealthCertError, InvalidInput):
    """Text that RFC 9285 §6 says a decoder must reject."""

    code = "base45_invalid"


class HcertDecodeError(HealthCertError, InvalidInput):
    """An ``HC1:`` payload that cannot be unwrapped; ``stage`` says at which layer."""

    code = "hcert_decode_failed"

    def __init__(self, stage: DecodeStage, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.detail = message


class CredentialRejected(HealthCertError, InvalidInput):
    """A credential that failed verification, raised when the caller requires a valid one."""

    code = "health_credential_rejected"

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("health credential rejected: " + "; ".join(reasons))
        self.reasons = reasons


class InvalidTrustedCertificate(HealthCertError, InvalidInput):
    """A certificate handed to the verifier as trusted that it cannot use as a signer."""

    code = "health_trusted_certificate_invalid"


class QrImageUnreadable(HealthCertError, InvalidInput):
    """An image that is not a picture, is too large, or holds no readable QR code."""

    code = "qr_image_unreadable"


class SchemaUnavailable(HealthCertError, InfrastructureError):
    """The DCC JSON schema NatID ships (or was configured with) cannot be loaded."""

    code = "dcc_schema_unavailable"


class InvalidDccRecord(HealthCertError, InvalidInput):
    """A record to issue that the DCC schema or value sets refuse; ``field`` names the field
    (a JSON path such as ``v[0].dn``), never its value."""

    code = "dcc_record_invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnknownHealthCertificate(HealthCertError, NotFound):
    """No credential issued by NatID has this UVCI."""

    code = "health_certificate_not_found"


class AlreadyRevoked(HealthCertError, Conflict):
    """The credential is revoked already."""

    code = "health_certificate_already_revoked"


class NoHealthSigner(HealthCertError, InfrastructureError):
    """No document signer can sign now (none issued, or the health authority is missing)."""

    code = "health_signer_unavailable"


class TrustListRejected(HealthCertError, RemoteDataError):
    """A trust list or revocation list whose content or signature does not check out."""

    code = "health_trust_list_rejected"


class InvalidRevocationHash(HealthCertError, InvalidInput):
    """A revocation hash or signer kid, as given by an operator, that cannot be used."""

    code = "health_revocation_hash_invalid"


class TrustListUnavailable(HealthCertError, RemoteDataError):
    """A trust list could not be fetched from its URL (refused, too large, not HTTPS, ...)."""

    code = "health_trust_list_unavailable"
