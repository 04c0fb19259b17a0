"""Helpers for tests that drive the IdP's pages: people who can log in, and a browser login.

* :func:`fast_passwords` swaps the context's account service for one with cheap Argon2
  parameters (the real ones cost ~0.5 s per login), call it before the first login.
* :func:`make_person_with_login` adds a person to the register (proven in person, level high),
  opens an active account with ``password`` and, with ``totp=True``, a confirmed TOTP
  authenticator; returns ``(national_id, password, totp_secret or None)``.
* :func:`browser_login` walks ``/login`` (and ``/login/second-factor``) with a TestClient the
  way a browser does (GET the form, read its CSRF token, POST it) and returns the last
  response (a 303 to ``/authorize/continue`` or ``/account`` on success).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from httpx import Response

from api.context import AppContext
from idp.accounts import AccountService
from idp.passwords import Passwords
from idp.throttle import LoginThrottle
from idp.totp import STEP_SECONDS, SecretBox, TotpAuthenticators, derive_key
from tests.idp._accounts import FAST, person_record

__all__ = [
    "browser_login",
    "csrf_from",
    "fast_passwords",
    "make_person_with_login",
    "new_national_id",
    "totp_code",
]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_IDS = itertools.count(1)


def fast_passwords(ctx: AppContext) -> AccountService:
    """Give ``ctx`` an account service with cheap Argon2 parameters (tests only)."""
    configured = ctx.settings.idp_secret_key or ctx.settings.soft_key_passphrase
    secret = configured.get_secret_value().encode()
    service = AccountService(
        ctx.sessions,
        register=ctx.register,
        ledger=ctx.ledger,
        clock=ctx.clock,
        passwords=Passwords(FAST),
        throttle=LoginThrottle(ctx.cache, clock=ctx.clock, key=derive_key(secret, "throttle")),
        totp=TotpAuthenticators(ctx.sessions, box=SecretBox.derive(secret), ledger=ctx.ledger),
    )
    ctx._idp_accounts = service
    return service


def new_national_id() -> str:
    """A fresh 9-digit ID card number for this test process."""
    return f"{700000000 + next(_IDS):09d}"


def totp_code(secret: str, at: dt.datetime, offset: int = 0) -> str:
    """The code an authenticator app shows at ``at`` (``offset`` time steps away)."""
    step = int(at.timestamp()) // STEP_SECONDS + offset
    return pyotp.TOTP(secret).generate_otp(step)


def make_person_with_login(
    ctx: AppContext,
    *,
    password: str = "river mango lantern",
    totp: bool = True,
    national_id: str | None = None,
    proofing_level: str = "high",
    **record: Any,
) -> tuple[str, str, str | None]:
    """A person who can log in: ``(national_id, password, totp_secret or None)``.

    The TOTP enrolment is confirmed with the code of the PREVIOUS time step, so the code of
    the current step (what a login at ``ctx.clock.now()`` types) has not been used yet.
    """
    national_id = national_id or new_national_id()
    person = ctx.register.add_person(person_record(national_id, **record))
    ctx.register.record_proofing(
        person.id,
        method="in_person",
        level=proofing_level,
        evidence="national_id_card",
        office="Phnom Penh One Window office",
    )
    accounts = ctx.idp_accounts()
    account = accounts.create(person.id, actor="test")
    accounts.set_password(account.id, password, actor="test", activate=True)
    secret = None
    if totp:
        now = ctx.clock.now()
        started = accounts.totp.begin(account.id, account_name="test", at=now, actor="test")
        accounts.totp.confirm(
            account.id,
            started.authenticator_id,
            totp_code(started.secret, now, -1),
            at=now,
            actor="test",
        )
        secret = started.secret
    return national_id, password, secret


def csrf_from(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def browser_login(
    client: TestClient,
    national_id: str,
    password: str,
    *,
    code: str | None = None,
    pending: str | None = None,
    lang: str = "en",
) -> Response:
    """Log in through the pages; returns the final response (redirects not followed)."""
    query: dict[str, str] = {"lang": lang}
    if pending:
        query["pending"] = pending
    page: Response = client.get("/login", params=query)
    assert page.status_code == 200, page.text
    form = {"identifier": national_id, "password": password, "csrf_token": csrf_from(page.text)}
    form.update(query)
    answer: Response = client.post("/login", data=form, follow_redirects=False)
    if answer.status_code != 303 or "/login/second-factor" not in answer.headers["location"]:
        return answer
    second: Response = client.get(answer.headers["location"])
    assert second.status_code == 200, second.text
    if code is None:
        return second
    form = {"code": code, "csrf_token": csrf_from(second.text), "lang": lang}
    if pending:
        form["pending"] = pending
    final: Response = client.post("/login/second-factor", data=form, follow_redirects=False)
    return final
