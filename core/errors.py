"""The project's error hierarchy (STYLE.md, "Errors").

Every error NatID raises on purpose derives from :class:`NatIDError` and carries a stable
``code`` that clients and logs may rely on. Errors are split by whose fault they are:

* :class:`InvalidInput` - the caller sent something wrong (HTTP 4xx);
* :class:`RemoteDataError` - a remote party sent bad data (a register, a foreign trust list);
* :class:`InfrastructureError` - our own infrastructure failed (database, HSM, cache; HTTP 5xx).

Each package defines its own base under ``NatIDError`` (``KeyBackendError``, ``RegistryError``,
...) and mixes in one of the three kinds. Messages say what was received and what was expected,
and never contain secrets, key material or national ID numbers.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "CoreError",
    "DatabaseUnreachable",
    "InfrastructureError",
    "InvalidDatabaseURL",
    "InvalidInput",
    "NatIDError",
    "NotFound",
    "PermissionDenied",
    "RemoteDataError",
    "StorageUnavailable",
]


class NatIDError(Exception):
    """Base of every error NatID raises on purpose."""

    code: str = "natid_error"
    #: The HTTP status that ``api/errors.py`` maps this kind of error to.
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(NatIDError):
    """The caller's input is wrong; retrying the same input will fail again."""

    code = "invalid_input"
    http_status = 400


class NotFound(InvalidInput):
    """The caller named something that does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(InvalidInput):
    """The request contradicts the current state (a duplicate, a stale version)."""

    code = "conflict"
    http_status = 409


class PermissionDenied(NatIDError):
    """The caller is known but not allowed to do this."""

    code = "permission_denied"
    http_status = 403


class RemoteDataError(NatIDError):
    """A remote party (register, trust list, peer) sent data we cannot accept."""

    code = "remote_data_error"
    http_status = 502


class InfrastructureError(NatIDError):
    """Our own infrastructure (database, cache, key store) failed."""

    code = "infrastructure_error"
    http_status = 503


class CoreError(NatIDError):
    """Base of the shared kernel's own errors."""

    code = "core_error"


class StorageUnavailable(CoreError, InfrastructureError):
    """A read on a held database connection failed twice in a row (core/held_read.py).

    The message names the reader's label and the driver's exception type only, never SQL,
    parameters or the driver's message.
    """

    code = "storage_unavailable"


class DatabaseUnreachable(CoreError, InfrastructureError):
    """No connection to the database could be made (core/db.py, :func:`~core.db.connect_check`),
    or the one in use broke in the middle of the work (:func:`~core.db.connection_lost`).

    The message names where the database is (host and port, or a SQLite file) and the driver's
    reason, never the URL's password, the SQL statement or its parameters.
    """

    code = "database_unreachable"


class InvalidDatabaseURL(CoreError):
    """The configured database URL cannot be used (core/db.py, :func:`~core.db.make_engine`).

    A configuration error like ``SettingsError``: malformed (a port that is not a number, no
    ``dialect://`` at all), or naming a database or driver SQLAlchemy does not have. The message
    says which, and never quotes the URL or a part of it that could hold the password.
    """

    code = "invalid_database_url"
