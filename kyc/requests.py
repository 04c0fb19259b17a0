"""Decoupled consent: a bank at its counter asks, the citizen approves on their own account,
the bank polls (issue 6, "Decoupled consent"; OpenID Client-Initiated Backchannel
Authentication (CIBA) Core 1.0, poll mode).

1. :meth:`DecoupledRequests.start` (CIBA §7.1): the bank, already authenticated and within
   its rate limit (the api layer checks both), names the citizen by ID card number and sends a
   ``binding_message`` (at most :data:`MAX_BINDING_MESSAGE` printable characters, shown at
   the counter and on the citizen's page so both can see they are the same request), a
   purpose and attributes from its policy, some marked optional. The answer is an opaque
   ``auth_req_id`` with ``expires_in`` and ``interval`` (§7.3). An unknown number gets
   exactly the same answer: the request is stored with no person and simply never becomes
   approvable, so no response tells the bank who exists.
2. :meth:`DecoupledRequests.pending_for_person` and :meth:`DecoupledRequests.decide`: the
   logged-in citizen sees the request (bank, purpose, each attribute, binding message) and
   approves, unticking optional attributes if they wish, or denies. On approval the api layer
   stores a consent (scopes ``kyc`` and ``kyc:purpose:<purpose>``, the attributes) in the
   IdP's consent store, so the release goes through the same rule as every other KYC release
   (:func:`kyc.policy.decide_release`) and the citizen can withdraw it like any other.
3. :meth:`DecoupledRequests.poll` (CIBA §11 error codes): ``authorization_pending``,
   ``slow_down`` (polled sooner than ``interval`` after the previous poll; the interval then
   grows by 5 seconds, §11), ``access_denied``, ``expired_token``, ``invalid_grant`` (unknown
   handle, another bank's handle, or claims already collected). An approved request is handed
   out ONCE: it moves to ``released`` atomically, and the api layer then releases the signed
   ``verified_claims`` through :meth:`kyc.service.KYCService.release` (access log + audit).

Audit: ``kyc.request.started`` (bank as actor), ``kyc.request.approved`` /
``kyc.request.denied`` (the citizen's account as actor); ids and attribute names only, never
the ID card number or the binding message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import require_aware
from core.db import transaction
from core.errors import InvalidInput, NotFound
from kyc.errors import InvalidRelyingParty, KYCError, KYCStoreUnavailable, PolicyViolation
from kyc.policy import Attribute, Purpose, RelyingParty, parse_attributes
from kyc.request_models import DecoupledRequestRow
from registry.errors import RegistryError
from registry.ports import AuditSink, PopulationRegister
from registry.records import PersonStatus

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_LIFETIME",
    "MAX_BINDING_MESSAGE",
    "ApprovedRequest",
    "DecoupledRequests",
    "InvalidDecoupledRequest",
    "PendingRequest",
    "PollError",
    "PollRefused",
    "RequestNotFound",
    "RequestStats",
    "StartedRequest",
]

MAX_BINDING_MESSAGE = 64
DEFAULT_LIFETIME = dt.timedelta(minutes=10)
DEFAULT_INTERVAL = 5
#: CIBA Core §11: after ``slow_down`` the client must wait at least 5 seconds longer.
SLOW_DOWN_STEP = 5
MAX_INTERVAL = 60
_MAX_NATIONAL_ID = 32


class PollError(StrEnum):
    """The poll answers of CIBA Core §11 (and RFC 6749 §5.2), spelled as on the wire."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 - an error code, not a secret
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"


_POLL_TEXT = {
    PollError.AUTHORIZATION_PENDING: "the citizen has not answered yet",
    PollError.SLOW_DOWN: "polled sooner than the interval; wait longer between polls",
    PollError.EXPIRED_TOKEN: "the request expired before it was approved and collected",
    PollError.ACCESS_DENIED: "the citizen denied the request",
    PollError.INVALID_GRANT: "unknown auth_req_id for this client, or already collected",
}


class PollRefused(KYCError, InvalidInput):
    """A poll that does not (yet) yield claims; ``error`` is the CIBA code."""

    code = "kyc_poll_refused"

    def __init__(self, error: PollError, *, interval: int | None = None) -> None:
        super().__init__(_POLL_TEXT[error])
        self.error = error
        self.interval = interval


class InvalidDecoupledRequest(KYCError, InvalidInput):
    """A malformed request from the bank; ``error`` is the CIBA code (§13)."""

    code = "kyc_invalid_decoupled_request"

    def __init__(self, message: str, *, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


class RequestNotFound(KYCError, NotFound):
    """No pending request of this citizen with this id (or it expired)."""

    code = "kyc_request_not_found"


@dataclass(frozen=True, slots=True)
class StartedRequest:
    """What the bank gets back (CIBA Core §7.3); ``auth_req_id`` exists only here."""

    auth_req_id: str
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A request as the citizen's page shows it."""

    id: str
    entity_id: str
    client_id: str
    purpose: Purpose
    attributes: tuple[Attribute, ...]
    optional: frozenset[Attribute]
    binding_message: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ApprovedRequest:
    """A request the citizen approved (from :meth:`DecoupledRequests.decide`), or one whose
    claims the bank is collecting now (from :meth:`DecoupledRequests.poll`)."""

    id: str
    person_id: str
    rp_id: str
    client_id: str
    purpose: Purpose
    attributes: frozenset[Attribute]


@dataclass(frozen=True, slots=True)
class RequestStats:
    """Decoupled requests of one bank for one purpose in a period (counts only)."""

    entity_id: str
    client_id: str
    purpose: str
    started: int
    approved: int
    denied: int
    expired: int


def handle_hash(auth_req_id: str) -> str:
    return hashlib.sha256(auth_req_id.encode("utf-8", "replace")).hexdigest()


def _binding_message(value: str) -> str:
    message = value.strip() if isinstance(value, str) else ""
    if not 0 < len(message) <= MAX_BINDING_MESSAGE or not message.isprintable():
        raise InvalidDecoupledRequest(
            f"binding_message: expected 1 to {MAX_BINDING_MESSAGE} printable characters",
            error="invalid_binding_message",
        )
    return message


def _attributes(values: Iterable[str] | str, what: str) -> frozenset[Attribute]:
    try:
        return parse_attributes(values)
    except InvalidRelyingParty as exc:
        raise InvalidDecoupledRequest(f"{what}: {exc.message}") from None


def _codes(text: str | None) -> frozenset[Attribute]:
    return frozenset(Attribute(a) for a in (text or "").split())


def _pending(row: DecoupledRequestRow) -> PendingRequest:
    return PendingRequest(
        id=row.id,
        entity_id=row.entity_id,
        client_id=row.client_id,
        purpose=Purpose(row.purpose),
        attributes=tuple(Attribute(a) for a in row.attributes.split()),
        optional=_codes(row.optional_attributes),
        binding_message=row.binding_message,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class DecoupledRequests:
    """Starts, lists, decides and polls decoupled requests (module docstring, steps 1-3)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        register: PopulationRegister,
        ledger: AuditSink,
        lifetime: dt.timedelta = DEFAULT_LIFETIME,
        interval: int = DEFAULT_INTERVAL,
    ) -> None:
        self._sessions = sessions
        self._register = register
        self._ledger = ledger
        self._lifetime = lifetime
        self._interval = interval

    @contextmanager
    def _db(self) -> Iterator[Session]:
        try:
            with transaction(self._sessions) as session:
                yield session
        except SQLAlchemyError as exc:
            raise KYCStoreUnavailable(f"the request store failed ({type(exc).__name__})") from None

    def _person_id(self, national_id: str) -> str | None:
        if not isinstance(national_id, str) or not 0 < len(national_id) <= _MAX_NATIONAL_ID:
            raise InvalidDecoupledRequest(
                f"national_id_number: expected 1 to {_MAX_NATIONAL_ID} characters"
            )
        try:
            person = self._register.find_person_by_national_id(national_id.strip())
        except RegistryError:
            return None
        if person is None or person.status is not PersonStatus.ACTIVE:
            return None
        return person.id

    def start(
        self,
        rp: RelyingParty,
        *,
        national_id: str,
        binding_message: str,
        purpose: str,
        attributes: Iterable[str] | str,
        optional: Iterable[str] | str = (),
        at: dt.datetime,
    ) -> StartedRequest:
        """Step 1. Policy errors are the bank's own and independent of the person."""
        at = require_aware(at)
        message = _binding_message(binding_message)
        if purpose not in {p.value for p in rp.purposes}:
            raise PolicyViolation("state a purpose this relying party is allowed")
        wanted = _attributes(attributes, "attributes")
        outside = wanted - rp.attributes
        if outside:
            names = ", ".join(sorted(a.value for a in outside))
            raise PolicyViolation(f"attributes outside this relying party's policy: {names}")
        has_optional = optional if isinstance(optional, str) else list(optional)
        maybe = _attributes(optional, "optional_attributes") if has_optional else frozenset()
        if not maybe <= wanted:
            raise InvalidDecoupledRequest("optional_attributes must be among attributes")
        person_id = self._person_id(national_id)
        handle = secrets.token_urlsafe(32)
        row = DecoupledRequestRow(
            id=str(uuid.uuid4()),
            handle_hash=handle_hash(handle),
            rp_id=rp.id,
            client_id=rp.client_id,
            entity_id=rp.entity_id,
            person_id=person_id,
            purpose=purpose,
            attributes=" ".join(sorted(a.value for a in wanted)),
            optional_attributes=" ".join(sorted(a.value for a in maybe)),
            binding_message=message,
            status="pending",
            poll_interval=self._interval,
            created_at=at,
            expires_at=at + self._lifetime,
        )
        with self._db() as session:
            session.add(row)
            session.flush()
            self._ledger.append(
                "kyc.request.started",
                actor=rp.client_id,
                subject=person_id,
                data={"request": row.id, "purpose": purpose, "attributes": row.attributes.split()},
                session=session,
            )
        return StartedRequest(handle, int(self._lifetime.total_seconds()), self._interval)

    def pending_for_person(self, person_id: str, *, at: dt.datetime) -> list[PendingRequest]:
        """Step 2: the person's requests still waiting for an answer, newest first."""
        at = require_aware(at)
        query = (
            select(DecoupledRequestRow)
            .where(
                DecoupledRequestRow.person_id == person_id,
                DecoupledRequestRow.status == "pending",
                DecoupledRequestRow.expires_at > at,
            )
            .order_by(DecoupledRequestRow.created_at.desc(), DecoupledRequestRow.id)
            .limit(50)
        )
        with self._db() as session:
            return [_pending(r) for r in session.scalars(query)]

    def decide(
        self,
        person_id: str,
        request_id: str,
        *,
        approve: bool,
        keep: Iterable[str] = (),
        actor: str,
        at: dt.datetime,
    ) -> ApprovedRequest | None:
        """Step 2: approve (required attributes plus the optional ones in ``keep``) or deny.
        Returns the approved request, or None after a denial."""
        at = require_aware(at)
        try:
            key = str(uuid.UUID(str(request_id)))
        except ValueError:
            raise RequestNotFound("no such pending request") from None
        with self._db() as session:
            row = session.get(DecoupledRequestRow, key, with_for_update=True)
            if (
                row is None
                or row.person_id is None
                or row.person_id != person_id
                or row.status != "pending"
                or row.expires_at <= at
            ):
                raise RequestNotFound("no such pending request")
            wanted, maybe = _codes(row.attributes), _codes(row.optional_attributes)
            kept = frozenset(a for a in maybe if a.value in set(keep))
            approved = (wanted - maybe) | kept
            if approve and not approved:
                approve = False  # every attribute was optional and unticked: nothing to release
            row.status = "approved" if approve else "denied"
            row.decided_at = at
            row.approved_attributes = (
                " ".join(sorted(a.value for a in approved)) if approve else None
            )
            session.flush()
            self._ledger.append(
                "kyc.request.approved" if approve else "kyc.request.denied",
                actor=actor,
                subject=row.client_id,
                data={
                    "request": row.id,
                    "purpose": row.purpose,
                    "attributes": sorted(a.value for a in approved) if approve else [],
                },
                session=session,
            )
            if not approve:
                return None
            return ApprovedRequest(
                row.id, person_id, row.rp_id, row.client_id, Purpose(row.purpose), approved
            )

    def poll(self, client_id: str, auth_req_id: str, *, at: dt.datetime) -> ApprovedRequest:
        """Step 3: the approved request (once), or :class:`PollRefused` with the CIBA code."""
        at = require_aware(at)
        if not isinstance(auth_req_id, str) or not 0 < len(auth_req_id) <= 128:
            raise PollRefused(PollError.INVALID_GRANT)
        outcome: PollError | None = None
        with self._db() as session:
            row = session.scalar(
                select(DecoupledRequestRow)
                .where(DecoupledRequestRow.handle_hash == handle_hash(auth_req_id))
                .with_for_update()
            )
            if row is None or row.client_id != client_id or row.status == "released":
                raise PollRefused(PollError.INVALID_GRANT)
            last, row.last_poll_at = row.last_poll_at, at
            if last is not None and at - last < dt.timedelta(seconds=row.poll_interval):
                row.poll_interval = min(row.poll_interval + SLOW_DOWN_STEP, MAX_INTERVAL)
                outcome = PollError.SLOW_DOWN
            elif row.expires_at <= at:
                outcome = PollError.EXPIRED_TOKEN
            elif row.status == "denied":
                outcome = PollError.ACCESS_DENIED
            elif row.status == "pending" or row.person_id is None:
                outcome = PollError.AUTHORIZATION_PENDING
            else:
                # Hand out once: only the poll that moves approved -> released gets the claims.
                moved = session.execute(
                    update(DecoupledRequestRow)
                    .where(
                        DecoupledRequestRow.id == row.id,
                        DecoupledRequestRow.status == "approved",
                    )
                    .values(status="released", last_poll_at=at)
                    .execution_options(synchronize_session=False)
                )
                if getattr(moved, "rowcount", 0) != 1:
                    outcome = PollError.INVALID_GRANT
            interval = row.poll_interval
            result = ApprovedRequest(
                row.id,
                str(row.person_id),
                row.rp_id,
                row.client_id,
                Purpose(row.purpose),
                _codes(row.approved_attributes),
            )
        if outcome is not None:
            raise PollRefused(outcome, interval=interval)
        return result

    def record_txn(self, request_id: str, txn: str) -> None:
        """Remember which signed response answered the request (for the auditors)."""
        with self._db() as session:
            row = session.get(DecoupledRequestRow, request_id)
            if row is not None:
                row.txn = txn

    def stats(self, *, since: dt.datetime, until: dt.datetime) -> list[RequestStats]:
        """Counts per bank and purpose of requests started in ``since <= created_at < until``."""
        since, until = require_aware(since, "since"), require_aware(until, "until")
        r = DecoupledRequestRow
        expired = (r.status.in_(("pending", "approved"))) & (r.expires_at <= until)
        state = case(
            (r.status.in_(("approved", "released")) & ~expired, "approved"),
            (r.status == "denied", "denied"),
            (expired, "expired"),
            else_="pending",
        )
        query = (
            select(r.entity_id, r.client_id, r.purpose, state, func.count(r.id))
            .where(r.created_at >= since, r.created_at < until)
            .group_by(r.entity_id, r.client_id, r.purpose, state)
        )
        with self._db() as session:
            rows = session.execute(query).all()
        table: dict[tuple[str, str, str], dict[str, int]] = {}
        for entity_id, client, purpose, status, count in rows:
            counts = table.setdefault((str(entity_id), client, purpose), {})
            counts[str(status)] = counts.get(str(status), 0) + int(count)
        return [
            RequestStats(
                entity_id=k[0],
                client_id=k[1],
                purpose=k[2],
                started=sum(v.values()),
                approved=v.get("approved", 0),
                denied=v.get("denied", 0),
                expired=v.get("expired", 0),
            )
            for k, v in sorted(table.items(), key=lambda item: (item[0][1], item[0][2]))
        ]
