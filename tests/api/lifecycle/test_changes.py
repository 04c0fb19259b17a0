"""Name changes, ID card renewals and civil servants moving or leaving, pushed over HTTP
(issue 8, "Life events"): certificates are flagged and superseded on re-issue, new ones carry
the register's new name and card number, government certificates and roles follow the person.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from api.context import AppContext
from api.lifecycle import certificate_lifecycle, install_reissue_listener
from api.security import operator_service
from ca.models import CertificateStatus
from ca.revocation import RevocationReason
from tests.api.lifecycle._ocsp import ocsp_answer
from tests.api.lifecycle.conftest import Citizen

PUSH = "/registry/v1/events"


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    return str(cert.subject.get_attributes_for_oid(oid)[0].value)


def test_name_change_flags_certificates_and_a_new_one_supersedes_the_old(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen, pusher: dict[str, str]
) -> None:
    install_reissue_listener(lc_ctx)
    old_auth, old_sign = citizen.certificates
    event = {
        "type": "name_change",
        "subject": citizen.person.id,
        "date": "2026-10-20",
        "family_name_latin": "Chan",
        "family_name_km": "ចាន់",
    }

    r = client.post(PUSH, json=event, headers=pusher)

    assert r.status_code == 201, r.text
    assert r.json()["outcome_detail"] == {"certificates_flagged": 4}
    assert lc_ctx.register.get_person(citizen.person.id).family_name_latin == "Chan"
    # Flagged, not revoked: the person is still who the certificates say until re-issue.
    assert ocsp_answer(client, lc_ctx, old_auth).certificate_status is ocsp.OCSPCertStatus.GOOD
    flags = certificate_lifecycle(lc_ctx).flags(citizen.person.id)
    assert {f.serial_hex for f in flags} == {old_auth.serial_hex, old_sign.serial_hex}

    new = lc_ctx.ca().issue_with_server_key("citizen-auth", citizen.person.id, actor="test")

    assert _attr(new.certificate, NameOID.SURNAME) == "ចាន់"
    assert _attr(new.certificate, NameOID.COMMON_NAME).startswith("Chan ")
    answer = ocsp_answer(client, lc_ctx, old_auth)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.superseded
    # The signing certificate has no replacement yet: it stays good.
    assert lc_ctx.ca().get(old_sign.serial_hex).status is CertificateStatus.GOOD
    settled = {f.serial_hex: f for f in certificate_lifecycle(lc_ctx).flags(citizen.person.id)}
    assert settled[old_auth.serial_hex].superseded_by == new.serial_hex
    assert settled[old_sign.serial_hex].resolved_at is None


def test_id_card_renewal_puts_the_new_number_in_later_certificates(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen, pusher: dict[str, str]
) -> None:
    old = citizen.certificates[0]
    assert _attr(old.certificate, NameOID.SERIAL_NUMBER) == f"IDCKH-{citizen.national_id}"
    event = {
        "type": "id_card_renewal",
        "subject": citizen.person.id,
        "date": "2026-10-25",
        "national_id": "123456789",
    }

    r = client.post(PUSH, json=event, headers=pusher)

    assert r.status_code == 201, r.text
    body = r.json()
    # The stored and returned event never holds the card number.
    assert "123456789" not in r.text
    assert body["payload"] == {"national_id_changed": True}
    assert lc_ctx.register.find_person_by_national_id("123456789") is not None
    assert lc_ctx.register.find_person_by_national_id(citizen.national_id) is None
    renewed = lc_ctx.ca().issue_with_server_key("citizen-auth", citizen.person.id, actor="test")
    assert _attr(renewed.certificate, NameOID.SERIAL_NUMBER) == "IDCKH-123456789"
    assert old.serial_hex in {
        f.serial_hex for f in certificate_lifecycle(lc_ctx).flags(citizen.person.id)
    }


def test_servant_leaving_revokes_government_certificates_and_operator_roles(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen, pusher: dict[str, str]
) -> None:
    event = {
        "type": "servant_left",
        "subject": citizen.person.id,
        "date": "2026-10-31",
        "servant_id": citizen.servant.id,
    }

    r = client.post(PUSH, json=event, headers=pusher)

    assert r.status_code == 201, r.text
    assert r.json()["outcome_detail"] == {"certificates_revoked": 2, "roles_removed": 1}
    for cert in citizen.gov_certificates:
        answer = ocsp_answer(client, lc_ctx, cert)
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason is x509.ReasonFlags.affiliation_changed
    # The person's own (citizen) certificates are not the position's: they stay good.
    for cert in citizen.certificates:
        assert ocsp_answer(client, lc_ctx, cert).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert operator_service(lc_ctx).get("dara.ra").roles == frozenset()
    assert not lc_ctx.register.get_servant(citizen.servant.id).active


def test_servant_moving_keeps_roles_and_revokes_only_the_old_position(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen, pusher: dict[str, str]
) -> None:
    event = {
        "type": "servant_moved",
        "subject": citizen.person.id,
        "date": "2026-10-31",
        "servant_id": citizen.servant.id,
        "ministry_id": citizen.servant.ministry_id,
        "unit": "Department of Identity",
        "title": "Deputy Director",
    }

    r = client.post(PUSH, json=event, headers=pusher)

    assert r.status_code == 201, r.text
    new_position = r.json()["payload"]["servant_id"]
    assert lc_ctx.register.get_servant(new_position).active
    for cert in citizen.gov_certificates:
        assert lc_ctx.ca().get(cert.serial_hex).revocation_reason is (
            RevocationReason.AFFILIATION_CHANGED
        )
    assert operator_service(lc_ctx).get("dara.ra").roles != frozenset()
    issued = lc_ctx.ca().issue_with_server_key("gov-auth", new_position, actor="test")
    assert _attr(issued.certificate, NameOID.TITLE) == "Deputy Director"
