"""Bad events are refused with a clear problem+json and leave nothing behind; only a CA
operator may push events (issue 8, "Life events"; common rule: nothing stored half-way)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.context import AppContext
from ca.store import IssuedCertificate
from core.operators import OperatorRole
from registry import Person, PersonStatus
from registry.event_models import RegisterEventRow
from tests.api._ra import operator_token
from tests.api.lifecycle._ocsp import ocsp_answer
from tests.api.lifecycle.conftest import Citizen
from tests.ca._issuance import add_person

PUSH = "/registry/v1/events"
PROBLEM = "application/problem+json"


@pytest.fixture
def holder(lc_ctx: AppContext) -> tuple[Person, IssuedCertificate]:
    """A person with one certificate (lighter than the full citizen)."""
    person = add_person(lc_ctx.register)
    return person, lc_ctx.ca().issue_with_server_key("citizen-auth", person.id, actor="test")


def _stored(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(RegisterEventRow)) or 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"type": "birth"}, "type"),
        ({"date": "2099-01-01"}, "future"),
        ({"date": "1 Nov 2026"}, "YYYY-MM-DD"),
        ({"subject": "not-a-uuid"}, "subject"),
        ({"national_id": "987654321"}, "national_id: not a field of a death event"),
        ({"type": "name_change"}, "at least one new name part"),
        ({"type": "id_card_renewal"}, "national_id: required"),
        ({"type": "servant_left"}, "servant_id: required"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_event_is_refused_and_nothing_is_stored(
    lc_ctx: AppContext,
    client: TestClient,
    holder: tuple[Person, IssuedCertificate],
    pusher: dict[str, str],
    change: dict[str, Any],
    expected: str,
) -> None:
    person, cert = holder
    event = {"type": "death", "subject": person.id, "date": "2026-10-30", **change}

    r = client.post(PUSH, json=event, headers=pusher)

    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == PROBLEM
    assert expected in r.json()["detail"]
    # No ID number is echoed back, even one sent where it does not belong.
    assert "987654321" not in r.text
    assert _stored(lc_ctx) == 0
    assert lc_ctx.register.get_person(person.id).status is PersonStatus.ACTIVE
    assert ocsp_answer(client, lc_ctx, cert).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_position_of_another_person_cannot_be_ended(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen, pusher: dict[str, str]
) -> None:
    other = lc_ctx.register.add_person(
        {"national_id": "555000111", "name_km": "ចាន់ សុភា", "name_latin": "Chan Sophea",
         "birthdate": "1985-02-01"}
    )  # fmt: skip
    event = {
        "type": "servant_left",
        "subject": other.id,
        "date": "2026-10-30",
        "servant_id": citizen.servant.id,
    }
    r = client.post(PUSH, json=event, headers=pusher)
    assert r.status_code == 400, r.text
    assert "not a position of this person" in r.json()["detail"]
    assert lc_ctx.register.get_servant(citizen.servant.id).active
    assert _stored(lc_ctx) == 0


def test_unknown_subject_and_non_json_body(
    lc_ctx: AppContext, client: TestClient, pusher: dict[str, str]
) -> None:
    missing = {
        "type": "death",
        "subject": "0b6f5a7e-1111-4e2b-9c3d-5a6b7c8d9e0f",
        "date": "2026-10-30",
    }
    assert client.post(PUSH, json=missing, headers=pusher).status_code == 404
    garbled = client.post(PUSH, content=b"{not json", headers=pusher)
    assert garbled.status_code == 400
    assert garbled.headers["content-type"] == PROBLEM
    assert _stored(lc_ctx) == 0


def test_only_a_ca_operator_may_push_events(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen
) -> None:
    event = {"type": "death", "subject": citizen.person.id, "date": "2026-10-30"}
    assert client.post(PUSH, json=event).status_code == 401
    _id, token = operator_token(lc_ctx, "post.office", OperatorRole.RA_OFFICER)
    refused = client.post(PUSH, json=event, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert _stored(lc_ctx) == 0
    assert lc_ctx.register.get_person(citizen.person.id).status is PersonStatus.ACTIVE
