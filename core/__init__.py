"""NatID's shared kernel: settings, database, errors, clock, cache and the audit ledger.

``core`` imports no other NatID package (ARCHITECTURE.md, "Which way imports go").
"""

from core.audit import (
    AuditEntry,
    AuditError,
    AuditLedger,
    AuditLedgerBroken,
    AuditUnavailable,
    Checkpoint,
    InvalidAuditEntry,
    LedgerHead,
    LedgerReport,
    NoCheckpointPossible,
    verify_chain,
)
from core.cache import Cache, CacheError, InMemoryCache, RedisCache
from core.clock import Clock, FixedClock, SystemClock, require_aware
from core.db import Base, UTCDateTime, make_engine, make_session_factory, transaction
from core.errors import (
    Conflict,
    CoreError,
    InfrastructureError,
    InvalidInput,
    NatIDError,
    NotFound,
    PermissionDenied,
    RemoteDataError,
)
from core.settings import KeyBackendKind, Settings, SettingsError, load_settings

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditLedger",
    "AuditLedgerBroken",
    "AuditUnavailable",
    "Base",
    "Cache",
    "CacheError",
    "Checkpoint",
    "Clock",
    "Conflict",
    "CoreError",
    "FixedClock",
    "InMemoryCache",
    "InfrastructureError",
    "InvalidAuditEntry",
    "InvalidInput",
    "KeyBackendKind",
    "LedgerHead",
    "LedgerReport",
    "NatIDError",
    "NoCheckpointPossible",
    "NotFound",
    "PermissionDenied",
    "RedisCache",
    "RemoteDataError",
    "Settings",
    "SettingsError",
    "SystemClock",
    "UTCDateTime",
    "load_settings",
    "make_engine",
    "make_session_factory",
    "require_aware",
    "transaction",
    "verify_chain",
]
