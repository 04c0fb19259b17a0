"""Errors of document signing and validation. Each concrete error also derives from one of
core's fault kinds (STYLE.md, "Errors"): a bad or hostile PDF is the caller's fault
(:class:`InvalidPdf`, HTTP 400), a missing certificate is "not found" (404), a missing font or a
failing TSA is our own infrastructure (503).

Messages name what was received and what was expected; they never quote document content,
key material or national ID numbers.
"""

from __future__ import annotations

from core.errors import InfrastructureError, InvalidInput, NatIDError, NotFound

__all__ = [
    "EncryptedPdf",
    "InvalidPdf",
    "InvalidSigningRequest",
    "NoESealCertificate",
    "NoSigningCertificate",
    "SigningError",
    "SigningUnavailable",
    "StampFontMissing",
]


class SigningError(NatIDError):
    """Base of every error the signing package raises."""

    code = "signing_error"


class InvalidSigningRequest(SigningError, InvalidInput):
    """The request itself is wrong: an unknown PAdES level, a bad field name, a bad option."""

    code = "invalid_signing_request"


class InvalidPdf(SigningError, InvalidInput):
    """The input is not a PDF NatID can sign or validate (broken, hostile, oversized)."""

    code = "invalid_pdf"


class EncryptedPdf(InvalidPdf):
    """The PDF is encrypted; NatID signs only unencrypted documents."""

    code = "encrypted_pdf"


class NoSigningCertificate(SigningError, NotFound):
    """The signer has no valid signing certificate with a server-side key."""

    code = "no_signing_certificate"


class NoESealCertificate(NoSigningCertificate):
    """The legal entity has no valid ``eseal`` certificate with a server-side key."""

    code = "no_eseal_certificate"


class StampFontMissing(SigningError, InfrastructureError):
    """The Khmer font for visible stamps is not installed (Debian ``fonts-khmeros``)."""

    code = "stamp_font_missing"


class SigningUnavailable(SigningError, InfrastructureError):
    """A collaborator of signing failed: the TSA, OCSP/CRL sources or the key backend."""

    code = "signing_unavailable"
