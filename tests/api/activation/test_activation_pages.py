"""Citizen activation through the pages (api/routers/activation.py): ID card number and code
-> password -> authenticator app -> recovery codes -> done -> logged in at /account."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from httpx import Response

from api.context import AppContext
from api.routers.activation import activation_service
from core.notify import read_outbox
from idp.account_models import AccountStatus
from idp.activation import IssuedActivation
from registry.records import Person
from tests.idp._accounts import person_record
from tests.idp._web import browser_login, csrf_from, new_national_id, totp_code

OFFICER = "6f1c2d3e-0000-4000-8000-000000000001"
PASSWORD = "paddy field monsoon kite"
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_RECOVERY = re.compile(r"<li><code>([0-9a-z-]+)</code></li>")


def enrolled(ctx: AppContext, *, level: str = "high") -> tuple[str, Person, IssuedActivation]:
    """A person proven in person, with a fresh activation code: ``(national_id, person, code)``."""
    national_id = new_national_id()
    person = ctx.register.add_person(person_record(national_id))
    ctx.register.record_proofing(
        person.id, method="in_person", level=level, evidence="national_id_card",
        office="Phnom Penh One Window office",
    )  # fmt: skip
    issued = activation_service(ctx).issue(
        person.id, officer=OFFICER, office="Phnom Penh One Window office", at=ctx.clock.now()
    )
    return national_id, person, issued


def post_form(client: TestClient, page: Response, path: str, **fields: str) -> Response:
    data = {"csrf_token": csrf_from(page.text), **fields}
    answer: Response = client.post(path, data=data, follow_redirects=False)
    return answer


def activate(client: TestClient, national_id: str, code: str, lang: str = "en") -> Response:
    page = client.get("/activate", params={"lang": lang, "code": code})
    assert page.status_code == 200, page.text
    return post_form(client, page, "/activate", national_id=national_id, code=code, lang=lang)


def set_password(client: TestClient, lang: str = "en") -> Response:
    page = client.get("/activate/password", params={"lang": lang})
    assert page.status_code == 200, page.text
    return post_form(
        client, page, "/activate/password", password=PASSWORD, repeat=PASSWORD, lang=lang
    )


def test_full_activation_logs_the_citizen_in_at_substantial(
    ctx: AppContext, client: TestClient
) -> None:
    national_id, _person, issued = enrolled(ctx)
    answer = activate(client, national_id, issued.code)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/activate/password?lang=en"
    # The browser holds only a random flow id: no ID number, account id or step.
    flow_cookie = client.cookies.get("natid_activation")
    assert flow_cookie and issued.account_id not in flow_cookie
    assert national_id not in flow_cookie and national_id not in answer.headers["location"]

    answer = set_password(client)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/activate/second-factor?lang=en"
    assert ctx.idp_accounts().get(issued.account_id).status is AccountStatus.ACTIVE

    page = client.get("/activate/second-factor", params={"lang": "en"})
    assert page.status_code == 200
    assert "<svg" in page.text
    found = _SECRET.search(page.text)
    assert found is not None
    secret = found.group(1).replace(" ", "")
    code = totp_code(secret, ctx.clock.now())
    answer = post_form(client, page, "/activate/second-factor", code=code, lang="en")
    assert answer.status_code == 200, answer.text
    assert "Your recovery codes" in answer.text
    assert len(_RECOVERY.findall(answer.text)) >= 8

    done = client.get("/activate/done", params={"lang": "en"})
    assert done.status_code == 200
    assert "Your account is ready" in done.text
    assert "Level of assurance: substantial" in done.text
    assert 'href="/account?lang=en"' in done.text

    account = client.get("/account", params={"lang": "en"}, follow_redirects=False)
    assert account.status_code == 200, account.text
    assert "Sok Dara" in account.text
    assert "substantial" in account.text
    # The flow is over: going back to a step leads to the account, not into the flow again.
    again = client.get("/activate/done", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/account")


def test_activated_citizen_logs_in_with_password_and_app(
    ctx: AppContext, client: TestClient
) -> None:
    national_id, _person, issued = enrolled(ctx)
    activate(client, national_id, issued.code)
    set_password(client)
    page = client.get("/activate/second-factor", params={"lang": "en"})
    found = _SECRET.search(page.text)
    assert found is not None
    secret = found.group(1).replace(" ", "")
    now = ctx.clock.now()
    post_form(client, page, "/activate/second-factor", code=totp_code(secret, now, -1), lang="en")
    with TestClient(client.app, base_url=str(client.base_url)) as other:
        answer = browser_login(other, national_id, PASSWORD, code=totp_code(secret, now))
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/account"


def test_activation_level_is_capped_by_proofing(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx, level="low")
    activate(client, national_id, issued.code)
    set_password(client)
    page = client.get("/activate/second-factor", params={"lang": "en"})
    found = _SECRET.search(page.text)
    assert found is not None
    code = totp_code(found.group(1).replace(" ", ""), ctx.clock.now())
    post_form(client, page, "/activate/second-factor", code=code, lang="en")
    done = client.get("/activate/done", params={"lang": "en"})
    assert "Level of assurance: low" in done.text


def test_the_letter_qr_prefills_the_code_and_khmer_is_the_default(
    ctx: AppContext, client: TestClient
) -> None:
    _national_id, _person, issued = enrolled(ctx)
    path = issued.activate_url.split("localhost:8000", 1)[-1]
    assert path.startswith("/activate?code=")
    page = client.get(path.replace("http://127.0.0.1:8000", ""))
    assert page.status_code == 200
    assert page.headers["content-language"] == "km"
    assert f'value="{issued.code}"' in page.text
    assert "ធ្វើឱ្យគណនី NatID របស់អ្នកសកម្ម" in page.text
    assert "លេខអត្តសញ្ញាណប័ណ្ណ" in page.text
    assert '<label for="national_id">' in page.text and '<label for="code">' in page.text
    assert "<script" not in page.text  # works without JavaScript
    english = client.get("/activate", params={"code": issued.code, "lang": "en"})
    assert "Activate your NatID account" in english.text
    assert f'value="{issued.code}"' in english.text


def test_activation_in_khmer(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx)
    answer = activate(client, national_id, issued.code, lang="km")
    assert answer.headers["location"] == "/activate/password?lang=km"
    page = client.get("/activate/password", params={"lang": "km"})
    assert "ជ្រើសពាក្យសម្ងាត់" in page.text
    assert "ជំហាន ២ នៃ ៣" in page.text  # the step is counted in Khmer digits, all of it
    weak = post_form(client, page, "/activate/password", password="123", repeat="123", lang="km")
    assert weak.status_code == 400
    assert "វាខ្លីពេក" in weak.text
    answer = set_password(client, lang="km")
    page = client.get(answer.headers["location"])
    assert "ការពារគណនីរបស់អ្នកដោយទូរស័ព្ទ" in page.text
    found = _SECRET.search(page.text)
    assert found is not None
    code = totp_code(found.group(1).replace(" ", ""), ctx.clock.now())
    codes = post_form(client, page, "/activate/second-factor", code=code, lang="km")
    assert "លេខកូដសង្គ្រោះរបស់អ្នក" in codes.text
    done = client.get("/activate/done", params={"lang": "km"})
    assert "គណនីរបស់អ្នករួចរាល់ហើយ" in done.text
    # The level's one Khmer name, as on the account, officer and demo pages.
    assert "កម្រិតធានា៖ គួរសម" in done.text


def test_wrong_number_and_wrong_code_get_the_same_page(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx)
    unknown = activate(client, "000000017", issued.code)
    wrong = activate(client, national_id, "7KQ4-M2XD-9P")
    assert unknown.status_code == wrong.status_code == 200
    message = "The ID card number or the activation code is wrong, expired or already used."
    assert message in unknown.text and message in wrong.text
    assert national_id not in wrong.text
    assert client.cookies.get("natid_activation") is None


def test_a_used_code_does_not_work_twice(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx)
    assert activate(client, national_id, issued.code).status_code == 303
    with TestClient(client.app, base_url=str(client.base_url)) as thief:
        again = activate(thief, national_id, issued.code)
    assert again.status_code == 200
    assert "already used" in again.text


def test_csrf_refused_without_token(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx)
    client.get("/activate", params={"lang": "en"})
    answer = client.post(
        "/activate",
        data={"national_id": national_id, "code": issued.code, "lang": "en"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "This form has expired" in html.unescape(answer.text)
    # Nothing happened: the code still works.
    assert activate(client, national_id, issued.code).status_code == 303


def test_steps_cannot_be_skipped_without_the_flow(ctx: AppContext, client: TestClient) -> None:
    page = client.get("/activate/password", params={"lang": "en"})
    assert "This activation took too long" in page.text
    national_id, _person, issued = enrolled(ctx)
    activate(client, national_id, issued.code)
    # The second factor before the password sends the browser back to the password step.
    early = client.get("/activate/second-factor", params={"lang": "en"}, follow_redirects=False)
    assert early.status_code == 303
    assert early.headers["location"] == "/activate/password?lang=en"


def test_password_must_match_and_follow_the_policy(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx)
    activate(client, national_id, issued.code)
    page = client.get("/activate/password", params={"lang": "en"})
    differ = post_form(
        client, page, "/activate/password", password=PASSWORD, repeat=PASSWORD + "x", lang="en"
    )
    assert differ.status_code == 400
    assert "The two passwords are not the same." in differ.text
    mine = national_id + "abc"
    own = post_form(client, page, "/activate/password", password=mine, repeat=mine, lang="en")
    assert own.status_code == 400
    assert "it contains your ID card number." in own.text
    assert national_id not in own.text
    assert ctx.idp_accounts().get(issued.account_id).status is AccountStatus.PENDING


def test_wrong_authenticator_code_is_refused(ctx: AppContext, client: TestClient) -> None:
    national_id, _person, issued = enrolled(ctx)
    activate(client, national_id, issued.code)
    set_password(client)
    page = client.get("/activate/second-factor", params={"lang": "en"})
    wrong = post_form(client, page, "/activate/second-factor", code="000000", lang="en")
    assert wrong.status_code == 400
    assert "The code does not match" in wrong.text
    assert client.cookies.get("natid_session") is None


def test_passkey_option_logs_in_low_and_opens_the_security_page(
    ctx: AppContext, client: TestClient
) -> None:
    national_id, _person, issued = enrolled(ctx)
    activate(client, national_id, issued.code)
    set_password(client)
    page = client.get("/activate/second-factor", params={"lang": "en"})
    answer = post_form(client, page, "/activate/passkey", lang="en")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/account/security")
    security = client.get("/account/security", params={"lang": "en"}, follow_redirects=False)
    assert security.status_code == 200


def test_the_sms_code_activates_too(ctx: AppContext, client: TestClient) -> None:
    national_id, person, _issued = enrolled(ctx)
    [message] = [m for m in read_outbox(ctx.settings.data_dir / "outbox")
                 if m["person_id"] == person.id]  # fmt: skip
    code = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", message["text"])
    assert code is not None
    assert activate(client, national_id, code.group(0)).status_code == 303
