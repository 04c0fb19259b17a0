"""Contract tests of the PopulationRegister port: the embedded register and the X-Road adapter
(talking over mutual TLS to a fake register on localhost) give the same answers; plus the
X-Road specifics (headers, request id, client certificate, timeouts, retries)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.clock import FixedClock
from registry.errors import InvalidRecord, RegistryUnavailable, SubjectNotFound
from registry.ports import PopulationRegister
from registry.records import AssuranceLevel, PersonStatus
from registry.service import EmbeddedRegister
from registry.xroad import XRoadConfig, XRoadRegister
from tests.registry._fake_xroad import (  # noqa: F401 - pytest fixtures
    CLIENT,
    SERVICE,
    FakeRegisterServer,
    XRoadPki,
    fake_fixture,
    pki_fixture,
)
from tests.registry.conftest import ministry, person

MISSING = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Seeded:
    dara: str
    thida: str
    never_proven: str
    ministry: str
    company: str
    servant: str


@pytest.fixture
def seeded(register: EmbeddedRegister) -> Seeded:
    interior = register.add_entity(
        ministry(register_no="MIN-MOI", name_en="Ministry of Interior", name_km="ក្រសួងមហាផ្ទៃ")
    ).id
    company = register.add_entity(
        {
            "register_no": "00012345",
            "name_km": "ក្រុមហ៊ុន ស្រូវ កំពត",
            "name_en": "Kampot Rice Co., Ltd.",
            "kind": "company",
        }
    ).id
    dara = register.add_person(person(phone="+85512345678", email="dara@example.com.kh")).id
    thida = register.add_person(
        person(national_id="200000001", name_latin="Chan Thida", name_km="ចាន់ ធីតា", sex="F")
    ).id
    never = register.add_person(
        person(national_id="300000001", name_latin="Keo Sopheap", name_km="កែវ សុភាព", address=None)
    ).id
    servant = register.add_servant(
        {
            "person_id": thida,
            "ministry_id": interior,
            "unit": "Identification",
            "title": "Registration Officer",
            "unit_km": "អត្តសញ្ញាណកម្ម",
            "employee_number": "MOI-0042",
        }
    ).id
    register.record_proofing(
        dara,
        method="remote_video",
        level="substantial",
        evidence="national_id_card",
        office="Video desk",
    )
    register.record_proofing(
        dara,
        method="in_person",
        level="high",
        evidence="national_id_card",
        office="One Window Office, Phnom Penh",
        officer_id=servant,
    )
    return Seeded(dara, thida, never, interior, company, servant)


def _adapter(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, **overrides: object
) -> XRoadRegister:
    settings: dict[str, object] = {
        "base_url": fake.url,
        "client": CLIENT,
        "service": SERVICE,
        "cert_file": pki.client_cert,
        "key_file": pki.client_key,
        "ca_file": pki.ca,
        "timeout": 5.0,
        "retries": 0,
        "backoff": 0.0,
        "user_id": "svc-kyc",
    }
    settings.update(overrides)
    return XRoadRegister(XRoadConfig(**settings), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def xroad(fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock) -> Iterator[XRoadRegister]:
    adapter = _adapter(fake, pki, clock)
    yield adapter
    adapter.close()


@pytest.fixture(params=["embedded", "xroad"])
def port(
    request: pytest.FixtureRequest, register: EmbeddedRegister, seeded: Seeded
) -> PopulationRegister:
    if request.param == "embedded":
        return register
    adapter: PopulationRegister = request.getfixturevalue("xroad")
    return adapter


# --- the contract: the same answers from both adapters -------------------------------------------


def test_get_person_same_as_embedded(
    port: PopulationRegister, register: EmbeddedRegister, seeded: Seeded
) -> None:
    for key in (seeded.dara, seeded.thida, seeded.never_proven):
        assert port.get_person(key) == register.get_person(key)
    dara = port.get_person(seeded.dara.upper())
    assert dara.national_id == "123456789" and dara.phone == "+85512345678"
    assert port.get_person(seeded.never_proven).address is None


def test_find_by_national_id_same_as_embedded(
    port: PopulationRegister, register: EmbeddedRegister, seeded: Seeded
) -> None:
    found = port.find_person_by_national_id("200000001")
    assert found == register.get_person(seeded.thida)
    assert port.find_person_by_national_id("999999999") is None


def test_entities_servants_same_as_embedded(
    port: PopulationRegister, register: EmbeddedRegister, seeded: Seeded
) -> None:
    assert port.get_entity(seeded.ministry) == register.get_entity(seeded.ministry)
    assert port.get_entity(seeded.company).name_en == "Kampot Rice Co., Ltd."
    servant = port.get_servant(seeded.servant)
    assert servant == register.get_servant(seeded.servant)
    assert servant.ministry_name_en == "Ministry of Interior"
    assert port.servants_of_person(seeded.thida) == (servant,)
    assert port.servants_of_person(seeded.dara) == ()


def test_proofing_same_as_embedded(
    port: PopulationRegister, register: EmbeddedRegister, seeded: Seeded
) -> None:
    record = port.current_proofing(seeded.dara)
    assert record == register.current_proofing(seeded.dara)
    assert record is not None and record.officer_id == seeded.servant
    assert port.proofing_level(seeded.dara) is AssuranceLevel.HIGH
    assert port.current_proofing(seeded.never_proven) is None
    assert port.proofing_level(seeded.never_proven) is None


def test_unknown_subjects_raise_subject_not_found(port: PopulationRegister, seeded: Seeded) -> None:
    for read in (
        port.get_person,
        port.get_entity,
        port.get_servant,
        port.servants_of_person,
        port.current_proofing,
        port.proofing_level,
    ):
        with pytest.raises(SubjectNotFound):
            read(MISSING)


def test_malformed_input_refused_without_echo(port: PopulationRegister, seeded: Seeded) -> None:
    with pytest.raises(InvalidRecord) as bad_id:
        port.get_person("123456789")
    assert "123456789" not in str(bad_id.value)
    with pytest.raises(InvalidRecord) as bad_number:
        port.find_person_by_national_id("12345-6789")
    assert "12345" not in str(bad_number.value)


def test_deceased_person_has_no_level(
    port: PopulationRegister, register: EmbeddedRegister, seeded: Seeded
) -> None:
    # Both adapters apply the rule "no level once the person is no longer active".
    from sqlalchemy import update

    from registry.models import PersonRow

    with register._sessions.begin() as session:
        session.execute(
            update(PersonRow).where(PersonRow.id == seeded.dara).values(status="deceased")
        )
    assert port.get_person(seeded.dara).status is PersonStatus.DECEASED
    assert port.proofing_level(seeded.dara) is None


# --- X-Road specifics --------------------------------------------------------------------------


def test_headers_name_client_user_and_fresh_request_id(
    xroad: XRoadRegister, fake: FakeRegisterServer, seeded: Seeded
) -> None:
    xroad.get_person(seeded.dara)
    xroad.acting_as("officer-17").get_entity(seeded.ministry)
    first, second = fake.requests
    assert first["client"] == CLIENT and first["user"] == "svc-kyc"
    assert second["user"] == "officer-17"
    assert first["path"] == f"/r1/{SERVICE}/persons/{seeded.dara}"
    assert first["id"] != second["id"]


def test_national_id_only_in_post_body(
    xroad: XRoadRegister, fake: FakeRegisterServer, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    xroad.find_person_by_national_id("123456789")
    (request,) = fake.requests
    assert request["method"] == "POST" and request["body"] == {"national_id": "123456789"}
    assert "123456789" not in request["path"]
    assert "123456789" not in caplog.text


def test_answer_with_foreign_request_id_refused(
    xroad: XRoadRegister, fake: FakeRegisterServer, seeded: Seeded
) -> None:
    fake.wrong_id = True
    with pytest.raises(RegistryUnavailable, match="X-Road-Id"):
        xroad.get_person(seeded.dara)


@pytest.mark.parametrize("header", ["X-Road-Client", "X-Road-UserId", "X-Road-Id"])
def test_fake_refuses_missing_xroad_headers(
    fake: FakeRegisterServer, pki: XRoadPki, seeded: Seeded, header: str
) -> None:
    headers = {
        "X-Road-Client": CLIENT,
        "X-Road-Id": "8c1f0a52-2a0e-4a43-9d3f-3c0d5a7c1e11",
        "X-Road-UserId": "svc-kyc",
    }
    del headers[header]
    context = XRoadConfig(
        base_url=fake.url,
        client=CLIENT,
        service=SERVICE,
        cert_file=pki.client_cert,
        key_file=pki.client_key,
        ca_file=pki.ca,
    ).ssl_context()
    with httpx.Client(verify=context) as http:
        answer = http.get(f"{fake.url}/r1/{SERVICE}/persons/{seeded.dara}", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["type"] == "Client.InvalidRequest"
    assert "national_id" not in answer.text


def test_unknown_client_refused(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    intruder = _adapter(fake, pki, clock, client="KH/COM/ACME/crm")
    with pytest.raises(RegistryUnavailable, match=r"HTTP 403.*AccessDenied"):
        intruder.get_person(seeded.dara)


def test_client_without_certificate_refused(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    anonymous = _adapter(fake, pki, clock, cert_file=None, key_file=None)
    with pytest.raises(RegistryUnavailable, match="connection failed"):
        anonymous.get_person(seeded.dara)
    assert fake.requests == []


def test_client_certificate_of_other_ca_refused(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    other = _adapter(fake, pki, clock, cert_file=pki.other_cert, key_file=pki.other_key)
    with pytest.raises(RegistryUnavailable, match="connection failed"):
        other.get_person(seeded.dara)
    assert fake.requests == []


def test_server_not_trusted_refused(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded, tmp_path: Path
) -> None:
    # Trusting only the "other" certificate, NatID must not talk to this security server.
    wrong_ca = _adapter(fake, pki, clock, ca_file=pki.other_cert)
    with pytest.raises(RegistryUnavailable, match="connection failed"):
        wrong_ca.get_person(seeded.dara)


def test_timeout_is_a_clear_error(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    fake.hold = threading.Event()
    slow = _adapter(fake, pki, clock, timeout=0.3)
    with pytest.raises(RegistryUnavailable, match=r"unavailable: no answer within 0\.3 s"):
        slow.get_person(seeded.dara)
    fake.hold.set()


def test_get_retried_after_server_error(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    fake.fail_next = 2
    patient = _adapter(fake, pki, clock, retries=2)
    assert patient.get_person(seeded.dara).id == seeded.dara
    assert len(fake.requests) == 3
    assert len({r["id"] for r in fake.requests}) == 3


def test_server_error_without_retries_left_is_unavailable(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    fake.fail_next = 5
    patient = _adapter(fake, pki, clock, retries=1)
    with pytest.raises(RegistryUnavailable, match=r"HTTP 503.*ServiceFailed"):
        patient.get_person(seeded.dara)
    assert len(fake.requests) == 2


def test_search_by_national_id_not_retried(
    fake: FakeRegisterServer, pki: XRoadPki, clock: FixedClock, seeded: Seeded
) -> None:
    fake.fail_next = 1
    patient = _adapter(fake, pki, clock, retries=3)
    with pytest.raises(RegistryUnavailable, match="HTTP 503"):
        patient.find_person_by_national_id("123456789")
    assert len(fake.requests) == 1


def test_check_lists_the_register_service(xroad: XRoadRegister, seeded: Seeded) -> None:
    assert "population" in xroad.check()


@pytest.mark.parametrize(
    ("field", "value"),
    [("client", "KH/GOV/NATID"), ("service", "KH/GOV/MOI/civil-register"), ("base_url", "ftp://x")],
)
def test_bad_configuration_refused(field: str, value: str) -> None:
    settings: dict[str, object] = {
        "base_url": "https://127.0.0.1:1",
        "client": CLIENT,
        "service": SERVICE,
    }
    settings[field] = value
    with pytest.raises(ValueError, match=field):
        XRoadConfig(**settings)  # type: ignore[arg-type]
