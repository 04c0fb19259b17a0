"""Onboarded banks (issue 6, "Relying parties"): add, update, find, list; every change audited.

A relying party is a legal entity of the register of kind ``bank`` (active), its IdP client,
which must be a FAPI 2.0 client (PAR, DPoP-bound tokens, ``private_key_jwt``; FAPI 2.0
Security Profile §5.3.2), and its policy (:mod:`kyc.policy`). One policy per client. The
client facts come in as :class:`ClientFacts` from the caller (the api layer reads them from
the IdP), so this package does not depend on the IdP's client registry.

Audit: ``kyc.rp.added`` / ``kyc.rp.updated`` with the operator as actor, the relying party's
id as subject, and the settings that changed (codes and flags; the contact address is
recorded only as changed / not changed, since it is personal data of a bank employee).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, require_aware
from core.db import transaction
from kyc.errors import (
    InvalidRelyingParty,
    KYCStoreUnavailable,
    RelyingPartyExists,
    RelyingPartyNotFound,
)
from kyc.models import RelyingPartyRow
from kyc.policy import (
    DEFAULT_RATE_LIMIT,
    Attribute,
    Purpose,
    RelyingParty,
    parse_attributes,
    parse_purposes,
    parse_rate_limit,
)
from kyc.rp_reads import COLUMNS, held_rp_reader
from kyc.verified_claims import check_encryption_jwk
from registry.errors import RegistryError
from registry.ports import AuditSink, PopulationRegister
from registry.records import EntityKind, EntityStatus

__all__ = ["ClientFacts", "RelyingParties"]

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[A-Za-z]{2,63}")


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What onboarding needs to know about the bank's IdP client."""

    client_id: str
    fapi2: bool


def _to_rp(row: RelyingPartyRow) -> RelyingParty:
    return _rp({name: getattr(row, name) for name in COLUMNS})


def _rp(row: Mapping[str, Any]) -> RelyingParty:
    """The relying party of a row's values (an ORM row's or a held-connection read's)."""
    jwk = row["encryption_jwk"]
    return RelyingParty(
        id=row["id"],
        entity_id=row["entity_id"],
        client_id=row["client_id"],
        attributes=frozenset(Attribute(a) for a in row["attributes"].split()),
        purposes=frozenset(Purpose(p) for p in row["purposes"].split()),
        rate_limit_per_minute=row["rate_limit_per_minute"],
        contact=row["contact"],
        legal_basis_match=row["legal_basis_match"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        encryption_jwk=json.loads(jwk) if jwk else None,
    )


def _contact(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _EMAIL.fullmatch(value.strip()):
        raise InvalidRelyingParty("contact: expected an e-mail address")
    return value.strip()


class RelyingParties:
    """The store of onboarded banks."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        register: PopulationRegister,
        ledger: AuditSink,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._register = register
        self._ledger = ledger
        self._clock = clock

    @contextmanager
    def _db(self, *, read: bool = False) -> Iterator[Session]:
        try:
            if read:
                with self._sessions() as session:
                    session.connection(execution_options={"sqlite_deferred": True})
                    yield session
            else:
                with transaction(self._sessions) as session:
                    yield session
        except IntegrityError:
            raise RelyingPartyExists("this client already has a KYC relying party") from None
        except SQLAlchemyError as exc:
            raise KYCStoreUnavailable(
                f"the KYC store failed ({type(exc).__name__}); is the database migrated?"
            ) from None

    def _check_entity(self, entity_id: str) -> str:
        try:
            entity = self._register.get_entity(entity_id)
        except RegistryError as exc:
            raise InvalidRelyingParty(f"entity: {exc}") from exc
        if entity.kind is not EntityKind.BANK:
            raise InvalidRelyingParty(f"entity: a bank is required, this one is {entity.kind}")
        if entity.status is not EntityStatus.ACTIVE:
            raise InvalidRelyingParty("entity: the bank is dissolved")
        return entity.id

    def add(
        self,
        *,
        entity_id: str,
        client: ClientFacts,
        attributes: Iterable[str] | str,
        purposes: Iterable[str] | str,
        rate_limit: str | int = DEFAULT_RATE_LIMIT,
        contact: str | None = None,
        legal_basis_match: bool = False,
        encryption_jwk: Mapping[str, Any] | str | None = None,
        actor: str = "cli",
    ) -> RelyingParty:
        """Onboard a bank; raises :class:`InvalidRelyingParty` naming what is wrong."""
        if not client.fapi2:
            raise InvalidRelyingParty(
                "client: a KYC relying party must be a FAPI 2.0 client (natid idp client add"
                " --fapi2)"
            )
        now = require_aware(self._clock.now())
        row = RelyingPartyRow(
            id=str(uuid.uuid4()),
            entity_id=self._check_entity(entity_id),
            client_id=client.client_id,
            attributes=" ".join(sorted(parse_attributes(attributes))),
            purposes=" ".join(sorted(parse_purposes(purposes))),
            rate_limit_per_minute=parse_rate_limit(rate_limit),
            contact=_contact(contact),
            legal_basis_match=legal_basis_match,
            encryption_jwk=(
                json.dumps(check_encryption_jwk(encryption_jwk), sort_keys=True)
                if encryption_jwk is not None
                else None
            ),
            active=True,
            created_at=now,
            updated_at=now,
        )
        with self._db() as session:
            if session.scalar(
                select(RelyingPartyRow.id).where(RelyingPartyRow.client_id == client.client_id)
            ):
                raise RelyingPartyExists("this client already has a KYC relying party")
            session.add(row)
            session.flush()
            self._ledger.append(
                "kyc.rp.added", actor=actor, subject=row.id, data=self._settings(row),
                session=session,
            )  # fmt: skip
            return _to_rp(row)

    @staticmethod
    def _settings(row: RelyingPartyRow) -> dict[str, Any]:
        return {
            "entity_id": row.entity_id,
            "client_id": row.client_id,
            "attributes": row.attributes.split(),
            "purposes": row.purposes.split(),
            "rate_limit_per_minute": row.rate_limit_per_minute,
            "legal_basis_match": row.legal_basis_match,
            "encryption": row.encryption_jwk is not None,
            "active": row.active,
        }

    def update(
        self,
        rp_id: str,
        *,
        attributes: Iterable[str] | str | None = None,
        purposes: Iterable[str] | str | None = None,
        rate_limit: str | int | None = None,
        contact: str | None = None,
        legal_basis_match: bool | None = None,
        encryption_jwk: Mapping[str, Any] | str | None = None,
        remove_encryption: bool = False,
        active: bool | None = None,
        actor: str = "cli",
    ) -> RelyingParty:
        """Change the given settings (None leaves one as it is); audited with what changed."""
        changes: dict[str, Any] = {}
        if attributes is not None:
            changes["attributes"] = " ".join(sorted(parse_attributes(attributes)))
        if purposes is not None:
            changes["purposes"] = " ".join(sorted(parse_purposes(purposes)))
        if rate_limit is not None:
            changes["rate_limit_per_minute"] = parse_rate_limit(rate_limit)
        if contact is not None:
            changes["contact"] = _contact(contact)
        if legal_basis_match is not None:
            changes["legal_basis_match"] = legal_basis_match
        if encryption_jwk is not None:
            jwk = check_encryption_jwk(encryption_jwk)
            changes["encryption_jwk"] = json.dumps(jwk, sort_keys=True)
        elif remove_encryption:
            changes["encryption_jwk"] = None
        if active is not None:
            changes["active"] = active
        if not changes:
            raise InvalidRelyingParty("nothing to change")
        with self._db() as session:
            row = self._row(session, rp_id)
            changed = [name for name, value in changes.items() if getattr(row, name) != value]
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = require_aware(self._clock.now())
            session.flush()
            data = {k: v for k, v in self._settings(row).items() if k in changed}
            data["changed"] = sorted(changed)
            self._ledger.append(
                "kyc.rp.updated", actor=actor, subject=row.id, data=data, session=session
            )
            return _to_rp(row)

    @staticmethod
    def _row(session: Session, rp_id: str) -> RelyingPartyRow:
        try:
            key = str(uuid.UUID(str(rp_id)))
        except ValueError:
            key = None
        row = session.get(RelyingPartyRow, key) if key else None
        if row is None:
            row = session.scalar(select(RelyingPartyRow).where(RelyingPartyRow.client_id == rp_id))
        if row is None:
            raise RelyingPartyNotFound(f"no KYC relying party {str(rp_id)[:64]!r}")
        return row

    def get(self, rp_id_or_client: str) -> RelyingParty:
        """By relying-party id or by client id; raises :class:`RelyingPartyNotFound`."""
        with self._db(read=True) as session:
            return _to_rp(self._row(session, rp_id_or_client))

    def find_by_client(self, client_id: str) -> RelyingParty | None:
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
            return None
        # Asked on every KYC call: on a held connection where the engine allows one.
        held = held_rp_reader(self._sessions)
        if held is not None:
            values = held.by_client(client_id)
            return _rp(values) if values is not None else None
        with self._db(read=True) as session:
            row = session.scalar(
                select(RelyingPartyRow).where(RelyingPartyRow.client_id == client_id)
            )
            return _to_rp(row) if row is not None else None

    def list(self) -> list[RelyingParty]:
        with self._db(read=True) as session:
            rows = session.scalars(select(RelyingPartyRow).order_by(RelyingPartyRow.created_at))
            return [_to_rp(r) for r in rows]
