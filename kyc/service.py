"""KYC use cases: release verified claims, answer match checks, rate-limit banks, log access.

The api layer verifies the bank's DPoP-bound access token with the IdP (the only IdP code a
resource server uses) and looks up the citizen's live consent; it hands both in as plain
values (:class:`ConsentedRequest`), so this package does not depend on the IdP.

Order of checks in :meth:`KYCService.release` (the same in :meth:`KYCService.match`):

1. the client is an active onboarded bank (:class:`~kyc.errors.NotARelyingParty`);
2. the bank is within its rate limit (:class:`~kyc.errors.KYCRateLimited`, HTTP 429), counted
   per bank per minute in the shared cache, so every worker sees the same count;
3. policy and consent (:func:`kyc.policy.decide_release`);
4. the person exists and is active, else the same :class:`~kyc.errors.KYCAccessDenied` as for
   no consent (never "no such person");
5. the response is signed (and encrypted when the bank registered a key), THEN the access-log
   entry and its audit entry are written in one transaction: nothing is handed out unlogged,
   and the ledger's lock is never held across a (possibly HSM) signature.

Every refusal at steps 3-4 is audited as ``kyc.refused`` with the reason code (ids only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.cache import Cache
from core.clock import Clock, require_aware
from core.db import transaction
from kyc.access_log import AccessEntry, AccessLog
from kyc.errors import (
    KYCAccessDenied,
    KYCError,
    KYCRateLimited,
    NotARelyingParty,
    PolicyViolation,
)
from kyc.match import match_person, parse_match_request
from kyc.policy import (
    Attribute,
    ConsentView,
    GrantView,
    Purpose,
    RelyingParty,
    consented_attributes,
    decide_release,
)
from kyc.relying_parties import RelyingParties
from kyc.verified_claims import ResponseSigner, encrypt_for, verified_claims
from registry.errors import RegistryError
from registry.ports import AuditSink, PopulationRegister
from registry.records import Person, PersonStatus
from registry.snapshot import BatchReadableRegister

__all__ = ["ConsentedRequest", "KYCService", "SignedResponse"]

_WINDOW = 60


@dataclass(frozen=True, slots=True)
class ConsentedRequest:
    """A bank's call made with a citizen's access token, as the api layer verified it."""

    client_id: str
    person_id: str
    #: The subject the bank knows (the token's ``sub``, pairwise per sector).
    sub: str
    grant_id: str
    grant: GrantView
    consent: ConsentView | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignedResponse:
    """A signed (and maybe encrypted) response, and its transaction id."""

    token: str = field(repr=False)
    txn: str
    encrypted: bool


class KYCService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        register: PopulationRegister,
        ledger: AuditSink,
        cache: Cache,
        clock: Clock,
        signer: ResponseSigner,
    ) -> None:
        self._sessions = sessions
        self._register = register
        self._ledger = ledger
        self._cache = cache
        self._clock = clock
        self._signer = signer
        self.relying_parties = RelyingParties(sessions, register=register, ledger=ledger,
                                              clock=clock)  # fmt: skip
        self.access_log = AccessLog(sessions)

    # --- checks -------------------------------------------------------------------------------

    def relying_party(self, client_id: str) -> RelyingParty:
        """The active onboarded bank of ``client_id`` (step 1)."""
        rp = self.relying_parties.find_by_client(client_id)
        if rp is None or not rp.active:
            raise NotARelyingParty("this client is not an active KYC relying party")
        return rp

    def check_rate(self, rp: RelyingParty, *, at: dt.datetime) -> None:
        """Step 2: at most ``rp.rate_limit_per_minute`` calls per calendar minute."""
        window = int(at.timestamp()) // _WINDOW
        count = self._cache.incr(f"kyc:rate:{rp.id}:{window}", ttl=_WINDOW)
        if count > rp.rate_limit_per_minute:
            retry = _WINDOW - int(at.timestamp()) % _WINDOW
            raise KYCRateLimited(
                f"over the limit of {rp.rate_limit_per_minute} requests per minute",
                retry_after=max(1, retry),
            )

    def _refuse(self, rp: RelyingParty, person_id: str | None, exc: KYCError, what: str) -> None:
        self._ledger.append(
            "kyc.refused",
            actor=rp.client_id,
            subject=person_id,
            data={"endpoint": what, "reason": exc.code},
        )

    def _person(self, person_id: str, register: PopulationRegister | None = None) -> Person:
        try:
            person = (register or self._register).get_person(person_id)
        except RegistryError:
            raise KYCAccessDenied from None
        if person.status is not PersonStatus.ACTIVE:
            raise KYCAccessDenied
        return person

    def _reader(self, person_id: str) -> PopulationRegister:
        """For a release: the person and their proofing records in one database read when the
        register can batch (``EmbeddedRegister.snapshot``), instead of two (performance only;
        the snapshot applies the register's own rules, and falls back to it for anything it
        did not read)."""
        if isinstance(self._register, BatchReadableRegister):
            try:
                return self._register.snapshot(persons=(person_id,))
            except RegistryError:
                pass  # answered below by the register itself, as without the snapshot
        return self._register

    # --- signing and logging ------------------------------------------------------------------

    def _sign(self, rp: RelyingParty, claims: dict[str, Any], at: dt.datetime) -> SignedResponse:
        txn = str(uuid.uuid4())
        envelope = {
            "iss": self._signer.issuer,
            "aud": rp.client_id,
            "iat": int(at.timestamp()),
            "txn": txn,
            **claims,
        }
        token = self._signer.sign(envelope)
        if rp.encryption_jwk is not None:
            return SignedResponse(encrypt_for(rp.encryption_jwk, token), txn, encrypted=True)
        return SignedResponse(token, txn, encrypted=False)

    def _log(self, entry: AccessEntry, event: str) -> None:
        with transaction(self._sessions) as session:
            AccessLog.add(session, entry)
            self._ledger.append(
                event,
                actor=entry.client_id,
                subject=entry.person_id,
                data={
                    "txn": entry.txn,
                    "purpose": entry.purpose,
                    "attributes": list(entry.attributes),
                    "basis": entry.basis,
                    "grant_id": entry.grant_id,
                },
                session=session,
            )

    def _entry(
        self, rp: RelyingParty, request: ConsentedRequest | None, person_id: str, *,
        kind: str, purpose: Purpose, attributes: frozenset[str], txn: str, at: dt.datetime,
    ) -> AccessEntry:  # fmt: skip
        return AccessEntry(
            txn=txn,
            at=at,
            person_id=person_id,
            rp_id=rp.id,
            client_id=rp.client_id,
            entity_id=rp.entity_id,
            kind=kind,
            purpose=purpose.value,
            attributes=tuple(sorted(attributes)),
            basis="consent" if request is not None else "legal_basis",
            grant_id=request.grant_id if request is not None else None,
            consent_granted_at=(
                request.consent.granted_at if request and request.consent else None
            ),
        )

    # --- use cases ----------------------------------------------------------------------------

    def release(self, request: ConsentedRequest) -> SignedResponse:
        """The consented attributes as signed ``verified_claims`` (module docstring, 1-5)."""
        at = require_aware(self._clock.now())
        rp = self.relying_party(request.client_id)
        self.check_rate(rp, at=at)
        try:
            decided = decide_release(rp, request.grant, request.consent, at=at)
            reader = self._reader(request.person_id)
            person = self._person(request.person_id, reader)
        except (KYCAccessDenied, PolicyViolation) as exc:
            self._refuse(rp, request.person_id, exc, "person")
            raise
        record = reader.current_proofing(person.id)
        signed = self._sign(
            rp,
            {
                "sub": request.sub,
                "natid:purpose": decided.purpose.value,
                "verified_claims": verified_claims(person, record, decided.attributes),
            },
            at,
        )
        names = frozenset(a.value for a in decided.attributes)
        self._log(
            self._entry(rp, request, person.id, kind="release", purpose=decided.purpose,
                        attributes=names, txn=signed.txn, at=at),
            "kyc.released",
        )  # fmt: skip
        return signed

    def match(
        self,
        values: Mapping[str, object],
        *,
        request: ConsentedRequest | None = None,
        client_id: str | None = None,
        purpose: str | None = None,
    ) -> SignedResponse:
        """Per-attribute yes/no. With ``request`` (a citizen's token): allowed for attributes
        the policy and the live consent allow. Without (``client_id`` and ``purpose`` stated,
        the client authenticated by the api layer): only for a bank onboarded with the
        legal-basis flag; the person is found by ``national_id_number``, and an unknown number
        answers ``false`` for every attribute, exactly like a person who does not match."""
        at = require_aware(self._clock.now())
        owner = request.client_id if request is not None else client_id
        rp = self.relying_party(str(owner))
        self.check_rate(rp, at=at)
        wanted = parse_match_request(values)
        try:
            if request is not None:
                chosen, person, compared = self._consented_match(rp, request, wanted, at)
            else:
                chosen, person, compared = self._legal_basis_match(rp, purpose, wanted)
        except (KYCAccessDenied, PolicyViolation) as exc:
            self._refuse(rp, request.person_id if request else None, exc, "match")
            raise
        result = match_person(person, compared)
        claims: dict[str, Any] = {
            "natid:purpose": chosen.value,
            "natid:basis": "consent" if request is not None else "legal_basis",
            "natid:match": result,
        }
        if request is not None:
            claims["sub"] = request.sub
        signed = self._sign(rp, claims, at)
        if person is not None:
            self._log(
                self._entry(rp, request, person.id, kind="match", purpose=chosen,
                            attributes=frozenset(result), txn=signed.txn, at=at),
                "kyc.matched",
            )  # fmt: skip
        else:
            self._ledger.append(
                "kyc.matched", actor=rp.client_id, subject=None,
                data={"txn": signed.txn, "purpose": chosen.value, "basis": "legal_basis",
                      "attributes": sorted(result), "person_found": False},
            )  # fmt: skip
        return signed

    def _consented_match(
        self, rp: RelyingParty, request: ConsentedRequest, wanted: dict[Attribute, str],
        at: dt.datetime,
    ) -> tuple[Purpose, Person | None, dict[Attribute, str]]:  # fmt: skip
        decided = decide_release(rp, request.grant, request.consent, at=at)
        _check_policy(rp, wanted)
        assert request.consent is not None  # decide_release refused a missing consent
        if not set(wanted) <= consented_attributes(request.grant, request.consent):
            raise KYCAccessDenied
        return decided.purpose, self._person(request.person_id), wanted

    def _legal_basis_match(
        self, rp: RelyingParty, purpose: str | None, wanted: dict[Attribute, str]
    ) -> tuple[Purpose, Person | None, dict[Attribute, str]]:
        if not rp.legal_basis_match:
            raise PolicyViolation(
                "this relying party has no legal basis for match checks without consent"
            )
        if purpose not in {p.value for p in rp.purposes}:
            raise PolicyViolation("state a purpose this relying party is allowed")
        _check_policy(rp, wanted)
        compared = dict(wanted)
        key = compared.pop(Attribute.NATIONAL_ID_NUMBER, None)
        if key is None:
            raise PolicyViolation("a legal-basis match needs national_id_number")
        if not compared:
            raise PolicyViolation("send at least one attribute besides national_id_number")
        # The number is the look-up key here, not an answer: "does this number exist" is
        # never said on its own (every attribute is false for an unknown number).
        return Purpose(str(purpose)), self._register.find_person_by_national_id(key), compared


def _check_policy(rp: RelyingParty, wanted: Mapping[Attribute, str]) -> None:
    outside = set(wanted) - rp.attributes
    if outside:
        raise PolicyViolation(_outside(outside))


def _outside(attributes: set[Any]) -> str:
    names = ", ".join(sorted(a.value for a in attributes))
    return f"attributes outside this relying party's policy: {names}"
