"""/consent through the HTTP layer: allow, untick, deny, CSRF, and what the page says."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from api.context import AppContext
from api.routers.idp_text import CLAIM_TEXT, SCOPE_TEXT, TEXT
from idp.clients import Client
from idp.consents import Consents
from tests.api.idp_pages.conftest import RP_REDIRECT, PendingFactory, events
from tests.idp._web import browser_login, csrf_from, make_person_with_login

EN = TEXT["en"]


def logged_in(ctx: AppContext, web: TestClient) -> str:
    """Log a new person in; their account id."""
    nid, password, _ = make_person_with_login(ctx, totp=False)
    assert browser_login(web, nid, password).status_code == 303
    person = ctx.register.find_person_by_national_id(nid)
    assert person is not None
    account = ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    return account.id


def consent_of(ctx: AppContext, account_id: str, client: Client) -> object:
    return Consents(ctx.sessions, ledger=ctx.ledger).find(
        account_id, client.client_id, at=ctx.clock.now()
    )


def test_consent_needs_a_login_first(web: TestClient, pending_for: PendingFactory) -> None:
    pending = pending_for()
    answer = web.get("/consent", params={"pending": pending, "lang": "en"}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?lang=en&pending={pending}"


def test_page_lists_what_is_asked_in_plain_words(
    ctx: AppContext, web: TestClient, pending_for: PendingFactory
) -> None:
    logged_in(ctx, web)
    pending = pending_for(
        scopes=("openid", "profile", "email"),
        claims={"userinfo": {"phone_number": None, "birthdate": {"essential": True}}},
    )
    page = web.get("/consent", params={"pending": pending, "lang": "en"})
    assert page.status_code == 200
    assert "Ministry of Health portal" in page.text
    for scope in ("openid", "profile", "email"):
        assert SCOPE_TEXT["en"][scope] in page.text
    assert CLAIM_TEXT["en"]["phone_number"] in page.text
    assert CLAIM_TEXT["en"]["birthdate"] in page.text
    # openid and the essential claim are fixed; the others are ticked boxes.
    assert 'value="openid"' not in page.text and 'value="birthdate"' not in page.text
    for box in ('name="scope" value="profile" checked', 'name="scope" value="email" checked',
                'name="claim" value="phone_number" checked'):  # fmt: skip
        assert box in page.text
    khmer = web.get("/consent", params={"pending": pending, "lang": "km"})
    assert SCOPE_TEXT["km"]["email"] in khmer.text and SCOPE_TEXT["en"]["email"] not in khmer.text


def test_allow_everything_records_the_consent_and_continues(
    ctx: AppContext, web: TestClient, rp: Client, pending_for: PendingFactory
) -> None:
    account_id = logged_in(ctx, web)
    pending = pending_for(scopes=("openid", "profile", "email"))
    page = web.get("/consent", params={"pending": pending})
    form = {"decision": "allow", "scope": ["profile", "email"], "csrf_token": csrf_from(page.text),
            "pending": pending}  # fmt: skip
    answer = web.post("/consent", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/authorize/continue?pending={pending}&consented=1"
    consent = consent_of(ctx, account_id, rp)
    assert consent is not None
    assert consent.scopes == {"openid", "profile", "email"}  # type: ignore[attr-defined]
    granted = events(ctx, "idp.consent.granted")
    assert granted[-1].actor == account_id and granted[-1].subject == rp.client_id


def test_unticked_items_are_not_granted(
    ctx: AppContext, web: TestClient, rp: Client, pending_for: PendingFactory
) -> None:
    account_id = logged_in(ctx, web)
    pending = pending_for(
        scopes=("openid", "profile", "email"),
        claims={"userinfo": {"phone_number": None, "birthdate": {"essential": True},
                             "email": None}, "id_token": {"acr": None}},
    )  # fmt: skip
    page = web.get("/consent", params={"pending": pending})
    # The citizen unticks email and the phone number; a forged "address" is not asked for.
    form = {"decision": "allow", "scope": ["profile", "address"], "claim": ["address"],
            "csrf_token": csrf_from(page.text), "pending": pending}  # fmt: skip
    assert web.post("/consent", data=form, follow_redirects=False).status_code == 303
    consent = consent_of(ctx, account_id, rp)
    assert consent is not None
    assert consent.scopes == {"openid", "profile"}  # type: ignore[attr-defined]
    # birthdate is essential; acr is no personal data; email went with its scope.
    assert consent.claims == {"birthdate", "acr"}  # type: ignore[attr-defined]


def test_deny_sends_access_denied_back_and_grants_nothing(
    ctx: AppContext, web: TestClient, rp: Client, pending_for: PendingFactory
) -> None:
    account_id = logged_in(ctx, web)
    pending = pending_for(scopes=("openid", "email"))
    page = web.get("/consent", params={"pending": pending})
    form = {"decision": "deny", "csrf_token": csrf_from(page.text), "pending": pending}
    answer = web.post("/consent", data=form, follow_redirects=False)
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == RP_REDIRECT
    query = parse_qs(target.query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st-123"]
    assert query["iss"] == [ctx.idp_core().issuer]
    assert consent_of(ctx, account_id, rp) is None
    denied = events(ctx, "idp.consent.denied")
    assert len(denied) == 1 and denied[0].data["scopes"] == ["openid", "email"]
    # The request is gone: it cannot be continued after the refusal.
    assert web.get("/consent", params={"pending": pending}).status_code == 400


def test_consent_without_csrf_token_changes_nothing(
    ctx: AppContext, web: TestClient, rp: Client, pending_for: PendingFactory
) -> None:
    account_id = logged_in(ctx, web)
    pending = pending_for(scopes=("openid", "email"))
    web.get("/consent", params={"pending": pending})
    form = {"decision": "allow", "scope": ["email"], "pending": pending, "csrf_token": "x"}
    assert web.post("/consent", data=form, follow_redirects=False).status_code == 403
    assert consent_of(ctx, account_id, rp) is None
    assert events(ctx, "idp.consent.granted") == []


def test_bank_kyc_consent_names_the_bank_the_purpose_and_each_attribute(
    ctx: AppContext, web: TestClient, pending_for: PendingFactory
) -> None:
    """Issue 6: the consent page of a bank's eKYC request says who asks, why, and for what, in
    both languages; the attributes beyond the KYC scope itself are boxes the citizen may
    untick."""
    logged_in(ctx, web)
    asked = ("kyc", "kyc:purpose:account_opening", "kyc:national_id_number", "kyc:nationalities")
    pending = pending_for(client_name="ACLEDA Bank", scopes=("openid", *asked))
    for lang in ("en", "km"):
        page = web.get("/consent", params={"pending": pending, "lang": lang})
        assert page.status_code == 200
        assert "ACLEDA Bank" in page.text
        for scope in asked:
            assert SCOPE_TEXT[lang][scope] in page.text, (lang, scope)
        other = "km" if lang == "en" else "en"
        assert SCOPE_TEXT[other]["kyc:purpose:account_opening"] not in page.text
    for scope in ("kyc:national_id_number", "kyc:nationalities"):
        assert f'name="scope" value="{scope}" checked' in page.text
