"""The IdP's signing keys: generation in the key backend, rotation, and the published JWKS.

ID tokens and JWT access tokens are signed with keys held in the key backend under the labels
``idp-sig-<n>`` (ES256 on EC P-256 by default, PS256 on RSA when configured). Each key is in
one state (``idp_signing_keys.state``):

``next``
    Published in the JWKS but not used to sign yet, so relying parties that cache the JWKS
    learn it before they meet a token signed with it (OIDC Core §10.1.1: "the signer can
    begin using a new key at its discretion and signals the change to the verifier using the
    kid value"; a verifier that does not re-fetch on an unknown ``kid`` needs the key early).
``active``
    The one key that signs. There is at most one ``next`` and one ``active`` key; a partial
    unique index makes that hold even when several workers bootstrap at the same moment.
``retired``
    No longer signs, still published until every token it signed has expired
    (``retired_at + max_token_lifetime``); the JWKS is computed for a moment ``at``, so it
    drops out by itself. The next :meth:`SigningKeys.rotate` marks it
    ``removed`` and destroys the private key in the backend.

:meth:`SigningKeys.rotate` moves one step at a time, so an operator (``natid idp keys
rotate``) or a scheduled job can call it as often as they like:

1. remove retired keys whose tokens have all expired;
2. with no active key (a new installation): make one and activate it at once - no token
   was ever signed, so no cache can be stale;
3. with no ``next`` key: publish one;
4. with a ``next`` key published at least ``cache_period`` ago: activate it and retire the
   active one; otherwise refuse with :class:`~idp.errors.RotationTooEarly`, saying when.

Every step is an audit entry (``idp.key.published``, ``.activated``, ``.retired``,
``.removed``) carrying the ``kid`` and label, never key material. The ``kid`` is the RFC 7638
thumbprint of the public JWK (:func:`idp.jose.public_jwk`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock, require_aware
from core.db import transaction
from hsm_adapters import KeyAlgorithm, KeyBackend, KeyBackendError, KeyExists
from idp.errors import IdPStoreUnavailable, RotationTooEarly, SigningKeyUnavailable
from idp.jose import algorithm_for_key, public_jwk
from idp.models import SigningKeyRow

__all__ = [
    "DEFAULT_CACHE_PERIOD",
    "DEFAULT_MAX_TOKEN_LIFETIME",
    "KeyState",
    "RotationResult",
    "SigningKey",
    "SigningKeyInfo",
    "SigningKeys",
]

log = logging.getLogger(__name__)

#: How long relying parties may cache the JWKS (the routes send it as ``max-age``).
DEFAULT_CACHE_PERIOD = dt.timedelta(hours=24)
#: The longest lifetime of a token signed by these keys (ID and access tokens).
DEFAULT_MAX_TOKEN_LIFETIME = dt.timedelta(hours=1)
LABEL_PREFIX = "idp-sig-"
_LABEL_ATTEMPTS = 5
#: How long a worker reuses what it read of the key table (seconds). Rotation bumps a version
#: in the shared cache, so every worker sees it at its next use; without a shared cache another
#: worker's rotation shows within this time. Either way no verifier meets an unknown ``kid``:
#: a key is published a cache period before it signs, and stays published after it retires.
SNAPSHOT_TTL = 5.0
_VERSION_KEY = "idp:signing-keys:version"


class KeyState(StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """What may be shown about a signing key: ids, state and dates, never the private key."""

    kid: str
    label: str
    alg: str
    state: KeyState
    jwk: dict[str, str]
    published_at: dt.datetime
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None
    removed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The active key, ready to sign (its private half stays in the key backend)."""

    kid: str
    alg: str
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What one call of :meth:`SigningKeys.rotate` did."""

    published: SigningKeyInfo | None = None
    activated: SigningKeyInfo | None = None
    retired: SigningKeyInfo | None = None
    removed: tuple[SigningKeyInfo, ...] = ()


def _info(row: SigningKeyRow) -> SigningKeyInfo:
    return SigningKeyInfo(
        kid=row.kid,
        label=row.label,
        alg=row.alg,
        state=KeyState(row.state),
        jwk=json.loads(row.jwk),
        published_at=row.published_at,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
        removed_at=row.removed_at,
    )


class SigningKeys:
    """The IdP's JWS signing keys: the active one, the published JWKS, and rotation."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        keys: KeyBackend,
        ledger: AuditLedger,
        clock: Clock,
        algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256,
        cache_period: dt.timedelta = DEFAULT_CACHE_PERIOD,
        max_token_lifetime: dt.timedelta = DEFAULT_MAX_TOKEN_LIFETIME,
        cache: Cache | None = None,
        snapshot_ttl: float = SNAPSHOT_TTL,
    ) -> None:
        if algorithm not in {KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072}:
            raise ValueError(
                f"IdP signing keys are ec-p256 (ES256) or RSA (PS256), not {algorithm}"
            )
        self._sessions = sessions
        self._keys = keys
        self._ledger = ledger
        self._clock = clock
        self._algorithm = algorithm
        self.cache_period = cache_period
        self.max_token_lifetime = max_token_lifetime
        self._loaded: dict[str, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey] = {}
        self._cache = cache
        self._snapshot_ttl = snapshot_ttl
        #: (expires at, shared version, the keys not removed, oldest first): see _current().
        self._snapshot: tuple[float, bytes | None, tuple[SigningKeyInfo, ...]] | None = None
        #: The last (active key info, SigningKey) handed out by signing_key().
        self._last_signing: tuple[SigningKeyInfo, SigningKey] | None = None

    # --- storage helpers -----------------------------------------------------------------------

    @contextmanager
    def _db(self) -> Iterator[Session]:
        try:
            with transaction(self._sessions) as session:
                yield session
        except SQLAlchemyError as exc:
            raise IdPStoreUnavailable(
                f"the signing-key store failed ({type(exc).__name__}); is the database migrated?"
            ) from None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                session.connection(execution_options={"sqlite_deferred": True})
                yield session
        except SQLAlchemyError as exc:
            raise IdPStoreUnavailable(
                f"the signing-key store failed ({type(exc).__name__}); is the database migrated?"
            ) from None

    def _load(self, label: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        key = self._loaded.get(label)
        if key is None:
            try:
                loaded = self._keys.load(label)
            except KeyBackendError as exc:
                raise SigningKeyUnavailable(f"the signing key {label} cannot be loaded") from exc
            if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise SigningKeyUnavailable(f"the signing key {label} is not an EC or RSA key")
            key = self._loaded.setdefault(label, loaded)
        return key

    def _generate(
        self, session: Session
    ) -> tuple[str, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
        count = len(session.scalars(select(SigningKeyRow.kid)).all())
        for n in range(count + 1, count + 1 + _LABEL_ATTEMPTS):
            label = f"{LABEL_PREFIX}{n}"
            try:
                key = self._keys.generate(label, self._algorithm)
            except KeyExists:
                # A label left behind by an interrupted rotation: never reuse a key whose
                # history is unknown; take the next number.
                continue
            except KeyBackendError as exc:
                raise SigningKeyUnavailable("the key backend could not make a signing key") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise SigningKeyUnavailable(f"the key backend made a {type(key).__name__}")
            return label, key
        raise SigningKeyUnavailable(f"no free label after {LABEL_PREFIX}{count}")

    def _new_row(
        self, session: Session, state: KeyState, now: dt.datetime, actor: str
    ) -> SigningKeyRow:
        label, key = self._generate(session)
        alg = algorithm_for_key(key)
        jwk = public_jwk(key.public_key(), alg=alg)
        row = SigningKeyRow(
            kid=jwk["kid"],
            label=label,
            alg=alg,
            state=state.value,
            jwk=json.dumps(jwk, sort_keys=True),
            published_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
            retired_at=None,
            removed_at=None,
        )
        session.add(row)
        session.flush()
        self._loaded[label] = key
        self._audit(session, "idp.key.published", row, actor)
        if state is KeyState.ACTIVE:
            self._audit(session, "idp.key.activated", row, actor)
        return row

    def _audit(self, session: Session, event: str, row: SigningKeyRow, actor: str) -> None:
        self._ledger.append(
            event,
            actor=actor,
            subject=row.kid,
            data={"label": row.label, "alg": row.alg},
            session=session,
        )

    @staticmethod
    def _in_state(session: Session, state: KeyState) -> list[SigningKeyRow]:
        query = select(SigningKeyRow).where(SigningKeyRow.state == state.value)
        return list(session.scalars(query.order_by(SigningKeyRow.published_at)).all())

    # --- rotation ------------------------------------------------------------------------------

    def ensure_active(self, *, actor: str = "natid") -> SigningKeyInfo:
        """The active key, made and activated first if there is none (new installation)."""
        with self._read() as session:
            active = self._in_state(session, KeyState.ACTIVE)
        if active:
            return _info(active[0])
        result = self.rotate(actor=actor)
        if result.activated is not None:
            return result.activated
        return self.active_info()

    def rotate(self, *, actor: str = "cli", at: dt.datetime | None = None) -> RotationResult:
        """Advance rotation by one step (see the module docstring); audited."""
        now = require_aware(at if at is not None else self._clock.now())
        removed_labels: list[str] = []
        try:
            with self._db() as session:
                removed = self._remove_expired(session, now, actor)
                removed_labels = [r.label for r in removed]
                removed_info = tuple(_info(r) for r in removed)
                active = self._in_state(session, KeyState.ACTIVE)
                pending = self._in_state(session, KeyState.NEXT)
                if not active:
                    row = self._new_row(session, KeyState.ACTIVE, now, actor)
                    result = RotationResult(activated=_info(row), removed=removed_info)
                elif not pending:
                    row = self._new_row(session, KeyState.NEXT, now, actor)
                    result = RotationResult(published=_info(row), removed=removed_info)
                else:
                    result = self._promote(session, pending[0], active[0], now, actor)
                    result = RotationResult(
                        activated=result.activated, retired=result.retired, removed=removed_info
                    )
        except IntegrityError:
            # Another worker took the same step at the same moment (the partial unique index
            # allows one next and one active key); its result stands.
            raise SigningKeyUnavailable(
                "another process rotated the signing keys at the same time; run it again"
            ) from None
        self._changed()
        for label in removed_labels:
            self._destroy(label)
        return result

    # --- the per-worker snapshot of the key table ----------------------------------------------

    def _changed(self) -> None:
        """After a rotation committed: drop this worker's snapshot and tell the others."""
        self._snapshot = None
        if self._cache is not None:
            self._cache.set(_VERSION_KEY, secrets.token_bytes(8), ttl=86_400 * 30)

    def _current(self) -> tuple[SigningKeyInfo, ...]:
        """The keys not removed (oldest first), read at most every ``snapshot_ttl`` seconds.

        Only a snapshot with an active key is kept, so a new installation's first key is
        seen at once. Private keys are never part of it (they stay in the key backend).
        """
        now = self._clock.now().timestamp()
        version = self._cache.get(_VERSION_KEY) if self._cache is not None else None
        snapshot = self._snapshot
        if snapshot is not None and now < snapshot[0] and snapshot[1] == version:
            return snapshot[2]
        with self._read() as session:
            rows = session.scalars(
                select(SigningKeyRow)
                .where(SigningKeyRow.state != KeyState.REMOVED.value)
                .order_by(SigningKeyRow.published_at)
            ).all()
            infos = tuple(_info(r) for r in rows)
        if any(i.state is KeyState.ACTIVE for i in infos):
            self._snapshot = (now + self._snapshot_ttl, version, infos)
        return infos

    def _promote(
        self,
        session: Session,
        pending: SigningKeyRow,
        active: SigningKeyRow,
        now: dt.datetime,
        actor: str,
    ) -> RotationResult:
        ready_at = pending.published_at + self.cache_period
        if now < ready_at:
            raise RotationTooEarly(
                f"the next key {pending.kid} was published at {pending.published_at.isoformat()};"
                f" relying parties may cache the JWKS for {self.cache_period}, so it can be"
                f" activated from {ready_at.isoformat()}"
            )
        # Retire first, then activate: the partial unique index allows one active key.
        active.state = KeyState.RETIRED.value
        active.retired_at = now
        session.flush()
        pending.state = KeyState.ACTIVE.value
        pending.activated_at = now
        session.flush()
        self._audit(session, "idp.key.retired", active, actor)
        self._audit(session, "idp.key.activated", pending, actor)
        return RotationResult(activated=_info(pending), retired=_info(active))

    def _remove_expired(
        self, session: Session, now: dt.datetime, actor: str
    ) -> list[SigningKeyRow]:
        removed = []
        for row in self._in_state(session, KeyState.RETIRED):
            if row.retired_at is not None and row.retired_at + self.max_token_lifetime <= now:
                row.state = KeyState.REMOVED.value
                row.removed_at = now
                removed.append(row)
                self._audit(session, "idp.key.removed", row, actor)
        session.flush()
        return removed

    def _destroy(self, label: str) -> None:
        # After the commit: a key no verifier trusts any more must not be able to sign either.
        self._loaded.pop(label, None)
        try:
            self._keys.destroy(label)
        except KeyBackendError as exc:
            log.warning(
                "could not destroy a removed IdP signing key",
                extra={"label": label, "error": type(exc).__name__},
            )

    # --- use -----------------------------------------------------------------------------------

    def active_info(self) -> SigningKeyInfo:
        for info in self._current():
            if info.state is KeyState.ACTIVE:
                return info
        raise SigningKeyUnavailable("no active IdP signing key; run `natid idp keys rotate`")

    def signing_key(self) -> SigningKey:
        """The active key, to sign an ID token or access token now."""
        info = self.active_info()
        key = self._load(info.label)
        # The same snapshot entry and the same backend key object give an equal SigningKey
        # (frozen), so the last one is handed out again instead of being rebuilt per token.
        last = self._last_signing
        if last is not None and last[0] is info and last[1].key is key:
            return last[1]
        signing = SigningKey(kid=info.kid, alg=info.alg, key=key)
        self._last_signing = (info, signing)
        return signing

    def published(self, *, at: dt.datetime) -> list[SigningKeyInfo]:
        """Keys in the JWKS at ``at``: next, active, and retired ones whose tokens may live."""
        at = require_aware(at)
        return [
            info
            for info in self._current()
            if info.retired_at is None or info.retired_at + self.max_token_lifetime > at
        ]

    def jwks(self, *, at: dt.datetime) -> dict[str, Any]:
        """The JWK Set (RFC 7517 §5) to serve at ``jwks_uri``: public keys only."""
        return {"keys": [dict(info.jwk) for info in self.published(at=at)]}

    def list(self) -> list[SigningKeyInfo]:
        """Every key ever made, oldest first, removed ones included (for operators)."""
        with self._read() as session:
            rows = session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.published_at))
            return [_info(r) for r in rows.all()]
