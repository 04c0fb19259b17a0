"""The CA's held-connection reads: OCSP's per-request certificate status read.

The OCSP responder reads a certificate's status from storage on *every* request (ca/ocsp.py,
decision 5: that is what makes a revocation committed by another process visible on the next
request, RFC 5019 §6 / RFC 6960 §2.2), so :meth:`ca.revoke.Revocations.status_of` runs its one
select on held DBAPI connections (core/held_read.py: no Session, no pool checkout, autocommit,
values as SQLAlchemy reads them). This module only gives those reads the CA's failure:

* A database that fails twice in a row is :class:`~ca.errors.CAStorageUnavailable` (OCSP
  answers ``tryLater`` on it), with the message and the log line (logger ``ca.status_read``,
  "CA database error on a status read", the driver's exception type as ``error``) that the CA
  has always given; no SQL, parameter or driver message goes into either.
* A reader whose engine has been garbage-collected raises ``CAStorageUnavailable("the CA's
  database engine is closed")`` without a log line, as before.

It is a failure handler and one function, not a second reader: everything else is core's.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ca.errors import CAStorageUnavailable
from core.held_read import EngineClosed, HeldReader, reader_for

__all__ = ["ca_storage_unavailable", "status_reader_for"]

log = logging.getLogger(__name__)


def ca_storage_unavailable(exc: SQLAlchemyError) -> CAStorageUnavailable:
    """The held reader's ``on_failure`` for the CA: :class:`CAStorageUnavailable`, logged."""
    if isinstance(exc, EngineClosed):
        return CAStorageUnavailable("the CA's database engine is closed")
    driver_error = type(getattr(exc, "orig", None) or exc).__name__
    log.error("%s database error on a status read", "CA", extra={"error": driver_error})
    return CAStorageUnavailable(f"the CA's database failed ({driver_error}) on a status read")


def status_reader_for(engine: Engine, statement: Select[Any]) -> HeldReader | None:
    """The engine's held reader for ``statement`` (a module-level constant), failing with
    :func:`ca_storage_unavailable`; ``None`` for engines that share one connection."""
    return reader_for(engine, statement, on_failure=ca_storage_unavailable, label="CA")
