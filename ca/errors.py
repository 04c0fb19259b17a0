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
    "CAStorageUnavailable",
    "CertificateNotFound",
    "CertificateNotRenewable",
    "HierarchyExists",
    "HierarchyIncomplete",
    "HierarchyNotInitialised",
    "InvalidBulkRequest",
    "InvalidCRLRequest",
    "InvalidCertificateRequest",
    "InvalidLogRequest",
    "InvalidOCSPConfiguration",
    "InvalidPkiConfiguration",
    "InvalidRevocationReason",
    "InvalidRevocationStatus",
    "InvalidSerialNumber",
    "InvalidSubjectName",
    "InvalidTSAConfiguration",
    "KeyAlreadyCertified",
    "KeyPolicyViolation",
    "MalformedOCSPRequest",
    "MalformedQcStatements",
    "MerkleProofInvalid",
    "ProfileViolation",
    "ProofOfPossessionFailed",
    "SubjectNotEligible",
    "TransparencyLogBroken",
    "TransparencyLogUnavailable",
    "TreeHeadInvalid",
    "UnknownProfile",
    "UnknownSubject",
    "UnsupportedOCSPRequest",
    "WeakKey",
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


# --- revocation, CRLs and OCSP (ca/revocation.py, ca/crl.py, ca/ocsp.py) -------------------


class InvalidRevocationReason(CAError, InvalidInput):
    """A revocation reason is not one of the RFC 5280 §5.3.1 CRLReason names."""

    code = "invalid_revocation_reason"


class InvalidRevocationStatus(CAError, InvalidInput):
    """A revocation status or CRL entry is inconsistent (bad serial, naive time, no reason)."""

    code = "invalid_revocation_status"


class MalformedOCSPRequest(CAError, InvalidInput):
    """An OCSP request is not a DER OCSPRequest this responder can read (RFC 6960 §4.1).

    The responder answers it with the ``malformedRequest`` status, never with an exception.
    """

    code = "malformed_ocsp_request"


class UnsupportedOCSPRequest(CAError, InvalidInput):
    """An OCSP request is well-formed but asks what this responder cannot answer with
    authority (an unknown CertID hash algorithm); answered ``unauthorized`` (RFC 6960 §2.3)."""

    code = "unsupported_ocsp_request"


class InvalidOCSPConfiguration(CAError, InvalidInput):
    """The responder certificate, key or issuer cannot make OCSP responses (RFC 6960 §4.2.2.2)."""

    code = "invalid_ocsp_configuration"


class InvalidCRLRequest(CAError, InvalidInput):
    """The inputs to a CRL do not make a CRL (RFC 5280 §5): numbers, times, entries, issuer."""

    code = "invalid_crl_request"


# --- issuance and storage (ca/csr.py, ca/keypolicy.py, ca/issuance.py, ca/store.py) ---------


class ProofOfPossessionFailed(InvalidCertificateRequest):
    """The CSR's signature does not verify with its own public key (RFC 2986 §3, RFC 4211 §4)."""

    code = "proof_of_possession_failed"


class WeakKey(KeyPolicyViolation):
    """The public key has a known weakness that lets anyone compute the private key (ROCA,
    primes close together, a small factor)."""

    code = "weak_key"


class KeyAlreadyCertified(KeyPolicyViolation):
    """The public key is already certified (for another subject, or needs ``renew``)."""

    code = "key_already_certified"


class SubjectNotEligible(InvalidCertificateRequest):
    """The subject exists but may not have this certificate: inactive, proofing level too
    low, or the wrong kind of subject for the profile."""

    code = "subject_not_eligible"


class UnknownSubject(CAError, NotFound):
    """No subject of the kind the profile needs has this id in the register."""

    code = "unknown_subject"


class CertificateNotFound(CAError, NotFound):
    """No certificate with this serial number was issued by this CA."""

    code = "certificate_not_found"


class InvalidSerialNumber(CAError, InvalidInput):
    """A serial number is not hex as ``openssl x509 -serial`` prints it (RFC 5280 §4.1.2.2)."""

    code = "invalid_serial_number"


class IssuerRetired(CAError, Conflict):
    """The issuing CA was retired (for example revoked) after this process loaded it."""

    code = "issuer_retired"


class CertificateNotRenewable(CAError, Conflict):
    """The certificate cannot be renewed or re-keyed: revoked, on hold, expired, already
    replaced, or of a profile only the hierarchy issues."""

    code = "certificate_not_renewable"


class InvalidBulkRequest(CAError, InvalidInput):
    """A bulk-issuance input as a whole is unusable (not text, a line far too long)."""

    code = "invalid_bulk_request"


class HierarchyNotInitialised(CAError, InfrastructureError):
    """The CA hierarchy has not been created yet (``natid ca init`` / ``natid init``)."""

    code = "hierarchy_not_initialised"


class HierarchyIncomplete(CAError, InfrastructureError):
    """The key backend and the database disagree about the hierarchy (keys without stored
    certificates, or stored certificates whose keys are gone)."""

    code = "hierarchy_incomplete"


class CAStorageUnavailable(CAError, InfrastructureError):
    """The CA's database failed or is not migrated; nothing of the operation was stored."""

    code = "ca_storage_unavailable"
