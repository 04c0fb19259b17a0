"""The access-token check's reads on held connections (the UserInfo and introspection hot path).

Every access token presented is checked against storage (:meth:`idp.tokens.TokenService.
verify_access_token`): its grant must exist and not be revoked, and its ``jti`` must not have
been revoked alone. Both are primary-key reads made on every UserInfo call, so, like OCSP's
status read, they bypass the ORM: each is a compiled SQLAlchemy Core select run on a DBAPI
connection held by :class:`core.held_read.HeldReader` (autocommit, so a revocation committed by
any worker is seen by the next read; nothing is cached). Engines that share one connection
(in-memory SQLite) get no readers and the caller reads through its session as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageUnavailable
from core.held_read import HeldReader
from idp.errors import IdPStoreUnavailable
from idp.models import GrantRow, RevokedAccessTokenRow

__all__ = ["GrantState", "TokenReads", "token_reads_for"]

_GRANTS = GrantRow.__table__.c
_REVOKED_JTIS = RevokedAccessTokenRow.__table__.c
_GRANT: Select[Any] = select(
    _GRANTS.client_id, _GRANTS.subject, _GRANTS.claims, _GRANTS.revoked_at
).where(_GRANTS.id == bindparam("b_grant_id"))
_REVOKED: Select[Any] = select(_REVOKED_JTIS.jti).where(_REVOKED_JTIS.jti == bindparam("b_jti"))


@dataclass(frozen=True, slots=True)
class GrantState:
    """What the access-token check needs of a grant."""

    client_id: str
    subject: str
    claims: str | None
    revoked_at: dt.datetime | None


class TokenReads:
    """The grant read and the revoked-``jti`` read on held connections."""

    def __init__(self, engine: Engine) -> None:
        self._grant = HeldReader(engine, _GRANT, label="IdP")
        self._revoked = HeldReader(engine, _REVOKED, label="IdP")

    def grant(self, grant_id: str) -> GrantState | None:
        try:
            row = self._grant.fetch(grant_id)
        except StorageUnavailable:
            raise IdPStoreUnavailable("the token store failed; is the database migrated?") from None
        return None if row is None else GrantState(row[0], row[1], row[2], row[3])

    def revoked(self, jti: str) -> bool:
        try:
            return self._revoked.fetch(jti) is not None
        except StorageUnavailable:
            raise IdPStoreUnavailable("the token store failed; is the database migrated?") from None


def token_reads_for(sessions: sessionmaker[Session]) -> TokenReads | None:
    """Readers over the engine ``sessions`` is bound to, or None (shared-connection pools)."""
    from sqlalchemy.pool import SingletonThreadPool, StaticPool

    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine) or isinstance(bind.pool, StaticPool | SingletonThreadPool):
        return None
    return TokenReads(bind)
