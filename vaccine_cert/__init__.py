"""Health credentials in the EU DCC format (HCERT): decoding and offline verification.

This slice verifies: :func:`verify` takes an ``HC1:`` payload, the trusted document signer
certificates and a moment, and returns a :class:`VerificationReport` with one outcome per check
(decode, signature, expiry, schema, revocation) and, only for a credential that passed, a
:class:`VerifiedCredential`. Issuance, trust lists, revocation lists and the border page come
in later slices. See ``docs/`` and the issue for the contract.
"""

from vaccine_cert.base45 import b45decode, b45encode
from vaccine_cert.errors import (
    Base45Error,
    CredentialRejected,
    DecodeStage,
    HcertDecodeError,
    HealthCertError,
    InvalidTrustedCertificate,
    QrImageUnreadable,
    SchemaUnavailable,
)
from vaccine_cert.hcert import HC1_PREFIX, DecodedHcert, decode_hc1
from vaccine_cert.qrimage import read_qr_texts
from vaccine_cert.report import (
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
from vaccine_cert.trust import (
    CertificateType,
    RevokedSigner,
    TrustedSigner,
    TrustedSigners,
    kid_of,
)
from vaccine_cert.verify import verify, verify_many

__all__ = [
    "HC1_PREFIX",
    "Base45Error",
    "CertificateType",
    "Check",
    "CredentialRejected",
    "DccSchema",
    "DecodeStage",
    "DecodedHcert",
    "Finding",
    "HcertDecodeError",
    "HealthCertError",
    "Holder",
    "InvalidTrustedCertificate",
    "Outcome",
    "QrImageUnreadable",
    "ReasonCode",
    "RevocationCheck",
    "RevocationQuery",
    "RevokedSigner",
    "SchemaUnavailable",
    "TrustedSigner",
    "TrustedSigners",
    "VerificationReport",
    "VerifiedCredential",
    "b45decode",
    "b45encode",
    "decode_hc1",
    "kid_of",
    "read_qr_texts",
    "verify",
    "verify_many",
]
