"""ca: see its issue; nothing public yet."""

from ca.errors import CAError

# isort: split
from ca.errors import (
    HierarchyExists,
    InvalidCertificateRequest,
    InvalidPkiConfiguration,
    InvalidSubjectName,
    KeyPolicyViolation,
    MalformedQcStatements,
    ProfileViolation,
    UnknownProfile,
)
from ca.hierarchy import Hierarchy, create_hierarchy
from ca.names import (
    CivilServantSubject,
    LegalPersonSubject,
    NaturalPersonSubject,
    civil_servant_name,
    legal_person_name,
    natural_person_name,
    service_name,
)
from ca.profiles import (
    DEFAULT_POLICY_ARC,
    PROFILES,
    CertificateProfile,
    DccPurpose,
    KeyUsageBit,
    ProfileName,
    SubjectKind,
    get_profile,
)
from ca.qcstatements import QcStatements, QcType, SemanticsId
from ca.urls import PkiUrls
from ca.x509build import RsaSignaturePadding, build_certificate, check_public_key, new_serial

# isort: split
from ca.errors import (
    InvalidLogRequest,
    InvalidTSAConfiguration,
    MerkleProofInvalid,
    TransparencyLogBroken,
    TransparencyLogUnavailable,
    TreeHeadInvalid,
)
from ca.merkle import (
    MerkleTree,
    SignedTreeHead,
    TreeHeadAlgorithm,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
    verify_tree_head,
)
from ca.transparency import (
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    LogVerification,
    TransparencyLog,
    verify_log,
)
from ca.tsa import FailureInfo, RsaPadding, TimeStampAuthority

# isort: split
from ca.crl import CrlPlan, CrlSchedule, PublishedCrl, build_crl, delta_entries, entries_of
from ca.errors import (
    InvalidCRLRequest,
    InvalidOCSPConfiguration,
    InvalidRevocationReason,
    InvalidRevocationStatus,
    MalformedOCSPRequest,
    UnsupportedOCSPRequest,
)
from ca.ocsp import (
    OCSPQuery,
    OCSPResponder,
    decode_get_path,
    http_cache_headers,
    parse_request,
    status_lookup_from,
)
from ca.revocation import CertStatus, RevocationReason, RevocationStatus, RevokedEntry

# isort: split
from ca.bulk import BulkFailure, BulkIssued, BulkReport, BulkRequest
from ca.csr import MAX_CSR_BYTES, CertificateRequest, parse_csr, spki_sha256
from ca.errors import (
    CAStorageUnavailable,
    CertificateNotFound,
    CertificateNotRenewable,
    HierarchyIncomplete,
    HierarchyNotInitialised,
    InvalidBulkRequest,
    InvalidSerialNumber,
    KeyAlreadyCertified,
    ProofOfPossessionFailed,
    SubjectNotEligible,
    UnknownSubject,
    WeakKey,
)
from ca.issuance import ISSUABLE_PROFILES, SubjectSource
from ca.keypolicy import check_subject_key, fermat_factor, has_roca_fingerprint
from ca.models import AuthorityStatus, CertificateStatus
from ca.service import CAService
from ca.store import Authority, IssuedCertificate, normalize_serial, serial_hex

# isort: split
from ca.ceremony import (
    CeremonyPlan,
    CeremonyResult,
    CeremonyRunner,
    OfficerOutcome,
    Quorum,
    collect_quorum,
)
from ca.ceremony_file import (
    CeremonyConflict,
    CeremonyError,
    CeremonyFile,
    InvalidCeremonyFile,
    QuorumNotMet,
    hash_passphrase,
    parse_ceremony_file,
)
from ca.ceremony_transcript import TranscriptInvalid, VerifiedTranscript, verify_transcript

# isort: split
from ca.crlstore import (
    ROOT_CRL_SCHEDULE,
    CrlKind,
    CrlPublisher,
    CrlRecord,
    CrlUnavailable,
    UnknownCrl,
)
from ca.revoke import (
    CA_REVOCATION_REASONS,
    RevocationConflict,
    RevocationNotAllowed,
    RevocationQuery,
    Revocations,
    UnknownCertificateAuthority,
)

__all__ = ["CAError"]

# Profiles, names, certificate building and the development hierarchy (issue 3, first slice).
__all__ += [
    "DEFAULT_POLICY_ARC",
    "PROFILES",
    "CertificateProfile",
    "CivilServantSubject",
    "DccPurpose",
    "Hierarchy",
    "HierarchyExists",
    "InvalidCertificateRequest",
    "InvalidPkiConfiguration",
    "InvalidSubjectName",
    "KeyPolicyViolation",
    "KeyUsageBit",
    "LegalPersonSubject",
    "MalformedQcStatements",
    "NaturalPersonSubject",
    "PkiUrls",
    "ProfileName",
    "ProfileViolation",
    "QcStatements",
    "QcType",
    "RsaSignaturePadding",
    "SemanticsId",
    "SubjectKind",
    "UnknownProfile",
    "build_certificate",
    "check_public_key",
    "civil_servant_name",
    "create_hierarchy",
    "get_profile",
    "legal_person_name",
    "natural_person_name",
    "new_serial",
    "service_name",
]

# Time-stamping (RFC 3161) and the transparency log (RFC 9162 Merkle tree) (issue 3).
__all__ += [
    "ConsistencyProof",
    "FailureInfo",
    "InclusionProof",
    "InvalidLogRequest",
    "InvalidTSAConfiguration",
    "LogEntry",
    "LogVerification",
    "MerkleProofInvalid",
    "MerkleTree",
    "RsaPadding",
    "SignedTreeHead",
    "TimeStampAuthority",
    "TransparencyLog",
    "TransparencyLogBroken",
    "TransparencyLogUnavailable",
    "TreeHeadAlgorithm",
    "TreeHeadInvalid",
    "leaf_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "verify_tree_head",
]

# Revocation vocabulary, CRLs and OCSP (RFC 5280 §5, RFC 6960 / RFC 5019) (issue 3).
__all__ += [
    "CertStatus",
    "CrlPlan",
    "CrlSchedule",
    "InvalidCRLRequest",
    "InvalidOCSPConfiguration",
    "InvalidRevocationReason",
    "InvalidRevocationStatus",
    "MalformedOCSPRequest",
    "OCSPQuery",
    "OCSPResponder",
    "PublishedCrl",
    "RevocationReason",
    "RevocationStatus",
    "RevokedEntry",
    "UnsupportedOCSPRequest",
    "build_crl",
    "decode_get_path",
    "delta_entries",
    "entries_of",
    "http_cache_headers",
    "parse_request",
    "status_lookup_from",
]

# Issuance: CSRs, key policy, storage, the CA service (issue 3, second slice).
__all__ += [
    "ISSUABLE_PROFILES",
    "MAX_CSR_BYTES",
    "Authority",
    "AuthorityStatus",
    "BulkFailure",
    "BulkIssued",
    "BulkReport",
    "BulkRequest",
    "CAService",
    "CAStorageUnavailable",
    "CertificateNotFound",
    "CertificateNotRenewable",
    "CertificateRequest",
    "CertificateStatus",
    "HierarchyIncomplete",
    "HierarchyNotInitialised",
    "InvalidBulkRequest",
    "InvalidSerialNumber",
    "IssuedCertificate",
    "KeyAlreadyCertified",
    "ProofOfPossessionFailed",
    "SubjectNotEligible",
    "SubjectSource",
    "UnknownSubject",
    "WeakKey",
    "check_subject_key",
    "fermat_factor",
    "has_roca_fingerprint",
    "normalize_serial",
    "parse_csr",
    "serial_hex",
    "spki_sha256",
]

# Key ceremonies: the file, the quorum, the run, the transcript (issue 3, docs/ceremonies.md).
__all__ += [
    "CeremonyConflict",
    "CeremonyError",
    "CeremonyFile",
    "CeremonyPlan",
    "CeremonyResult",
    "CeremonyRunner",
    "InvalidCeremonyFile",
    "OfficerOutcome",
    "Quorum",
    "QuorumNotMet",
    "TranscriptInvalid",
    "VerifiedTranscript",
    "collect_quorum",
    "hash_passphrase",
    "parse_ceremony_file",
    "verify_transcript",
]

# Revocation use cases and CRL publication (issue 3, "Revocation, CRL, OCSP").
__all__ += [
    "CA_REVOCATION_REASONS",
    "ROOT_CRL_SCHEDULE",
    "CrlKind",
    "CrlPublisher",
    "CrlRecord",
    "CrlUnavailable",
    "RevocationConflict",
    "RevocationNotAllowed",
    "RevocationQuery",
    "Revocations",
    "UnknownCertificateAuthority",
    "UnknownCrl",
]
