"""The registration officer pages (issue 8): who gets in, finding a person, in-person proofing,
the activation letter (a real PDF read back with poppler and zxing-cpp), certificates on the
spot, the receipt, and what the ledger and the logs keep."""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from PIL import Image

from api.context import AppContext
from api.page_format import local_date, local_time, numerals
from api.routers.officer_text import OFFICER_TEXT
from ca.models import CertificateStatus
from ca.revocation import RevocationReason
from core.clock import FixedClock
from core.notify import read_outbox
from core.operators import OperatorRole
from idp.errors import SessionNotFound
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests.api.officer.conftest import OFFICE, Browser, Citizen, User, make_user, post_form
from tests.ca._issuance import ec_key, make_csr
from tests.conftest import require_command
from tests.idp._web import fast_passwords, make_person_with_login

_LETTER_LINK = re.compile(r'href="(/officer/letters/[A-Za-z0-9_-]+\.pdf)')
_CODE_LINE = re.compile(r"Activation code: ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2,})")


def _pdf_text(tmp_path: Path, data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    done = subprocess.run(
        [require_command("pdftotext"), "-layout", str(path), "-"],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return done.stdout


def _khmer_font_embedded(tmp_path: Path, data: bytes) -> bool:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    fonts = subprocess.run(
        [require_command("pdffonts"), str(path)], capture_output=True, check=True, text=True
    ).stdout
    rows = [line.split() for line in fonts.splitlines() if "Khmer" in line]
    # pdffonts columns: name type encoding emb sub uni object-id; "emb" is "yes" when embedded.
    return bool(rows) and all("yes" in row[-5:-2] for row in rows)


def _pdf_qr(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "qr.pdf"
    path.write_bytes(data)
    subprocess.run(
        [require_command("pdftoppm"), "-r", "150", "-png", "-singlefile", str(path),
         str(tmp_path / "page")],
        check=True, capture_output=True,
    )  # fmt: skip
    with Image.open(tmp_path / "page.png") as page:
        [found] = zxingcpp.read_barcodes(page)
    return str(found.text)


def _prove(client: TestClient, citizen: Citizen) -> None:
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(
        client, f"{page}/proofing",
        {"document_type": "national_id_card", "number_matches": "yes", "photo_compared": "yes"},
        page=page,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text


def _enrol(client: TestClient, citizen: Citizen) -> str:
    """Enrol and return the letter's download path."""
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(client, f"{page}/enrol", {}, page=page)
    assert answer.status_code == 200, answer.text
    found = _LETTER_LINK.search(answer.text)
    assert found is not None
    return found.group(1)


# --- access ---------------------------------------------------------------------------------


def test_no_session_is_sent_to_login(browser: Browser) -> None:
    answer = browser(None).get("/officer")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/officer"


def test_substantial_session_is_sent_to_step_up_to_high(
    browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer, acr="substantial")
    for path in ("/officer", f"/officer/persons/{citizen.person_id}"):
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith(f"/login?next={path}")
        assert "acr=high" in answer.headers["location"]


def test_high_session_without_the_role_is_refused(
    ctx: AppContext, browser: Browser, citizen: Citizen
) -> None:
    plain = make_user(ctx, "plain-citizen", roles=())
    auditor = make_user(ctx, "auditor-dara", roles=(OperatorRole.AUDITOR,))
    for user in (plain, auditor):
        answer = browser(user).get(f"/officer/persons/{citizen.person_id}?lang=en")
        assert answer.status_code == 403
        assert "authorised registration officers only" in answer.text
        assert "Sok Dara" not in answer.text


def test_role_holder_who_is_no_longer_a_civil_servant_is_refused(
    ctx: AppContext, browser: Browser
) -> None:
    former = make_user(ctx, "former-officer", roles=(OperatorRole.RA_OFFICER,), servant=False)
    assert browser(former).get("/officer").status_code == 403


def test_officer_sees_the_search_page(browser: Browser, officer: User) -> None:
    answer = browser(officer).get("/officer?lang=en")
    assert answer.status_code == 200
    assert 'name="national_id"' in answer.text
    assert 'name="csrf_token"' in answer.text


def test_post_without_csrf_token_changes_nothing(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    client.get("/officer")
    answer = client.post(
        f"/officer/persons/{citizen.person_id}/proofing",
        data={"document_type": "passport", "number_matches": "yes", "photo_compared": "yes",
              "office": OFFICE},
    )  # fmt: skip
    assert answer.status_code == 403
    assert ctx.register.proofing_level(citizen.person_id) is None


# --- search, proofing -----------------------------------------------------------------------


def test_search_finds_the_person_without_the_number_in_the_url(
    browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    answer = post_form(client, "/officer", {"national_id": f" {citizen.national_id} "})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(f"/officer/persons/{citizen.person_id}")
    assert citizen.national_id not in location
    page = client.get(location)
    assert page.status_code == 200
    assert "Sok Dara" in page.text and "សុខ ដារា" in page.text
    assert "1990-04-17" in page.text
    assert "not proven" in page.text and "no account" in page.text


def test_search_for_an_unknown_number_says_so(browser: Browser, officer: User) -> None:
    answer = post_form(browser(officer), "/officer", {"national_id": "999999990"})
    assert answer.status_code == 404
    assert "No person in the register has this ID card number" in answer.text


def test_search_needs_an_office(browser: Browser, officer: User, citizen: Citizen) -> None:
    answer = post_form(
        browser(officer), "/officer", {"national_id": citizen.national_id, "office": "\x07"}
    )
    assert answer.status_code == 400
    assert "Enter the office name" in answer.text


def test_proofing_without_both_checks_is_refused(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(
        browser(officer), f"{page}/proofing",
        {"document_type": "passport", "number_matches": "yes"}, page=page,
    )  # fmt: skip
    assert answer.status_code == 400
    assert "tick both boxes" in answer.text
    assert ctx.register.proofing_level(citizen.person_id) is None


def test_proofing_sets_level_high_and_is_audited_with_officer_and_office(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    assert ctx.register.proofing_level(citizen.person_id) is AssuranceLevel.HIGH
    page = client.get(f"/officer/persons/{citizen.person_id}?done=proofing&lang=en")
    assert "Proofing recorded. New level: high" in page.text
    [record] = ctx.register.proofing_records(citizen.person_id)
    assert record.office == OFFICE
    assert record.method.value == "in_person"
    servant = ctx.register.servants_of_person(officer.person_id)[0]
    assert record.officer_id == servant.id
    [entry] = [e for e in ctx.ledger.tail(100) if e.event == "officer.proofing.recorded"]
    assert entry.actor == officer.operator_id
    assert entry.subject == citizen.person_id
    assert entry.data["office"] == OFFICE
    assert entry.data["officer_id"] == servant.id


# --- the letter -----------------------------------------------------------------------------


def test_enrol_gives_a_letter_with_the_code_and_qr_and_sends_an_sms(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen, tmp_path: Path
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    link = _enrol(client, citizen)
    answer = client.get(link)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = _pdf_text(tmp_path, answer.content)
    found = _CODE_LINE.search(text)
    assert found is not None, text
    code = found.group(1)
    assert "Sok Dara" in text
    assert "សុខ" in text
    assert citizen.national_id not in text
    assert _khmer_font_embedded(tmp_path, answer.content)
    url = _pdf_qr(tmp_path, answer.content)
    assert url.startswith(ctx.settings.public_base_url.rstrip("/") + "/activate?code=")
    assert code in url
    # The code in the letter is the one the activation page accepts.
    from api.routers.activation import activation_service

    account_id = activation_service(ctx).redeem(
        citizen.national_id, code, source="test", at=ctx.clock.now()
    )
    assert ctx.idp_accounts().find_by_person(citizen.person_id).id == account_id  # type: ignore[union-attr]
    sms = [m for m in read_outbox(ctx.settings.data_dir / "outbox")
           if m.get("person_id") == citizen.person_id]  # fmt: skip
    assert sms, "an SMS goes to the phone in the register"
    assert sms[-1]["to_phone"] == "+85512345678"


def test_enrol_before_proofing_is_refused(
    browser: Browser, officer: User, citizen: Citizen
) -> None:
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(browser(officer), f"{page}/enrol", {}, page=page)
    assert answer.status_code == 409
    assert "identity in person first" in answer.text


def test_letter_is_not_served_to_another_officer(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    link = _enrol(client, citizen)
    other = make_user(ctx, "officer-vanna", roles=(OperatorRole.RA_OFFICER,))
    stolen = browser(other).get(link)
    assert stolen.status_code == 404
    assert b"%PDF" not in stolen.content
    assert client.get(link).status_code == 200


def test_letter_is_gone_after_thirty_minutes(
    browser: Browser, officer: User, citizen: Citizen, clock: FixedClock
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    link = _enrol(client, citizen)
    clock.advance(dt.timedelta(minutes=31))
    # The officer's session is still alive; the letter is not.
    fresh = browser(officer)
    assert fresh.get(link).status_code == 404


# --- certificates, receipt ------------------------------------------------------------------


def test_server_side_certificates_are_issued_and_listed_by_the_ca(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(client, f"{page}/certificates", {"mode": "server"}, page=page)
    assert answer.status_code == 200, answer.text
    listed = ctx.ca().list(subject_id=citizen.person_id, limit=10)
    assert {c.profile.value for c in listed} == {"citizen-auth", "citizen-sign"}
    assert all(c.key_label for c in listed)
    for cert in listed:
        assert cert.serial_hex in answer.text
        assert cert.requested_by == officer.operator_id or cert.requested_by is None
    [entry] = [e for e in ctx.ledger.tail(200) if e.event == "officer.certificates.issued"]
    serials = entry.data["serials"]
    assert isinstance(serials, list)
    assert sorted(map(str, serials)) == sorted(c.serial_hex for c in listed)
    assert entry.data["office"] == OFFICE


def test_person_page_says_which_certificates_are_valid_revoked_or_expired(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen, clock: FixedClock
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    page = f"/officer/persons/{citizen.person_id}"
    post_form(client, f"{page}/certificates", {"mode": "server"}, page=page)
    first, second = ctx.ca().list(subject_id=citizen.person_id, limit=10)
    ctx.ca().revoke(first.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="test")

    def tags(lang: str) -> list[str]:
        text = browser(officer).get(f"{page}?lang={lang}").text
        return sorted(re.findall(r'<span class="tag">([^<]*)</span>', text))

    assert tags("en") == ["revoked", "valid"]
    assert tags("km") == sorted(["ត្រូវបានដកហូត", "មានសុពលភាព"])
    clock.advance(second.not_after - clock.now() + dt.timedelta(days=1))
    # Past its end a certificate the CA still calls "good" is expired; a revoked one stays so.
    assert tags("en") == ["expired", "revoked"]
    assert tags("km") == sorted(["ផុតកំណត់", "ត្រូវបានដកហូត"])


def test_certificate_from_an_uploaded_csr_certifies_that_key(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    key = ec_key()
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(
        client, f"{page}/certificates", {"mode": "csr", "profile": "citizen-sign"}, page=page,
        files={"csr_file": ("device.csr", make_csr(key), "application/pkcs10")},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    [issued] = ctx.ca().list(subject_id=citizen.person_id, limit=10)
    assert issued.profile.value == "citizen-sign"
    assert issued.key_label is None
    spki = issued.certificate.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert isinstance(issued.certificate, x509.Certificate)


def test_garbage_csr_is_refused_and_nothing_is_issued(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(
        client, f"{page}/certificates",
        {"mode": "csr", "profile": "citizen-auth",
         "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"},
        page=page,
    )  # fmt: skip
    assert answer.status_code == 400
    assert "could not be issued" in answer.text
    assert not ctx.ca().list(subject_id=citizen.person_id, limit=10)


def test_receipt_lists_todays_work_without_the_code(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen, tmp_path: Path
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    letter = client.get(_enrol(client, citizen))
    code = _CODE_LINE.search(_pdf_text(tmp_path, letter.content))
    assert code is not None
    page = f"/officer/persons/{citizen.person_id}"
    post_form(client, f"{page}/certificates", {"mode": "server"}, page=page)
    answer = client.get(f"{page}/receipt")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = _pdf_text(tmp_path, answer.content)
    assert "Identity proven in person, level high" in text
    assert "Activation letter issued" in text
    for cert in ctx.ca().list(subject_id=citizen.person_id, limit=10):
        assert cert.serial_hex in text
    assert OFFICE in text
    assert code.group(1) not in text
    assert citizen.national_id not in text


# --- what is kept ---------------------------------------------------------------------------


def test_id_number_never_in_logs_or_ledger(
    ctx: AppContext,
    browser: Browser,
    officer: User,
    citizen: Citizen,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = browser(officer)
    post_form(client, "/officer", {"national_id": citizen.national_id})
    post_form(client, "/officer", {"national_id": "999999990"})
    _prove(client, citizen)
    client.get(_enrol(client, citizen))
    assert citizen.national_id not in caplog.text
    assert "999999990" not in caplog.text
    entries = ctx.ledger.tail(500)
    assert not [e for e in entries if citizen.national_id in e.data_json]
    searched = [e for e in entries if e.event == "officer.person.searched"]
    assert [e.data["found"] for e in searched] == [True, False]
    assert {e.actor for e in entries if e.event.startswith("officer.")} == {officer.operator_id}
    assert all(e.data["office"] == OFFICE for e in searched)


def test_pages_work_in_khmer(browser: Browser, officer: User, citizen: Citizen) -> None:
    answer = browser(officer).get(f"/officer/persons/{citizen.person_id}?lang=km")
    assert answer.status_code == 200
    assert answer.headers["content-language"] == "km"
    assert "ផ្ទៀងផ្ទាត់អត្តសញ្ញាណដោយផ្ទាល់" in answer.text
    assert '<label for="office-proofing">' in answer.text


def test_khmer_person_page_writes_dates_in_khmer_digits_and_serials_as_issued(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    page = f"/officer/persons/{citizen.person_id}"
    post_form(client, f"{page}/certificates", {"mode": "server"}, page=page)
    khmer = client.get(f"{page}?lang=km").text
    english = client.get(f"{page}?lang=en").text
    birthdate = ctx.register.get_person(citizen.person_id).birthdate.isoformat()
    assert f"<dd>{numerals(birthdate, 'km')}</dd>" in khmer
    assert f"<dd>{birthdate}</dd>" in english
    certificates = ctx.ca().list(subject_id=citizen.person_id, limit=10)
    assert certificates
    for cert in certificates:
        # The date a person reads in the page's digits, on Cambodia's calendar; the serial an
        # officer may read out or type elsewhere exactly as the CA wrote it.
        assert f"<code>{cert.serial_hex}</code> · " in khmer
        assert f"{local_date(cert.not_after, 'km')}</p>" in khmer
        assert f"{local_date(cert.not_after, 'en')}</p>" in english
    # The certificate's status in the page's words, never the CA's raw value.
    assert khmer.count('<span class="tag">មានសុពលភាព</span>') == len(certificates)
    assert english.count('<span class="tag">valid</span>') == len(certificates)
    assert '<span class="tag">good</span>' not in khmer + english


def test_letter_page_says_when_the_code_expires_in_cambodia_time_in_khmer(
    ctx: AppContext, browser: Browser, officer: User, citizen: Citizen
) -> None:
    client = browser(officer)
    _prove(client, citizen)
    page = f"/officer/persons/{citizen.person_id}"
    answer = post_form(client, f"{page}/enrol", {"lang": "km"}, page=page)
    assert answer.status_code == 200, answer.text
    [entry] = [e for e in ctx.ledger.tail(200) if e.event == "officer.activation.issued"]
    expires = dt.datetime.fromisoformat(str(entry.data["expires_at"]))
    # The same clock and label as the citizen's own pages ("... ម៉ោងកម្ពុជា").
    assert local_time(expires, "km") in answer.text
    assert "UTC+7" not in answer.text


def test_in_person_reset_removes_sign_in_methods_and_gives_a_new_letter(
    ctx: AppContext, browser: Browser, officer: User, tmp_path: Path
) -> None:
    fast_passwords(ctx)
    national_id, _password, _secret = make_person_with_login(ctx, totp=True)
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    account = ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    sessions = LoginSessions(ctx.sessions, ledger=ctx.ledger)
    stolen = sessions.start(account.id, acr=AssuranceLevel.SUBSTANTIAL, amr=("pwd", "otp"),
                            at=ctx.clock.now())  # fmt: skip
    client = browser(officer)
    page = f"/officer/persons/{person.id}"
    answer = post_form(client, f"{page}/reset", {}, page=page)
    assert answer.status_code == 200, answer.text
    found = _LETTER_LINK.search(answer.text)
    assert found is not None
    text = _pdf_text(tmp_path, client.get(found.group(1)).content)
    assert _CODE_LINE.search(text) is not None
    assert not ctx.idp_accounts().authenticators(account.id)
    with pytest.raises(SessionNotFound):
        sessions.get(stolen.token, at=ctx.clock.now())
    [entry] = [e for e in ctx.ledger.tail(300) if e.event == "officer.account.reset"]
    assert entry.actor == officer.operator_id and entry.data["office"] == OFFICE


@pytest.mark.parametrize("status", [*CertificateStatus, "expired"])
def test_every_certificate_status_has_officer_words_in_both_languages(status: str) -> None:
    # The person page names each certificate's status with these keys: a status the CA gains
    # without words would stop the page with a KeyError in front of the citizen.
    words = {lang: OFFICER_TEXT[lang][f"cert_status_{status}"] for lang in ("km", "en")}
    assert all(words.values())
    assert words["km"] != words["en"]
