"""Security notices (idp/notifications.py) through the audit ledger's after-commit listener
(core/audit.py ``add_listener``): what reaches the outbox, and what never does."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.context import AppContext, build_context
from core.audit_format import AuditEntry
from core.clock import FixedClock
from core.db import transaction
from core.notify import OutboxNotifier, read_outbox
from core.settings import load_settings
from idp.consents import Consents
from idp.notifications import SecurityNotifications
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests.idp._flow import secret_client
from tests.idp._web import fast_passwords, make_person_with_login, totp_code


@pytest.fixture
def ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(
        load_settings(data_dir=tmp_path / "var", database_url=db_url), clock=clock
    )
    fast_passwords(context)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def outbox(ctx: AppContext) -> Path:
    directory = ctx.settings.data_dir / "outbox"
    notices = SecurityNotifications(
        ctx.sessions, register=ctx.register, notifier=OutboxNotifier(directory)
    )
    ctx.ledger.add_listener("security-notifications", notices)
    return directory


def _kinds(outbox: Path) -> list[str]:
    return [m["kind"] for m in read_outbox(outbox)]


def _account(ctx: AppContext, national_id: str, password: str, clock: FixedClock) -> str:
    return (
        ctx.idp_accounts()
        .authenticate_password(national_id, password, source=None, at=clock.now())
        .account_id
    )


def test_password_change_is_told_in_khmer_and_english(
    ctx: AppContext, outbox: Path, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    account_id = _account(ctx, national_id, password, clock)
    before = len(read_outbox(outbox))
    ctx.idp_accounts().set_password(account_id, "copper kettle monsoon", actor=account_id)
    message = read_outbox(outbox)[before:]
    assert [m["kind"] for m in message] == ["password_changed"]
    (notice,) = message
    assert notice["to_phone"] == "+85512345678"
    assert notice["to_email"] == "sok.dara@example.com"
    assert "ពាក្យសម្ងាត់" in notice["text"] and "Your NatID password was changed" in notice["text"]
    assert national_id not in notice["text"]


def test_second_factor_added_and_removed(ctx: AppContext, outbox: Path, clock: FixedClock) -> None:
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    account_id = _account(ctx, national_id, password, clock)
    for message in outbox.glob("*.json"):
        message.unlink()
    totp = ctx.idp_accounts().totp
    started = totp.begin(account_id, account_name="t", at=clock.now(), actor=account_id)
    totp.confirm(
        account_id,
        started.authenticator_id,
        totp_code(started.secret, clock.now()),
        at=clock.now(),
        actor=account_id,
    )
    totp.remove(account_id, actor=account_id)
    # Outbox files of the same instant are in no particular order.
    assert sorted(_kinds(outbox)) == ["second_factor_added", "second_factor_removed"]


def test_consent_given_names_the_service(ctx: AppContext, outbox: Path, clock: FixedClock) -> None:
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    account_id = _account(ctx, national_id, password, clock)
    client = secret_client(ctx.idp_core())
    Consents(ctx.sessions, ledger=ctx.ledger).grant(
        account_id, client.client_id, ["profile"], [], at=clock.now()
    )
    last = read_outbox(outbox)[-1]
    assert last["kind"] == "consent_given"
    # By the name the consent page showed, not the random client id a citizen never saw.
    assert client.name in last["text"]
    assert client.client_id not in last["text"]


def test_login_from_a_new_device_is_told_but_not_the_first_or_a_known_one(
    ctx: AppContext, outbox: Path, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    account_id = _account(ctx, national_id, password, clock)
    sessions = LoginSessions(ctx.sessions, ledger=ctx.ledger)
    start = len(read_outbox(outbox))

    def login(agent: str) -> None:
        sessions.start(
            account_id, acr=AssuranceLevel.LOW, amr=["pwd"], at=clock.now(), user_agent=agent
        )

    login("Phone A")  # the account's first device: remembered, not told
    login("Phone A")
    assert _kinds(outbox)[start:] == []
    login("Laptop B")
    assert _kinds(outbox)[start:] == ["new_device_login"]
    login("Laptop B")
    assert _kinds(outbox)[start:] == ["new_device_login"]


def test_rolled_back_events_are_never_told(
    ctx: AppContext, outbox: Path, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    account_id = _account(ctx, national_id, password, clock)
    before = len(read_outbox(outbox))
    with pytest.raises(RuntimeError), transaction(ctx.sessions) as session:
        ctx.ledger.append(
            "idp.factor.password_set", actor=account_id, subject=account_id, session=session
        )
        raise RuntimeError("the business write failed")
    assert len(read_outbox(outbox)) == before
    with transaction(ctx.sessions) as session:
        ctx.ledger.append(
            "idp.factor.password_set", actor=account_id, subject=account_id, session=session
        )
        assert len(read_outbox(outbox)) == before  # not before the commit
    assert _kinds(outbox)[before:] == ["password_changed"]


def test_a_failing_listener_never_fails_the_action(
    ctx: AppContext, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(entry: AuditEntry) -> None:
        raise ValueError("boom")

    ctx.ledger.add_listener("broken", broken)
    ctx.ledger.add_listener("recorder", lambda e: seen.append(e.event))
    ctx.ledger.add_listener("recorder", lambda e: seen.append("replaced:" + e.event))
    entry = ctx.ledger.append("test.event.happened", actor="a")
    assert entry.seq > 0
    assert seen == ["replaced:test.event.happened"]
    assert "audit listener failed" in caplog.text


def test_nothing_secret_reaches_logs(
    ctx: AppContext, outbox: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    account_id = _account(ctx, national_id, password, clock)
    ctx.idp_accounts().set_password(account_id, "copper kettle monsoon", actor=account_id)
    clock.advance(dt.timedelta(minutes=1))
    assert "password_changed" in _kinds(outbox)
    for secret in (national_id, "+85512345678", "sok.dara@example.com", "copper kettle monsoon"):
        assert secret not in caplog.text
