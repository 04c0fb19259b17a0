"""signing: PAdES signatures and e-seals with keys from the key backend, and their validation
(issue 5). The entry point is :class:`~signing.service.SigningService`; docs/signing.md."""

from signing.errors import (
    EncryptedPdf,
    InvalidPdf,
    InvalidSigningRequest,
    NoESealCertificate,
    NoSigningCertificate,
    SigningError,
    SigningUnavailable,
    StampFontMissing,
)
from signing.library_logs import contain_library_logs
from signing.pades import PadesLevel
from signing.service import SealedFile, SealFailure, SealReport, SigningService
from signing.validate import Indication, SignatureReport, ValidationReport

# pyHanko's loggers quote certificate subjects (ID card numbers); signing/library_logs.py.
contain_library_logs()

__all__ = [
    "EncryptedPdf",
    "Indication",
    "InvalidPdf",
    "InvalidSigningRequest",
    "NoESealCertificate",
    "NoSigningCertificate",
    "PadesLevel",
    "SealFailure",
    "SealReport",
    "SealedFile",
    "SignatureReport",
    "SigningError",
    "SigningService",
    "SigningUnavailable",
    "StampFontMissing",
    "ValidationReport",
]
