"""The recovery pages through the real application: /recover, /recover/code, the lost-phone
button, new recovery codes, the officer's in-person reset, and the notices they send."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from api.digits import KHMER_DIGITS
from api.routers.activation import activation_service
from api.routers.recovery import recovery_service
from ca.profiles import ProfileName
from ca.revocation import RevocationReason
from core.clock import FixedClock
from core.notify import read_outbox
from idp.account_models import AccountStatus
from idp.errors import LoginFailed
from idp.sessions import LoginSessions
from tests.api.recovery.conftest import browser
from tests.idp._flow import redeemed_grant, secret_client
from tests.idp._web import (
    browser_login,
    csrf_from,
    make_person_with_login,
    new_national_id,
    totp_code,
)

NEW_PASSWORD = "copper kettle monsoon"


def _outbox(ctx: AppContext) -> Path:
    return ctx.settings.data_dir / "outbox"


def _reset_code(ctx: AppContext) -> str:
    (sms,) = [m for m in read_outbox(_outbox(ctx)) if m["kind"] == "password_reset_code"]
    found = re.search(r"\b(\d{8})\b", sms["text"])
    assert found is not None
    return found.group(1)


def _ask_code(client: TestClient, national_id: str, lang: str = "en") -> str:
    form = client.get(f"/recover?lang={lang}")
    assert form.status_code == 200
    answer = client.post(
        "/recover",
        data={"identifier": national_id, "csrf_token": csrf_from(form.text), "lang": lang},
    )
    assert answer.status_code == 200
    return answer.text


@pytest.mark.parametrize(
    ("lang", "words"), [("en", "Forgot your password"), ("km", "ភ្លេចពាក្យសម្ងាត់")]
)
def test_recover_page_in_both_languages(client: TestClient, lang: str, words: str) -> None:
    page = client.get(f"/recover?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert words in page.text
    assert '<label for="identifier">' in page.text
    assert 'name="csrf_token"' in page.text
    assert "<script" not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_sms_reset_through_the_pages_logs_in_at_low(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    national_id, old_password, secret = make_person_with_login(ctx)
    # Someone who knew the old password is logged in elsewhere, and a site holds tokens from
    # that session: the reset ends the session and those tokens.
    core = ctx.idp_core()
    core.signing_keys.ensure_active(actor="test")
    with browser(ctx) as elsewhere:
        code_now = totp_code(secret, clock.now()) if secret else None
        assert browser_login(elsewhere, national_id, old_password, code=code_now).status_code == 303
        intruder = LoginSessions(ctx.sessions, ledger=ctx.ledger).get(
            elsewhere.cookies["natid_session"], at=clock.now()
        )
    site = secret_client(core)
    grant = redeemed_grant(core, site, clock.now(), subject=_person_id(ctx, national_id),
                           sid=intruder.id)  # fmt: skip
    tokens = core.tokens.exchange_code(grant, client=site, dpop_jkt=None, at=clock.now())
    sent = _ask_code(client, national_id)
    assert 'id="code-sent"' in sent
    assert national_id in sent  # prefilled for the next step, never in a URL
    code = _reset_code(ctx)
    done = client.post(
        "/recover/code",
        data={
            "identifier": national_id, "code": code, "password": NEW_PASSWORD,
            "csrf_token": csrf_from(sent), "lang": "en",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == "/recover/done?lang=en"
    assert "Your password was changed" in client.get(done.headers["location"]).text
    account = client.get("/account?lang=en")
    assert account.status_code == 200
    assert "This session logged in at assurance level: low" in account.text
    with pytest.raises(LoginFailed):
        ctx.idp_accounts().authenticate_password(
            national_id, old_password, source=None, at=clock.now()
        )
    kinds = [m["kind"] for m in read_outbox(_outbox(ctx))]
    assert "password_changed" in kinds
    seen = core.tokens.introspect(tokens.access_token, client=site, at=clock.now())
    assert seen == {"active": False}


def _person_id(ctx: AppContext, national_id: str) -> str:
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    return person.id


def test_number_and_code_typed_in_khmer_digits_reset_the_password(
    ctx: AppContext, client: TestClient
) -> None:
    """A Khmer keyboard types ០..៩; the Khmer page writes numbers that way too."""
    national_id, _, _ = make_person_with_login(ctx)
    khmer = national_id.translate(str.maketrans("0123456789", KHMER_DIGITS))
    sent = _ask_code(client, khmer, lang="km")
    assert 'id="code-sent"' in sent
    code = _reset_code(ctx).translate(str.maketrans("0123456789", KHMER_DIGITS))
    done = client.post(
        "/recover/code",
        data={
            "identifier": khmer, "code": code, "password": NEW_PASSWORD,
            "csrf_token": csrf_from(sent), "lang": "km",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text


def test_unknown_number_gets_the_same_page_and_no_sms(ctx: AppContext, client: TestClient) -> None:
    known, _, _ = make_person_with_login(ctx, totp=False)
    unknown = new_national_id()
    page_known = _ask_code(client, known).replace(known, "N")
    page_unknown = _ask_code(client, unknown).replace(unknown, "N")
    strip = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip.sub("", page_known) == strip.sub("", page_unknown)
    assert [m["kind"] for m in read_outbox(_outbox(ctx))].count("password_reset_code") == 1


def test_wrong_code_and_weak_password_say_so(ctx: AppContext, client: TestClient) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    sent = _ask_code(client, national_id)
    code = _reset_code(ctx)
    form = {"identifier": national_id, "csrf_token": csrf_from(sent), "lang": "en"}
    wrong = client.post(
        "/recover/code", data={**form, "code": "00000000", "password": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    assert "the code is wrong, or the code expired" in wrong.text
    weak = client.post("/recover/code", data={**form, "code": code, "password": "short"})
    assert weak.status_code == 400
    assert "too weak" in weak.text
    assert (
        client.post(
            "/recover/code",
            data={**form, "code": code, "password": NEW_PASSWORD},
            follow_redirects=False,
        ).status_code
        == 303
    )


def test_recover_forms_need_the_csrf_token(ctx: AppContext, client: TestClient) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    client.get("/recover")
    refused = client.post("/recover", data={"identifier": national_id})
    assert refused.status_code == 403
    refused = client.post(
        "/recover/code", data={"identifier": national_id, "code": "1", "password": NEW_PASSWORD}
    )
    assert refused.status_code == 403
    assert "password_reset_code" not in [m["kind"] for m in read_outbox(_outbox(ctx))]


def _login_with_recovery_code(ctx: AppContext, client: TestClient) -> tuple[str, str, str]:
    national_id, password, _ = make_person_with_login(ctx)
    account = ctx.idp_accounts().authenticate_password(
        national_id, password, source=None, at=ctx.clock.now()
    )
    codes = ctx.idp_accounts().totp.regenerate_recovery_codes(
        account.account_id, at=ctx.clock.now(), actor="test"
    )
    # The phone is gone: the login's second step takes a recovery code instead.
    final = browser_login(client, national_id, password, code=codes[0])
    assert final.status_code == 303
    return national_id, password, account.account_id


def test_lost_phone_button_removes_the_app_and_ends_other_sessions(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    national_id, password, account_id = _login_with_recovery_code(ctx, client)
    with browser(ctx) as other:
        second = ctx.idp_accounts().authenticate_password(
            national_id, password, source=None, at=clock.now()
        )
        codes = ctx.idp_accounts().totp.regenerate_recovery_codes(
            second.account_id, at=clock.now(), actor="test"
        )
        assert browser_login(other, national_id, password, code=codes[0]).status_code == 303
        # A site the other (stolen) browser logged into holds tokens from that session.
        core = ctx.idp_core()
        core.signing_keys.ensure_active(actor="test")
        stolen = LoginSessions(ctx.sessions, ledger=ctx.ledger).get(
            other.cookies["natid_session"], at=clock.now()
        )
        site = secret_client(core)
        grant = redeemed_grant(core, site, clock.now(), subject=second.person_id, sid=stolen.id)
        tokens = core.tokens.exchange_code(grant, client=site, dpop_jkt=None, at=clock.now())
        security = client.get("/account/security?lang=en")
        assert 'id="lost-device"' in security.text
        answer = client.post(
            "/account/security/lost-device",
            data={
                "csrf_token": csrf_from(security.text.split('id="lost-device"')[1]),
                "lang": "en",
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert "authenticator app was removed" in client.get(answer.headers["location"]).text
        assert other.get("/account", follow_redirects=False).status_code == 303
        # ... and they end with it, as at a logout.
        seen = core.tokens.introspect(tokens.access_token, client=site, at=clock.now())
        assert seen == {"active": False}
    assert client.get("/account", follow_redirects=False).status_code == 200
    assert not ctx.idp_accounts().totp.status(account_id).enrolled
    assert "lost_device_reported" in [m["kind"] for m in read_outbox(_outbox(ctx))]


def test_lost_phone_needs_a_fresh_login_with_a_second_factor(
    ctx: AppContext, client: TestClient
) -> None:
    national_id, _, _ = make_person_with_login(ctx)
    # Password only (the app is enrolled, so the login page asks for it; skip it through
    # an SMS reset, which gives level low): not enough to remove the second factor.
    sent = _ask_code(client, national_id)
    client.post(
        "/recover/code",
        data={
            "identifier": national_id, "code": _reset_code(ctx), "password": NEW_PASSWORD,
            "csrf_token": csrf_from(sent), "lang": "en",
        },
    )  # fmt: skip
    page = client.get("/account/security/lost-device?lang=en")
    assert 'id="reauth"' in page.text
    refused = client.post(
        "/account/security/lost-device", data={"csrf_token": csrf_from(sent), "lang": "en"}
    )
    assert refused.status_code == 403
    account = ctx.idp_accounts().find_by_person(
        ctx.register.find_person_by_national_id(national_id).id  # type: ignore[union-attr]
    )
    assert account is not None and ctx.idp_accounts().totp.status(account.id).enrolled


def test_new_recovery_codes_replace_the_old_ones(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    national_id, password, secret = make_person_with_login(ctx)
    assert secret is not None
    assert (
        browser_login(
            client, national_id, password, code=totp_code(secret, clock.now())
        ).status_code
        == 303
    )
    page = client.get("/account/recovery-codes?lang=en")
    assert page.status_code == 200
    made = client.post(
        "/account/recovery-codes", data={"csrf_token": csrf_from(page.text), "lang": "en"}
    )
    assert made.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-z-]+)</code></li>", made.text)
    assert len(codes) == 10
    first = ctx.idp_accounts().authenticate_password(
        national_id, password, source=None, at=clock.now()
    )
    assert ctx.idp_accounts().verify_second_factor(first, codes[0], source=None, at=clock.now())


def test_in_person_reset_removes_everything_and_gives_a_new_activation(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx)
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    assert browser_login(client, national_id, password, code=None).status_code == 200
    issued = recovery_service(ctx).reset_in_person(
        person.id, officer="officer-1", office="Phnom Penh One Window office", at=clock.now()
    )
    accounts = ctx.idp_accounts()
    account = accounts.find_by_person(person.id)
    assert account is not None and account.status is AccountStatus.PENDING
    assert accounts.authenticators(account.id) == []
    assert not accounts.totp.status(account.id).enrolled
    assert issued.account_id == account.id and issued.code
    with pytest.raises(LoginFailed):
        accounts.authenticate_password(national_id, password, source=None, at=clock.now())
    assert (
        activation_service(ctx).redeem(national_id, issued.code, source=None, at=clock.now())
        == account.id
    )
    audit = [e for e in ctx.ledger.tail(200) if e.event == "idp.recovery.reset_in_person"]
    assert [(e.actor, e.subject) for e in audit] == [("officer-1", account.id)]


def test_certificate_issued_and_revoked_are_told(ctx: AppContext, clock: FixedClock) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    issued = ctx.ca().issue_with_server_key(ProfileName.CITIZEN_AUTH, person.id, actor="officer-1")
    clock.advance(dt.timedelta(seconds=1))
    ctx.ca().revoke(issued.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="officer-1")
    notices = [m for m in read_outbox(_outbox(ctx)) if m["kind"].startswith("certificate_")]
    assert [m["kind"] for m in notices] == ["certificate_issued", "certificate_revoked"]
    assert all(m["person_id"] == person.id and m["to_phone"] for m in notices)
    assert all(issued.serial_hex not in m["text"] and national_id not in m["text"] for m in notices)
