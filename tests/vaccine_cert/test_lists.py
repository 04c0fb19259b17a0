"""Revocation, the published revocation list and trust list, foreign trust-list imports and CSV
batches (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ca.revocation import RevocationReason
from ca.service import CAService
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from tests.ca._issuance import (
    ca_service,
    hierarchy_keys,
    ledger,
    register,
    session_hierarchy,
    transparency,
)
from tests.vaccine_cert._health import TEST, VACCINATION, World, world
from tests.vaccine_cert.conftest import make_dsc
from vaccine_cert.batch import parse_batch_csv
from vaccine_cert.errors import (
    AlreadyRevoked,
    NoHealthSigner,
    TrustListRejected,
    UnknownHealthCertificate,
)
from vaccine_cert.models import HealthForeignSignerRow
from vaccine_cert.report import Check, Outcome, ReasonCode
from vaccine_cert.revocation import STALE_AFTER, RevocationList
from vaccine_cert.service import TRUSTLIST_KEY_LABEL, HealthService
from vaccine_cert.trustlist import anchor_fingerprint, export_trustlist, parse_trustlist
from vaccine_cert.verify import verify

__all__ = [
    "ca_service", "hierarchy_keys", "ledger", "register", "session_hierarchy", "transparency",
    "world",
]  # fmt: skip


def test_revoked_credential_fails_the_revocation_check_and_others_pass(
    world: World, ledger: AuditLedger
) -> None:
    revoked = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    kept = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    world.health.revoke(revoked.uvci, actor="officer-9")
    report = world.health.verify(revoked.payload)
    assert not report.valid
    assert report.outcome(Check.REVOCATION) is Outcome.FAIL
    assert report.codes(Check.REVOCATION) == {ReasonCode.REVOKED}
    assert world.health.verify(kept.payload).valid
    [entry] = [e for e in ledger.tail(20) if e.event == "health.certificate.revoked"]
    assert entry.actor == "officer-9"
    assert revoked.uvci not in json.dumps(entry.data)
    with pytest.raises(AlreadyRevoked):
        world.health.revoke(revoked.uvci, actor="o")
    with pytest.raises(UnknownHealthCertificate) as caught:
        world.health.revoke("URN:UVCI:01:KH:NOSUCHCREDENTIAL#A", actor="o")
    assert caught.value.http_status == 404


def test_published_revocation_list_has_the_three_hashes_and_works_offline(world: World) -> None:
    issued = world.health.issue(world.holder.id, "test", TEST, actor="o")
    world.health.revoke(issued.uvci, actor="o")
    document = json.loads(json.dumps(world.health.revocation_list()))
    anchor = world.health.trustlist_anchor()
    batches = {b["hashType"]: b for b in document["batches"]}
    assert set(batches) == {"UCI", "COUNTRYCODEUCI", "SIGNATURE"}
    uci = base64.b64encode(hashlib.sha256(issued.uvci.encode()).digest()[:16]).decode()
    country = base64.b64encode(hashlib.sha256(("KH" + issued.uvci).encode()).digest()[:16])
    assert batches["UCI"]["entries"] == [{"hash": uci}]
    assert batches["COUNTRYCODEUCI"]["entries"] == [{"hash": country.decode()}]
    assert {b["kid"] for b in document["batches"]} == {issued.kid}

    # A border post with only the trust list and this file decides offline.
    offline = RevocationList.from_document(json.dumps(document), anchor=anchor)
    trusted = world.health.trusted_signers()
    report = verify(issued.payload, trusted=trusted, at=issued.issued_at, revocation=offline)
    assert report.outcome(Check.REVOCATION) is Outcome.FAIL

    # Only the SIGNATURE hash listed (a copy revoked without its UVCI): still revoked.
    only_signature = RevocationList.from_document({"batches": [batches["SIGNATURE"]]}, anchor=None)
    report = verify(issued.payload, trusted=trusted, at=issued.issued_at, revocation=only_signature)
    assert report.outcome(Check.REVOCATION) is Outcome.FAIL
    # ... and a list without it does not touch the credential.
    unrelated = RevocationList.from_document({"batches": []}, anchor=None)
    report = verify(issued.payload, trusted=trusted, at=issued.issued_at, revocation=unrelated)
    assert report.valid

    tampered = copy.deepcopy(document)
    tampered["batches"] = []
    with pytest.raises(TrustListRejected, match="does not verify"):
        RevocationList.from_document(json.dumps(tampered), anchor=anchor)


def test_revocation_list_tells_how_old_it_is() -> None:
    """A verifier shows the list's date and warns once it is older than STALE_AFTER (or has
    no date at all): an old list passes every credential revoked since."""
    made = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
    listed = RevocationList.from_document(
        {"timestamp": "2026-11-01T09:00:00Z", "batches": []}, anchor=None
    )
    assert listed.issued_at == made
    assert not listed.is_stale(made + STALE_AFTER)
    assert listed.is_stale(made + STALE_AFTER + dt.timedelta(seconds=1))
    undated = RevocationList.from_document({"batches": []}, anchor=None)
    assert undated.issued_at is None
    assert undated.is_stale(made)


def test_trust_list_has_the_gateway_shape_and_signed_entries(world: World) -> None:
    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    [entry] = world.health.trustlist()
    assert set(entry) == {
        "kid", "country", "certificateType", "rawData", "thumbprint", "timestamp", "signature",
    }  # fmt: skip
    der = base64.b64decode(entry["rawData"])
    assert entry["thumbprint"] == hashlib.sha256(der).hexdigest()
    assert entry["kid"] == issued.kid
    assert (entry["country"], entry["certificateType"]) == ("KH", "DSC")
    [listed] = parse_trustlist(json.dumps([entry]), anchor=world.health.trustlist_anchor())
    assert listed.signer.kid_b64 == issued.kid


def test_import_checks_every_entry_against_the_anchor_all_or_nothing(
    world: World, session_factory: sessionmaker[Session], ledger: AuditLedger
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.vaccine_cert.conftest import sign_hc1, vaccination_dcc

    foreign_anchor = ec.generate_private_key(ec.SECP256R1())
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    foreign_dsc = make_dsc(foreign_key, common_name="Foreign DSC")
    other_dsc = make_dsc(ec.generate_private_key(ec.SECP256R1()), common_name="Other DSC")
    document = export_trustlist([foreign_dsc, other_dsc], country="FR", key=foreign_anchor)
    foreign_credential = sign_hc1(vaccination_dcc(), key=foreign_key, cert=foreign_dsc)
    assert not world.health.verify(foreign_credential).valid

    def stored() -> int:
        with session_factory() as session:
            return session.scalar(select(func.count()).select_from(HealthForeignSignerRow)) or 0

    # An entry altered after signing (country moved) rejects the whole list.
    altered = copy.deepcopy(document)
    altered[1]["country"] = "KH"
    with pytest.raises(TrustListRejected, match="entry 1"):
        world.health.import_trustlist(
            json.dumps(altered), anchor=foreign_anchor.public_key(), actor="o"
        )
    # The right list under the wrong anchor is refused too.
    with pytest.raises(TrustListRejected, match="entry 0"):
        world.health.import_trustlist(
            json.dumps(document), anchor=world.health.trustlist_anchor(), actor="o"
        )
    assert stored() == 0

    assert world.health.import_trustlist(
        json.dumps(document), anchor=foreign_anchor.public_key(), actor="o"
    ) == (2, 2)
    assert world.health.import_trustlist(
        json.dumps(document), anchor=foreign_anchor.public_key(), actor="o"
    ) == (2, 0)
    assert stored() == 2
    assert [e.event for e in ledger.tail(5)].count("health.trustlist.imported") == 2
    # The verifier now trusts the foreign signer (its test DSC runs from 2026-10-02).
    report = world.health.verify(foreign_credential)
    assert report.outcome(Check.SIGNATURE) is Outcome.PASS, report.reasons


def test_a_revoked_signer_is_named_and_no_longer_trusted_or_published(
    world: World, ca_service: CAService, clock: FixedClock
) -> None:
    """``natid ca revoke SERIAL --reason keyCompromise`` on a document signer: its credentials
    fail as signed by a revoked signer, with the date and the reason, and a forged one under
    its kid is still an unknown signer's."""
    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    assert world.health.verify(issued.payload).valid
    (signer,) = world.health.signers()
    clock.advance(dt.timedelta(hours=2))
    ca_service.revoke(signer.serial, reason=RevocationReason.KEY_COMPROMISE, actor="o")
    when = clock.now().replace(microsecond=0).isoformat()

    (revoked,) = world.health.revoked_signers()
    assert (revoked.kid, revoked.reason) == (signer.kid, "keyCompromise")
    assert world.health.signers() == ()
    assert world.health.trustlist() == []
    report = world.health.verify(issued.payload)
    assert not report.valid
    assert report.codes() == {ReasonCode.SIGNER_REVOKED}
    assert report.reasons == (
        f"signature: the signer's certificate (kid {issued.kid}) was revoked on {when} "
        "(keyCompromise); the credentials it signed are no longer valid",
    )
    assert report.holder is None
    # A credential issued now gets a new signer, and verifies.
    again = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    assert again.kid != issued.kid
    assert world.health.verify(again.payload).valid


def test_batch_issues_good_rows_and_reports_bad_ones_by_line(world: World) -> None:
    csv_text = (
        "subject,kind,tg,vp,mp,ma,dn,sd,dt,tt,sc,tr\n"
        f"{world.holder.id},vaccination,840539006,1119349007,EU/1/20/1528,ORG-100030215,1,2,"
        "2026-09-01,,,\n"
        f"{world.holder.id},vaccination,840539006,1119349007,EU/1/20/1528,ORG-100030215,0,2,"
        "2026-09-01,,,\n"
        "3f1c2b4e-0000-4000-8000-000000000000,test,840539006,,,,,,,LP6464-4,"
        "2026-10-31T08:00:00Z,260415000\n"
        f"{world.holder.id},test,840539006,,,,,,,LP6464-4,2026-10-31T08:00:00Z,260415000\n"
    )
    report = world.health.issue_batch(parse_batch_csv(csv_text), actor="o")
    assert [o.line for o in report.outcomes] == [2, 3, 4, 5]
    assert [o.ok for o in report.outcomes] == [True, False, False, True]
    assert report.outcomes[1].error_code == "dcc_record_invalid"
    assert "v[0].dn" in (report.outcomes[1].error or "")
    assert report.outcomes[2].error_code == "subject_not_found"
    for outcome in report.outcomes:
        if outcome.payload is not None:
            assert world.health.verify(outcome.payload).valid


def test_the_trust_list_anchor_is_made_only_on_purpose_and_audited(
    world: World, ledger: AuditLedger, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # An installation whose key store has no anchor yet: reading a list never makes one.
    fresh = SoftKeyBackend(tmp_path_factory.mktemp("no-anchor"), "anchor test", scrypt_n=2**14)
    try:
        health = HealthService(
            world.health._sessions,
            ca=world.health._ca,
            register=world.health._register,
            keys=fresh,
            ledger=ledger,
            clock=world.health._clock,
            entity_id=world.ministry.id,
        )
        for read in (health.trustlist, health.revocation_list, health.trustlist_anchor):
            with pytest.raises(NoHealthSigner, match="natid health signer ensure") as caught:
                read()
            assert caught.value.http_status == 503
        assert fresh.list() == []
        made = [e for e in ledger.tail(50) if e.event == "health.trustlist_anchor.created"]

        anchor = health.ensure_anchor(actor="officer-3")
        assert [k.label for k in fresh.list()] == [TRUSTLIST_KEY_LABEL]
        assert health.ensure_anchor(actor="officer-3") == anchor  # made once
        [entry] = [e for e in ledger.tail(50) if e.event == "health.trustlist_anchor.created"][
            len(made) :
        ]
        assert entry.actor == "officer-3"
        assert entry.data == {
            "key_label": TRUSTLIST_KEY_LABEL,
            "fingerprint": anchor_fingerprint(anchor),
        }
        assert health.trustlist_anchor() == anchor
        parse_trustlist(json.dumps(health.trustlist()), anchor=anchor)  # signed by it
    finally:
        fresh.close()
