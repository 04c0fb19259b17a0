"""Revocation use cases: revoke, hold, resume, revoke a subject, revoke by query; status look-up.

Issue 3, "Revocation, CRL, OCSP". :class:`Revocations` changes the status columns of
``ca_certificates`` (see :mod:`ca.models`); :class:`ca.service.CAService` exposes it and, once
a change is committed, regenerates the CRLs (:mod:`ca.crlstore`) and tells its listeners (the
OCSP layer re-signs at once).

The state machine (RFC 5280 §5.3.1)::

    good --revoke(reason)----------> revoked      (final)
    good --hold / certificateHold--> on_hold
    on_hold --resume---------------> good         (delta CRL: removeFromCRL)
    on_hold --revoke(reason)-------> revoked      (revocationDate stays the hold's time)

* **Revoked is final.** Revoking a revoked certificate, holding it or resuming it is a
  :class:`RevocationConflict` naming its reason and time; so is holding a held certificate or
  resuming a good one.
* **A hold that becomes a revocation keeps the hold's time** as its revocationDate: the
  certificate has not been trusted since the hold, so a signature made while it was on hold
  must not validate in a past-time check (the revocationDate is what such checks compare,
  RFC 5280 §5.1.2.6). The time of the final decision is in the audit entry. An
  ``invalidity_date`` (§5.3.2, when the key is known or suspected to be compromised) may be
  given with a revocation, never in the future and never later than the revocation itself.
* ``certificateHold`` given as a revocation reason means hold; ``removeFromCRL`` is never a
  revocation reason (it only appears in delta CRLs, §5.3.1).
* **CA certificates.** The root's own certificate cannot be revoked: nothing above it signs a
  CRL for it; a root is withdrawn from trust stores. An issuing CA's certificate is revoked by
  the root (the root CRL lists it) only with a reason that fits a CA - ``cACompromise``,
  ``superseded``, ``cessationOfOperation``, ``affiliationChanged``, ``privilegeWithdrawn`` or
  ``unspecified`` - never put on hold; the CA is marked ``retired`` in the same transaction.
  Bulk revocation (by subject or query) never touches CA certificates.
* **Audit.** Every change appends ``ca.certificate.revoked`` / ``.held`` / ``.resumed``
  (actor, subject id; data: serial, issuer, reason, and invalidity date or the previous hold
  when there is one - never the subject DN) in the SAME transaction as the status change,
  last, just before the commit. A bulk revocation is one transaction: every certificate or
  none. A refused change of an existing or named certificate (no such serial, a status that
  does not allow it, a CA certificate, an invalidity date later than the revocation) appends
  ``ca.certificate.revoke_refused`` / ``.hold_refused`` / ``.resume_refused`` after the
  rollback (data: the refusal's error code, serial, issuer, the status it had, the reason
  asked for), so an auditor sees attempts as well as changes. Malformed input refused before
  any certificate is looked up (an unknown reason, a hold with an invalidity date, a bad
  query) is not recorded.
* **Status look-up** (:meth:`Revocations.status_of`) is the OCSP responder's per-request path:
  one primary-key probe selecting four columns (a Core statement), run on held autocommit DBAPI
  connections without a Session (core/held_read.py; the CA's failure: ca/status_read.py), so
  every call sees every commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from ca.crlstore import note_status_change
from ca.errors import (
    CAError,
    CertificateNotFound,
    InvalidRevocationReason,
    InvalidRevocationStatus,
)
from ca.models import AuthorityStatus, CAAuthorityRow, CACertificateRow, CertificateStatus
from ca.profiles import ProfileName, get_profile
from ca.revocation import MAX_SERIAL, RevocationReason, RevocationStatus
from ca.status_read import status_reader_for
from ca.store import CertificateStore, IssuedCertificate, _certificate, normalize_serial
from ca.store import serial_hex as to_serial_hex
from ca.urls import check_ca_name
from core.audit import AuditLedger
from core.clock import Clock
from core.db import Base
from core.errors import Conflict, InvalidInput, NotFound
from core.held_read import HeldReader
from hsm_adapters.base import KeyAlgorithm

__all__ = [
    "CA_REVOCATION_REASONS",
    "RevocationConflict",
    "RevocationNotAllowed",
    "RevocationQuery",
    "Revocations",
    "StatusChange",
    "UnknownCertificateAuthority",
]

log = logging.getLogger(__name__)

R = RevocationReason
#: Reasons an issuing CA's certificate may be revoked with (RFC 5280 §5.3.1).
CA_REVOCATION_REASONS = frozenset(
    {
        R.UNSPECIFIED,
        R.CA_COMPROMISE,
        R.AFFILIATION_CHANGED,
        R.SUPERSEDED,
        R.CESSATION_OF_OPERATION,
        R.PRIVILEGE_WITHDRAWN,
    }
)
_CA_PROFILES = (ProfileName.ROOT_CA.value, ProfileName.ISSUING_CA.value)
_GOOD = CertificateStatus.GOOD
_REVOKED = CertificateStatus.REVOKED
_ON_HOLD = CertificateStatus.ON_HOLD

#: A committed status change: (issuer name, serial number).
StatusChange = tuple[str, int]

_CERTS = Base.metadata.tables[CACertificateRow.__tablename__]
_STATUS_OF = select(
    _CERTS.c.issuer, _CERTS.c.status, _CERTS.c.revoked_at, _CERTS.c.revocation_reason
).where(_CERTS.c.serial_hex == bindparam("b_serial"))


def _status_from(issuer: str, row: tuple[Any, ...] | None) -> RevocationStatus:
    """A :data:`_STATUS_OF` row as the status ``issuer``'s responder states."""
    if row is None or row[0] != issuer:
        return RevocationStatus.unknown()
    _issuer, status, revoked_at, reason = row
    if status == _GOOD:
        return RevocationStatus.good()
    return RevocationStatus.revoked(revoked_at, RevocationReason(reason))


class RevocationConflict(CAError, Conflict):
    """The certificate's status does not allow the change (revoked is final, not on hold...)."""

    code = "revocation_conflict"


class RevocationNotAllowed(CAError, InvalidInput):
    """The change is not allowed for this kind of certificate or with this query."""

    code = "revocation_not_allowed"


class UnknownCertificateAuthority(CAError, NotFound):
    """A revocation query names a CA that does not exist."""

    code = "unknown_certificate_authority"


@dataclass(frozen=True, slots=True)
class RevocationQuery:
    """Which certificates a bulk revocation takes: every given filter must match.

    ``issued_after`` is inclusive, ``issued_before`` exclusive (the CA's issuance time).
    At least one filter is required: an empty query would revoke everything.
    """

    key_algorithm: str | None = None
    profile: str | None = None
    issuer: str | None = None
    subject_id: str | None = None
    issued_after: dt.datetime | None = None
    issued_before: dt.datetime | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))


def _reason(reason: RevocationReason | str) -> RevocationReason:
    parsed = RevocationReason.parse(reason)
    if not parsed.is_revocation:
        raise InvalidRevocationReason(
            "removeFromCRL is not a revocation reason: it only marks a released hold in a "
            "delta CRL (RFC 5280 §5.3.1); use `resume` to release a hold"
        )
    return parsed


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidRevocationStatus(f"{name} must be a timezone-aware date and time")
    return value.astimezone(dt.UTC)


def _was(row: CACertificateRow) -> str:
    when = f"{row.revoked_at:%Y-%m-%d %H:%M:%S} UTC" if row.revoked_at else "an unknown time"
    if row.status == _REVOKED:
        return (
            f"certificate {row.serial_hex} was revoked ({row.revocation_reason}) at {when}; "
            "revocation is final (RFC 5280 §5.3.1)"
        )
    if row.status == _ON_HOLD:
        return f"certificate {row.serial_hex} has been on hold since {when}"
    return f"certificate {row.serial_hex} is good (not on hold)"


class Revocations:
    """Changes and reads certificate status (see the module docstring)."""

    def __init__(
        self,
        store: CertificateStore,
        *,
        ledger: AuditLedger | None,
        clock: Clock,
        on_change: Callable[[Sequence[StatusChange]], None] | None = None,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._clock = clock
        self._on_change = on_change
        self._status_reader: HeldReader | None = None

    # --- one certificate -------------------------------------------------------------------

    def revoke(
        self,
        serial: str | int,
        *,
        reason: RevocationReason | str,
        actor: str | None,
        invalidity_date: dt.datetime | None = None,
    ) -> IssuedCertificate:
        """Revoke one certificate (``certificateHold``: put it on hold instead)."""
        chosen = _reason(reason)
        invalid_from = _aware(invalidity_date, "invalidity_date")
        if chosen is R.CERTIFICATE_HOLD:
            if invalid_from is not None:
                raise InvalidRevocationStatus(
                    "an invalidity date goes with a revocation, not with a hold (RFC 5280 §5.3.2)"
                )
            return self.hold(serial, actor=actor)
        key = normalize_serial(serial)
        query = select(CACertificateRow).where(CACertificateRow.serial_hex == key)
        return self._change(query, "revoke", chosen, actor, invalid_from, missing=key)[0]

    def hold(self, serial: str | int, *, actor: str | None) -> IssuedCertificate:
        """Suspend a good certificate (reason ``certificateHold``, RFC 5280 §5.3.1)."""
        key = normalize_serial(serial)
        query = select(CACertificateRow).where(CACertificateRow.serial_hex == key)
        return self._change(query, "hold", R.CERTIFICATE_HOLD, actor, None, missing=key)[0]

    def resume(self, serial: str | int, *, actor: str | None) -> IssuedCertificate:
        """Release a hold: the certificate is good again (delta CRL: ``removeFromCRL``)."""
        key = normalize_serial(serial)
        query = select(CACertificateRow).where(CACertificateRow.serial_hex == key)
        return self._change(query, "resume", None, actor, None, missing=key)[0]

    # --- many certificates -----------------------------------------------------------------

    def revoke_subject(
        self, subject_id: str, *, reason: RevocationReason | str, actor: str | None
    ) -> list[IssuedCertificate]:
        """Revoke (or, with ``certificateHold``, hold) every good or held certificate of
        ``subject_id``, in one transaction. Returns the certificates changed."""
        if not isinstance(subject_id, str) or not subject_id.strip():
            raise InvalidInput("a subject id is required")
        return self.revoke_where(
            RevocationQuery(subject_id=subject_id), reason=reason, actor=actor, origin="subject"
        )

    def revoke_where(
        self,
        query: RevocationQuery,
        *,
        reason: RevocationReason | str,
        actor: str | None,
        dry_run: bool = False,
        origin: str = "query",
    ) -> list[IssuedCertificate]:
        """Revoke every end-entity or service certificate matching ``query`` (one transaction).

        With ``certificateHold`` only good certificates are held; otherwise good and held ones
        are revoked. ``dry_run`` returns what would change and changes nothing.
        """
        chosen = _reason(reason)
        statement = self._bulk_query(query, hold=chosen is R.CERTIFICATE_HOLD)
        if dry_run:
            with self._store.read() as session:
                return [_certificate(row) for row in session.scalars(statement)]
        action = "hold" if chosen is R.CERTIFICATE_HOLD else "revoke"
        return self._change(statement, action, chosen, actor, None, origin=origin)

    # --- reading ---------------------------------------------------------------------------

    def status_of(self, issuer: str, serial: int) -> RevocationStatus:
        """What ``issuer``'s records say of ``serial``; ``unknown`` if it is not its certificate."""
        if isinstance(serial, bool) or not isinstance(serial, int):
            raise InvalidRevocationStatus(
                f"a serial number is an integer here, got {type(serial).__name__}"
            )
        if not 0 < serial <= MAX_SERIAL:
            return RevocationStatus.unknown()
        key = to_serial_hex(serial)
        reader = self._status_reader
        if reader is None:
            # Once per instance: the engine behind the store (core/held_read.py, the
            # per-request OCSP read on held DBAPI connections, ~25x cheaper than a Session).
            with self._store.read() as session:
                reader = status_reader_for(session.get_bind().engine, _STATUS_OF)
            if reader is None:  # an engine with one shared connection (in-memory SQLite)
                with self._store.read() as session:
                    row = session.connection().execute(_STATUS_OF, {"b_serial": key}).first()
                found = None if row is None else tuple(row)
                return _status_from(issuer, found)
            self._status_reader = reader
        return _status_from(issuer, reader.fetch(key))

    # --- internals -------------------------------------------------------------------------

    def _bulk_query(self, query: RevocationQuery, *, hold: bool) -> Select[CACertificateRow]:
        if not isinstance(query, RevocationQuery) or query.is_empty():
            raise RevocationNotAllowed(
                "a bulk revocation needs at least one filter (algorithm, profile, issuer, "
                "subject, issued after/before); an empty query would revoke everything"
            )
        c = CACertificateRow
        wanted = [_GOOD.value] if hold else [_GOOD.value, _ON_HOLD.value]
        statement = (
            select(c)
            .where(c.status.in_(wanted), c.profile.not_in(_CA_PROFILES))
            .order_by(c.serial_hex)
        )
        if query.key_algorithm is not None:
            try:
                algorithm = KeyAlgorithm(query.key_algorithm.strip().lower())
            except ValueError:
                known = ", ".join(a.value for a in KeyAlgorithm)
                raise InvalidInput(
                    f"unknown key algorithm {query.key_algorithm[:20]!r}; expected one of {known}"
                ) from None
            statement = statement.where(c.key_algorithm == algorithm.value)
        if query.profile is not None:
            profile = get_profile(query.profile).name
            if profile.value in _CA_PROFILES:
                raise RevocationNotAllowed(
                    "CA certificates are revoked one at a time (natid ca revoke SERIAL)"
                )
            statement = statement.where(c.profile == profile.value)
        if query.issuer is not None:
            issuer = check_ca_name(query.issuer)
            if issuer not in {a.name for a in self._store.authorities()}:
                raise UnknownCertificateAuthority(f"no CA named {issuer!r}")
            statement = statement.where(c.issuer == issuer)
        if query.subject_id is not None:
            statement = statement.where(c.subject_id == query.subject_id)
        after = _aware(query.issued_after, "issued_after")
        before = _aware(query.issued_before, "issued_before")
        if after is not None and before is not None and after >= before:
            raise InvalidInput("issued_after must be earlier than issued_before")
        if after is not None:
            statement = statement.where(c.issued_at >= after)
        if before is not None:
            statement = statement.where(c.issued_at < before)
        return statement

    def _change(
        self,
        query: Select[CACertificateRow],
        action: str,
        reason: RevocationReason | None,
        actor: str | None,
        invalidity_date: dt.datetime | None,
        *,
        missing: str | None = None,
        origin: str | None = None,
    ) -> list[IssuedCertificate]:
        """Apply ``action`` to the rows of ``query`` in one transaction (rows locked in serial
        order, so concurrent bulk revocations cannot deadlock).

        With ``missing`` (the serial of a one-certificate change), no row is
        :class:`~ca.errors.CertificateNotFound` and a status that does not allow the action
        is a :class:`RevocationConflict`; in bulk such certificates are skipped.
        """
        strict = missing is not None
        at = self._clock.now()
        if invalidity_date is not None and invalidity_date > at:
            raise InvalidRevocationStatus("the invalidity date must not be in the future")
        changed: list[IssuedCertificate] = []
        # The certificate a refusal is about, read before any change (None: no such serial):
        # serial, issuer, status, subject id, for the refusal's audit entry.
        current: tuple[str, str, str, str | None] | None = None
        try:
            with self._store.write() as session:
                rows = list(session.scalars(query.with_for_update()))
                if missing is not None and not rows:
                    raise CertificateNotFound(  # noqa: TRY301 - audited by the handler below
                        f"no certificate with serial number {missing}"
                    )
                entries: list[tuple[str, str | None, dict[str, Any]]] = []
                for row in rows:
                    current = (row.serial_hex, row.issuer, row.status, row.subject_id)
                    data = self._apply(
                        session,
                        row,
                        action=action,
                        reason=reason,
                        invalidity_date=invalidity_date,
                        at=at,
                        strict=strict,
                    )
                    if data is None:
                        continue
                    if origin is not None:
                        data["bulk"] = origin
                    entries.append((f"ca.certificate.{_EVENTS[action]}", row.subject_id, data))
                    changed.append(_certificate(row))
                if changed:
                    session.flush()
                    note_status_change(session, [c.issuer for c in changed], at=at)
                    # Last, just before the commit: each append holds the ledger's lock until
                    # then.
                    if self._ledger is not None:
                        for event, subject, data in entries:
                            self._ledger.append(
                                event, actor=actor, subject=subject, data=data, session=session
                            )
        except (
            CertificateNotFound,
            RevocationConflict,
            RevocationNotAllowed,
            InvalidRevocationStatus,  # an invalidity date later than the revocation
        ) as exc:
            self._record_refusal(
                exc, action, reason=reason, actor=actor, row=current, missing=missing, origin=origin
            )
            raise
        if changed:
            log.info(
                "certificate status changed",
                extra={"action": action, "count": len(changed), "origin": origin or "single"},
            )
            if self._on_change is not None:
                self._on_change([(c.issuer, int(c.serial_hex, 16)) for c in changed])
        return changed

    def _record_refusal(
        self,
        exc: CAError,
        action: str,
        *,
        reason: RevocationReason | None,
        actor: str | None,
        row: tuple[str, str, str, str | None] | None,
        missing: str | None,
        origin: str | None,
    ) -> None:
        """Append ``ca.certificate.{action}_refused`` for a refused change (module docstring,
        "Audit"), after its transaction was rolled back. A ledger that fails here is logged and
        the refusal still reaches the caller."""
        if self._ledger is None:
            return
        data: dict[str, Any] = {"refused": exc.code}
        if row is not None:
            data |= {"serial": row[0], "issuer": row[1], "status": row[2]}
        elif missing is not None:
            data["serial"] = missing
        if reason is not None:
            data["reason"] = reason.value
        if origin is not None:
            data["bulk"] = origin
        subject = row[3] if row is not None else None
        try:
            self._ledger.append(
                f"ca.certificate.{action}_refused", actor=actor, subject=subject, data=data
            )
        except Exception as failure:  # noqa: BLE001 - the refusal is the caller's answer
            # No traceback: a database error's text may quote the entry's data.
            log.error(  # noqa: TRY400
                "a refused certificate status change could not be audited",
                extra={"action": action, "error": type(failure).__name__},
            )

    def _apply(
        self,
        session: Session,
        row: CACertificateRow,
        *,
        action: str,
        reason: RevocationReason | None,
        invalidity_date: dt.datetime | None,
        at: dt.datetime,
        strict: bool,
    ) -> dict[str, Any] | None:
        """Change one locked row; the audit data, or None when it is skipped (bulk)."""
        status = CertificateStatus(row.status)
        allowed = {
            "revoke": (_GOOD, _ON_HOLD),
            "hold": (_GOOD,),
            "resume": (_ON_HOLD,),
        }[action]
        if status not in allowed:
            if strict:
                raise RevocationConflict(_was(row))
            return None
        data: dict[str, Any] = {"serial": row.serial_hex, "issuer": row.issuer}
        if row.profile in _CA_PROFILES:
            self._check_ca_revocation(session, row, action, reason, at)
        if action == "resume":
            data["held_since"] = row.revoked_at.isoformat() if row.revoked_at else None
            row.status, row.revoked_at, row.revocation_reason = _GOOD.value, None, None
            row.invalidity_date = None
            return data
        assert reason is not None
        data["reason"] = reason.value
        if action == "hold":
            row.status, row.revoked_at, row.revocation_reason = _ON_HOLD.value, at, reason.value
            return data
        if status is _ON_HOLD:
            # The hold's time stays the revocationDate (module docstring).
            data["held_since"] = row.revoked_at.isoformat() if row.revoked_at else None
        else:
            row.revoked_at = at
        assert row.revoked_at is not None
        if invalidity_date is not None:
            if invalidity_date > row.revoked_at:
                raise InvalidRevocationStatus(
                    "the invalidity date must not be later than the revocation "
                    f"({row.revoked_at:%Y-%m-%d %H:%M:%S} UTC) (RFC 5280 §5.3.2)"
                )
            data["invalidity_date"] = invalidity_date.isoformat()
        row.status, row.revocation_reason = _REVOKED.value, reason.value
        row.invalidity_date = invalidity_date
        return data

    @staticmethod
    def _check_ca_revocation(
        session: Session,
        row: CACertificateRow,
        action: str,
        reason: RevocationReason | None,
        at: dt.datetime,
    ) -> None:
        if row.profile == ProfileName.ROOT_CA.value:
            raise RevocationNotAllowed(
                "the root CA's certificate cannot be revoked: no CRL above it could say so; "
                "withdraw the root from trust stores and run a ceremony for a new one"
            )
        if action != "revoke" or reason not in CA_REVOCATION_REASONS:
            shown = f"reason {reason.value}" if action == "revoke" and reason else "a hold"
            allowed = ", ".join(sorted(r.value for r in CA_REVOCATION_REASONS))
            raise RevocationNotAllowed(
                f"a CA certificate cannot take {shown}; revoke it with one of {allowed}"
            )
        session.execute(
            update(CAAuthorityRow)
            .where(CAAuthorityRow.serial_hex == row.serial_hex)
            .values(status=AuthorityStatus.RETIRED.value)
        )
        log.warning("issuing CA certificate revoked", extra={"serial": row.serial_hex, "at": at})


_EVENTS = {"revoke": "revoked", "hold": "held", "resume": "resumed"}
