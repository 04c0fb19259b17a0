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
