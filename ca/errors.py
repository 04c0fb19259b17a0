"""Errors of the certificate authority (issuance, revocation, CRL, OCSP, TSA, log).

Each concrete error also derives from one of core's fault kinds.
"""

from __future__ import annotations

from core.errors import (
    Conflict,
    InfrastructureError,
    InvalidInput,
    NatIDError,
    NotFound,
    RemoteDataError,
)

__all__ = [
    "CAError",
    "HierarchyExists",
    "InvalidCertificateRequest",
    "InvalidLogRequest",
    "InvalidPkiConfiguration",
    "InvalidSubjectName",
    "InvalidTSAConfiguration",
    "KeyPolicyViolation",
    "MalformedQcStatements",
    "MerkleProofInvalid",
    "ProfileViolation",
    "TransparencyLogBroken",
    "TransparencyLogUnavailable",
    "TreeHeadInvalid",
    "UnknownProfile",
]


class CAError(NatIDError):
    """Base of every error the ca package raises."""

    code = "ca_error"


# --- profiles, names and certificate building (ca/profiles.py, ca/names.py, ca/x509build.py) ---


class InvalidPkiConfiguration(CAError, InvalidInput):
    """A PKI setting is malformed: the public base URL, a CA name, the policy OID arc."""

    code = "invalid_pki_configuration"


class UnknownProfile(CAError, NotFound):
    """No certificate profile has the requested name."""

    code = "unknown_profile"


class InvalidCertificateRequest(CAError, InvalidInput):
    """The inputs to a certificate do not make a certificate this CA may sign."""

    code = "invalid_certificate_request"


class KeyPolicyViolation(InvalidCertificateRequest):
    """The public key is not allowed by the profile (algorithm, size, exponent, curve)."""

    code = "key_policy_violation"


class ProfileViolation(InvalidCertificateRequest):
    """The request does not fit the profile (subject kind, SAN, DCC purposes, validity, CA)."""

    code = "profile_violation"


class InvalidSubjectName(InvalidCertificateRequest):
    """A subject attribute is empty, too long, or has characters its attribute cannot carry."""

    code = "invalid_subject_name"


class HierarchyExists(CAError, Conflict):
    """Keys of the CA hierarchy already exist in the key backend."""

    code = "hierarchy_exists"


class MalformedQcStatements(CAError, InvalidInput):
    """A qcStatements extension value could not be encoded or decoded (ca/qcstatements.py)."""

    code = "malformed_qc_statements"


# --- time-stamping (ca/tsa.py) --------------------------------------------------------------


class InvalidTSAConfiguration(CAError, InvalidInput):
    """The TSA key, certificate, policy OID or accuracy cannot make RFC 3161 tokens."""

    code = "invalid_tsa_configuration"


# --- transparency log (ca/merkle.py, ca/transparency.py) ------------------------------------


class InvalidLogRequest(CAError, InvalidInput):
    """A log query names an index or tree size the log does not have, or a bad log input."""

    code = "invalid_log_request"


class MerkleProofInvalid(CAError, RemoteDataError):
    """An inclusion or consistency proof does not verify, or is not a proof at all.

    The proof comes from the log, which a verifier treats as an untrusted party.
    """

    code = "merkle_proof_invalid"


class TreeHeadInvalid(CAError, RemoteDataError):
    """A signed tree head is malformed or its signature does not verify."""

    code = "tree_head_invalid"


class TransparencyLogBroken(CAError, RemoteDataError):
    """The stored log fails verification: an entry changed, went missing or was never logged."""

    code = "transparency_log_broken"


class TransparencyLogUnavailable(CAError, InfrastructureError):
    """The log's database failed or is not migrated."""

    code = "transparency_log_unavailable"
