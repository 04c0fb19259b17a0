"""NatID's shared kernel: settings, database, errors, clock, cache and the audit ledger.

``core`` imports no other NatID package (ARCHITECTURE.md, "Which way imports go").
"""

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
    "Base",
    "Cache",
    "CacheError",
    "Clock",
    "Conflict",
    "CoreError",
    "FixedClock",
    "InMemoryCache",
    "InfrastructureError",
    "InvalidInput",
    "KeyBackendKind",
    "NatIDError",
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
]
