"""CRL publication: numbering, storing and signing each issuer's full and delta CRLs.

:mod:`ca.crl` builds a CRL from entries; this module decides *which* CRL exists, keeps every
published one (table ``ca_crls``) and serves the current one (issue 3, "CRLs: full and delta
per issuing CA, monotonic CRL numbers, published at the distribution point, regenerated on
revocation and before nextUpdate").

Decisions:

* **Numbers** (RFC 5280 §5.2.3): one sequence per issuer, shared by full and delta CRLs,
  strictly increasing, never reused. The sequence lives in the issuer's ``ca_crl_state`` row;
  a publication locks that row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite writers are
  serialised by ``BEGIN IMMEDIATE``), re-reads what is published under the lock, signs, stores
  and moves the sequence in ONE transaction. A second process waiting on the lock then finds
  the fresh CRL and makes nothing, so two workers never publish the same number or a
  duplicate CRL. Signing happens under the lock: a CRL is signed rarely, and publishing the
  number without the CRL would leave a gap for nothing.
* **When** (:meth:`ca.crl.CrlSchedule.plan`): the same row counts the issuer's status changes
  (``change_seq``, bumped by :func:`note_status_change` in the revocation's own transaction),
  and each CRL records the count it reflects. A CRL is out of date when the count moved, not
  when a timestamp compares: CRL times are whole seconds (RFC 5280 §5.1.2.4), so a revocation
  in the same second as the last CRL would otherwise be ambiguous (republished for ever, or
  missed). That staleness is handed to ``plan`` as its ``last_change``, so the schedule's rules
  (delta at once, full after ``full_min_interval``, both before nextUpdate) stay in one place.
* **Serving** (:meth:`CrlPublisher.current`): publishes first when something is due, so a
  relying party never gets a CRL past its nextUpdate or one that misses a committed change.
  If signing is impossible (the key backend is down, the root key is offline) the newest CRL
  is served while its nextUpdate is ahead, else :class:`CrlUnavailable` (HTTP 503).
* **Scope**: an issuing CA's CRLs carry the issuingDistributionPoint ``PkiUrls.crl(ca)`` and
  point at the delta with freshestCRL (RFC 5280 §5.2.5, §5.2.6). The root's CRL (status of the
  issuing CAs) carries no IDP (see :mod:`ca.crl`) and the root publishes no deltas - its CA
  certificates name no freshestCRL - so a new full root CRL is made at once after every change
  (``full_min_interval`` 0).
* **Entries**: every revoked or held certificate of the issuer, kept for one full-CRL validity
  after the certificate expires, so it appears on at least one regularly scheduled CRL issued
  beyond its validity period (RFC 5280 §3.3, §5.1.2.6) before it is dropped. A delta compares
  against its base's entries (:func:`ca.crl.delta_entries`), and lists a released hold as
  ``removeFromCRL`` (§5.3.1).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ca.crl import CrlPlan, CrlSchedule, PublishedCrl, build_crl, delta_entries, entries_of
from ca.errors import CAError
from ca.hierarchy import ROOT_CA
from ca.models import CACertificateRow, CACrlRow, CACrlStateRow, CertificateStatus, CrlKind
from ca.revocation import RevocationReason, RevokedEntry
from ca.store import CertificateStore
from ca.urls import PkiUrls
from core.clock import Clock, require_aware
from core.db import Base
from core.errors import InfrastructureError, NatIDError, NotFound
from hsm_adapters.base import BackendPrivateKey, KeyBackend

__all__ = [
    "ROOT_CRL_SCHEDULE",
    "CrlKind",
    "CrlPublisher",
    "CrlRecord",
    "CrlUnavailable",
    "UnknownCrl",
    "newest_full_crls",
    "note_status_change",
]

log = logging.getLogger(__name__)

#: The root publishes full CRLs only, valid 30 days, renewed 10 days ahead and at once after a
#: change (an issuing CA revoked must show at once: there is no delta to carry it).
ROOT_CRL_SCHEDULE = CrlSchedule(
    full_validity=dt.timedelta(days=30),
    full_margin=dt.timedelta(days=10),
    full_min_interval=dt.timedelta(0),
    deltas=False,
)

_STATE = Base.metadata.tables[CACrlStateRow.__tablename__]
_CRLS = Base.metadata.tables[CACrlRow.__tablename__]
_CERTS = Base.metadata.tables[CACertificateRow.__tablename__]
_NOT_GOOD = (CertificateStatus.REVOKED.value, CertificateStatus.ON_HOLD.value)


def newest_full_crls(store: CertificateStore) -> dict[str, tuple[int, dt.datetime]]:
    """Per issuer that has published one, its newest full CRL's number and nextUpdate (a read,
    nothing published; ca/expiry.py)."""
    newest = (
        select(_CRLS.c.issuer, func.max(_CRLS.c.crl_number).label("number"))
        .where(_CRLS.c.kind == CrlKind.FULL.value)
        .group_by(_CRLS.c.issuer)
        .subquery()
    )
    query = select(_CRLS.c.issuer, _CRLS.c.crl_number, _CRLS.c.next_update).join(
        newest, (_CRLS.c.issuer == newest.c.issuer) & (_CRLS.c.crl_number == newest.c.number)
    )
    with store.read() as session:
        rows = session.execute(query).all()
    return {row.issuer: (row.crl_number, row.next_update) for row in rows}


class UnknownCrl(CAError, NotFound):
    """No CA of that name, or a delta CRL of a CA that publishes none (the root)."""

    code = "unknown_crl"


class CrlUnavailable(CAError, InfrastructureError):
    """A CRL is due but cannot be signed now, and no published one is still current."""

    code = "crl_unavailable"


@dataclass(frozen=True, slots=True)
class CrlRecord:
    """One published CRL as stored."""

    issuer: str
    number: int
    kind: CrlKind
    delta_base: int | None
    this_update: dt.datetime
    next_update: dt.datetime
    covered_changes: int
    der: bytes = field(repr=False)

    @property
    def published(self) -> PublishedCrl:
        return PublishedCrl(self.number, self.this_update, self.next_update, self.delta_base)

    @property
    def pem(self) -> bytes:
        crl = x509.load_der_x509_crl(self.der)
        return crl.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class _State:
    last_number: int
    change_seq: int


def _record(row: object, der: bytes | None = None) -> CrlRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return CrlRecord(
        issuer=m["issuer"],
        number=m["crl_number"],
        kind=CrlKind(m["kind"]),
        delta_base=m["delta_base"],
        this_update=m["this_update"],
        next_update=m["next_update"],
        covered_changes=m["covered_changes"],
        der=bytes(m["der"]) if der is None else der,
    )


def _ensure_state(session: Session, issuers: Sequence[str]) -> None:
    """Make the ``ca_crl_state`` rows of ``issuers`` if missing (race-free on both databases)."""
    rows = [{"issuer": i, "last_crl_number": 0, "change_seq": 0} for i in issuers]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(_STATE).on_conflict_do_nothing(index_elements=["issuer"])
        session.connection().execute(pg, rows)
    elif dialect == "sqlite":
        lite = sqlite.insert(_STATE).on_conflict_do_nothing(index_elements=["issuer"])
        session.connection().execute(lite, rows)
    else:  # pragma: no cover - NatID runs on SQLite and PostgreSQL only
        raise CrlUnavailable(f"CRL publication does not support the {dialect} database")


def note_status_change(session: Session, issuers: Sequence[str], *, at: dt.datetime) -> None:
    """Record, in the caller's transaction, that certificates of ``issuers`` changed status.

    Issuers are locked in name order, so two bulk revocations never deadlock on these rows.
    """
    ordered = sorted(set(issuers))
    _ensure_state(session, ordered)
    conn = session.connection()
    for issuer in ordered:
        conn.execute(
            update(_STATE)
            .where(_STATE.c.issuer == issuer)
            .values(change_seq=_STATE.c.change_seq + 1, last_change=at)
        )


class CrlPublisher:
    """Publishes and serves the CRLs of every CA of the hierarchy."""

    def __init__(
        self,
        store: CertificateStore,
        *,
        keys: KeyBackend,
        urls: PkiUrls,
        clock: Clock,
        schedule: CrlSchedule | None = None,
        root_schedule: CrlSchedule = ROOT_CRL_SCHEDULE,
    ) -> None:
        self._store = store
        self._keys = keys
        self._urls = urls
        self._clock = clock
        self._schedule = schedule or CrlSchedule()
        self._root_schedule = root_schedule
        # CA certificates never change; their keys are loaded on first use.
        self._cas: dict[str, tuple[x509.Certificate, str]] = {}
        self._ca_keys: dict[str, BackendPrivateKey] = {}
        self._lock = threading.Lock()

    # --- public ----------------------------------------------------------------------------

    def schedule_for(self, issuer: str) -> CrlSchedule:
        return self._root_schedule if issuer == ROOT_CA else self._schedule

    def issuers(self) -> tuple[str, ...]:
        """Every CA that publishes CRLs (the root first)."""
        self._load_cas()
        return tuple(sorted(self._cas, key=lambda n: (n != ROOT_CA, n)))

    def publish_due(self, issuer: str, *, at: dt.datetime | None = None) -> list[CrlRecord]:
        """Make the CRLs of ``issuer`` that are due at ``at`` (now by default); [] if none.

        :raises UnknownCrl: no CA has that name.
        :raises CrlUnavailable: the CA's key cannot be loaded from the key backend.
        """
        at = require_aware(at) if at is not None else self._clock.now()
        cert, _label = self._ca(issuer)
        schedule = self.schedule_for(issuer)
        made: list[CrlRecord] = []
        with self._store.write() as session:
            _ensure_state(session, [issuer])
            state = self._lock_state(session, issuer)
            full = self._latest(session, issuer, CrlKind.FULL)
            delta = self._latest(session, issuer, CrlKind.DELTA) if schedule.deltas else None
            plan = self._plan(schedule, state, full, delta, at=at)
            if not (plan.full or plan.delta):
                return []
            key = self._key(issuer)
            number = state.last_number
            if plan.full:
                number += 1
                this_update, next_update = schedule.full_window(at=at)
                entries = self._entries(session, issuer, since=this_update - schedule.full_validity)
                crl = build_crl(
                    cert,
                    key,
                    entries,
                    crl_number=number,
                    this_update=this_update,
                    next_update=next_update,
                    idp_url=self._idp(issuer),
                    freshest_crl_url=self._urls.delta_crl(issuer) if schedule.deltas else None,
                )
                full = self._store_crl(session, issuer, crl, CrlKind.FULL, state.change_seq)
                made.append(full)
            if plan.delta:
                assert full is not None  # plan makes a full CRL first when there is none
                number += 1
                this_update, next_update = schedule.delta_window(at=at)
                base = entries_of(x509.load_der_x509_crl(full.der))
                # The base's cut-off: whatever the base lists and is still revoked is "current".
                since = full.this_update - schedule.full_validity
                current = self._entries(session, issuer, since=since)
                crl = build_crl(
                    cert,
                    key,
                    delta_entries(base, current),
                    crl_number=number,
                    this_update=this_update,
                    next_update=next_update,
                    idp_url=self._idp(issuer),
                    delta_base=full.number,
                )
                made.append(self._store_crl(session, issuer, crl, CrlKind.DELTA, state.change_seq))
            session.connection().execute(
                update(_STATE).where(_STATE.c.issuer == issuer).values(last_crl_number=number)
            )
        for record in made:
            log.info(
                "CRL published",
                extra={"issuer": issuer, "crl_number": record.number, "kind": record.kind.value},
            )
        return made

    def current(
        self, issuer: str, *, delta: bool = False, at: dt.datetime | None = None
    ) -> CrlRecord:
        """The CRL to serve now: published first if one is due (see the module docstring).

        :raises UnknownCrl: no CA of that name, or a delta of a CA without deltas.
        :raises CrlUnavailable: nothing current can be served.
        """
        at = require_aware(at) if at is not None else self._clock.now()
        self._ca(issuer)
        schedule = self.schedule_for(issuer)
        if delta and not schedule.deltas:
            raise UnknownCrl(f"CA {issuer} publishes no delta CRL; fetch {issuer}.crl")
        kind = CrlKind.DELTA if delta else CrlKind.FULL
        with self._store.read() as session:
            state = self._state(session, issuer)
            full = self._latest(session, issuer, CrlKind.FULL)
            latest_delta = self._latest(session, issuer, CrlKind.DELTA) if schedule.deltas else None
        plan = self._plan(schedule, state, full, latest_delta, at=at)
        wanted = latest_delta if delta else full
        if plan.full or plan.delta:
            try:
                self.publish_due(issuer, at=at)
            except InfrastructureError as exc:
                # Serve what exists while it is still current; say why nothing newer exists.
                log.warning(
                    "CRL due but not published", extra={"issuer": issuer, "error": exc.code}
                )
            else:
                with self._store.read() as session:
                    wanted = self._latest(session, issuer, kind)
        if wanted is None or wanted.next_update <= at:
            raise CrlUnavailable(
                f"no current {kind.value} CRL of CA {issuer} can be served: it is due and "
                "cannot be signed now (is the CA key in the key backend?)"
            )
        return wanted

    def latest(self, issuer: str, *, delta: bool = False) -> CrlRecord | None:
        """The newest published full (or delta) CRL of ``issuer``, without publishing."""
        self._ca(issuer)
        with self._store.read() as session:
            return self._latest(session, issuer, CrlKind.DELTA if delta else CrlKind.FULL)

    def history(self, issuer: str) -> list[CrlRecord]:
        """Every published CRL of ``issuer``, by number (without the DER)."""
        query = (
            select(*(c for c in _CRLS.c if c.name != "der"))
            .where(_CRLS.c.issuer == issuer)
            .order_by(_CRLS.c.crl_number)
        )
        with self._store.read() as session:
            return [_record(row, b"") for row in session.connection().execute(query)]

    # --- internals -------------------------------------------------------------------------

    def _plan(
        self,
        schedule: CrlSchedule,
        state: _State,
        full: CrlRecord | None,
        delta: CrlRecord | None,
        *,
        at: dt.datetime,
    ) -> CrlPlan:
        """``schedule.plan`` with staleness from the change counter (module docstring)."""
        full_pub = full.published if full is not None else None
        delta_pub = delta.published if delta is not None else None
        full_stale = full is not None and full.covered_changes < state.change_seq
        # Asked once for the full CRL, with a change "at" its thisUpdate when it is stale...
        first = schedule.plan(
            at=at,
            full=full_pub,
            delta=delta_pub,
            last_change=full.this_update if full is not None and full_stale else None,
        )
        if first.full or not schedule.deltas:
            return first
        # ... and once for the delta, with a change at the delta's thisUpdate when it is stale.
        delta_stale = delta is not None and delta.covered_changes < state.change_seq
        second = schedule.plan(
            at=at,
            full=full_pub,
            delta=delta_pub,
            last_change=delta.this_update if delta is not None and delta_stale else None,
        )
        return CrlPlan(full=False, delta=second.delta, reasons=second.reasons)

    @staticmethod
    def _state(session: Session, issuer: str) -> _State:
        row = (
            session.connection()
            .execute(
                select(_STATE.c.last_crl_number, _STATE.c.change_seq).where(
                    _STATE.c.issuer == issuer
                )
            )
            .one_or_none()
        )
        return _State(0, 0) if row is None else _State(row.last_crl_number, row.change_seq)

    @staticmethod
    def _lock_state(session: Session, issuer: str) -> _State:
        row = (
            session.connection()
            .execute(
                select(_STATE.c.last_crl_number, _STATE.c.change_seq)
                .where(_STATE.c.issuer == issuer)
                .with_for_update()
            )
            .one()
        )
        return _State(row.last_crl_number, row.change_seq)

    @staticmethod
    def _latest(session: Session, issuer: str, kind: CrlKind) -> CrlRecord | None:
        row = (
            session.connection()
            .execute(
                select(_CRLS)
                .where(_CRLS.c.issuer == issuer, _CRLS.c.kind == kind.value)
                .order_by(_CRLS.c.crl_number.desc())
                .limit(1)
            )
            .one_or_none()
        )
        return None if row is None else _record(row)

    @staticmethod
    def _entries(session: Session, issuer: str, *, since: dt.datetime) -> list[RevokedEntry]:
        """Revoked and held certificates of ``issuer`` that expire after ``since``."""
        query = select(
            _CERTS.c.serial_hex,
            _CERTS.c.revoked_at,
            _CERTS.c.revocation_reason,
            _CERTS.c.invalidity_date,
        ).where(
            _CERTS.c.issuer == issuer,
            _CERTS.c.status.in_(_NOT_GOOD),
            _CERTS.c.not_after > since,
        )
        return [
            RevokedEntry(
                int(row.serial_hex, 16),
                row.revoked_at,
                RevocationReason(row.revocation_reason),
                row.invalidity_date,
            )
            for row in session.connection().execute(query)
        ]

    @staticmethod
    def _store_crl(
        session: Session,
        issuer: str,
        crl: x509.CertificateRevocationList,
        kind: CrlKind,
        covered: int,
    ) -> CrlRecord:
        published = PublishedCrl.of(crl)
        record = CrlRecord(
            issuer=issuer,
            number=published.number,
            kind=kind,
            delta_base=published.delta_base,
            this_update=published.this_update,
            next_update=published.next_update,
            covered_changes=covered,
            der=crl.public_bytes(serialization.Encoding.DER),
        )
        session.connection().execute(
            insert(_CRLS).values(
                issuer=issuer,
                crl_number=record.number,
                kind=kind.value,
                delta_base=record.delta_base,
                this_update=record.this_update,
                next_update=record.next_update,
                covered_changes=covered,
                der=record.der,
            )
        )
        return record

    def _idp(self, issuer: str) -> str | None:
        return None if issuer == ROOT_CA else self._urls.crl(issuer)

    def _load_cas(self) -> None:
        if self._cas:
            return
        found = {a.name: (a.certificate, a.key_label) for a in self._store.authorities()}
        with self._lock:
            self._cas.update(found)

    def _ca(self, issuer: str) -> tuple[x509.Certificate, str]:
        if issuer not in self._cas:
            self._cas.clear()  # a CA added since (a ceremony) is found on the next read
            self._load_cas()
        found = self._cas.get(issuer)
        if found is None:
            known = ", ".join(sorted(self._cas)) or "none yet (run natid ca init)"
            raise UnknownCrl(f"no CA named {issuer[:40]!r}; known: {known}")
        return found

    def _key(self, issuer: str) -> BackendPrivateKey:
        key = self._ca_keys.get(issuer)
        if key is None:
            _cert, label = self._ca(issuer)
            try:
                key = self._keys.load(label)
            except NatIDError as exc:
                raise CrlUnavailable(
                    f"the key {label} of CA {issuer} is not available in the key backend "
                    f"({exc.code}); its CRL cannot be signed now"
                ) from exc
            with self._lock:
                self._ca_keys[issuer] = key
        return key
