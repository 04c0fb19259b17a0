"""RecoveryService: SMS password reset, lost phone (idp/recovery.py), against a real context."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.context import AppContext, build_context
from core.clock import FixedClock
from core.notify import OutboxNotifier, read_outbox
from core.settings import load_settings
from idp.account_models import AuthenticatorKind, AuthenticatorRow, PasskeyRow, store_write
from idp.errors import LoginFailed, LoginThrottled, SessionNotFound, WeakPassword
from idp.recovery import MAX_ATTEMPTS, RESET_LIFETIME, RecoveryService, ResetFailed
from idp.sessions import LoginSessions
from idp.totp import derive_key
from registry.records import AssuranceLevel
from tests.idp._web import fast_passwords, make_person_with_login, new_national_id, totp_code

NEW_PASSWORD = "copper kettle monsoon"
SOURCE = "203.0.113.7"


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
    return ctx.settings.data_dir / "outbox"


@pytest.fixture
def service(ctx: AppContext, outbox: Path) -> RecoveryService:
    return RecoveryService(
        ctx.sessions,
        accounts=ctx.idp_accounts(),
        login_sessions=LoginSessions(ctx.sessions, ledger=ctx.ledger),
        register=ctx.register,
        ledger=ctx.ledger,
        notifier=OutboxNotifier(outbox),
        cache=ctx.cache,
        key=derive_key(b"test-recovery-key-material-32-bytes!", "password-reset"),
    )


def _codes(outbox: Path) -> list[str]:
    found = []
    for message in read_outbox(outbox):
        if message["kind"] == "password_reset_code":
            match = re.search(r"\b(\d{8})\b", message["text"])
            assert match is not None, "the SMS carries an 8-digit code"
            found.append(match.group(1))
    return found


def _events(ctx: AppContext, name: str) -> list[object]:
    return [e for e in ctx.ledger.tail(500) if e.event == name]


def test_sms_reset_replaces_the_password_ends_sessions_and_keeps_the_second_factor(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, old_password, secret = make_person_with_login(ctx)
    accounts = ctx.idp_accounts()
    account_id = accounts.authenticate_password(
        national_id, old_password, source=None, at=clock.now()
    ).account_id
    sessions = LoginSessions(ctx.sessions, ledger=ctx.ledger)
    started = sessions.start(
        account_id, acr=AssuranceLevel.SUBSTANTIAL, amr=["pwd", "otp"], at=clock.now()
    )

    service.start_sms_reset(national_id, source=SOURCE, at=clock.now(), locale="en")
    (message,) = read_outbox(outbox)
    assert message["to_phone"] == "+85512345678"
    assert message["locale"] == "en"
    assert "15 minutes" in message["text"]
    (code,) = _codes(outbox)

    clock.advance(dt.timedelta(minutes=3))
    assert (
        service.finish_sms_reset(national_id, code, NEW_PASSWORD, source=SOURCE, at=clock.now())
        == account_id
    )
    with pytest.raises(LoginFailed):
        accounts.authenticate_password(national_id, old_password, source=None, at=clock.now())
    after = accounts.authenticate_password(national_id, NEW_PASSWORD, source=None, at=clock.now())
    assert after.acr is AssuranceLevel.LOW
    with pytest.raises(SessionNotFound):
        sessions.get(started.token, at=clock.now())
    # The second factor stays, and is what brings the login back to substantial.
    assert accounts.totp.status(account_id).enrolled
    login = service.login_after_reset(account_id, at=clock.now())
    assert (login.acr, login.amr, login.second_factor_available) == (
        AssuranceLevel.LOW,
        ("pwd", "sms"),
        True,
    )
    assert secret is not None
    stepped = accounts.verify_second_factor(
        after, totp_code(secret, clock.now()), source=None, at=clock.now()
    )
    assert stepped.acr is AssuranceLevel.SUBSTANTIAL
    assert len(_events(ctx, "idp.recovery.password_reset")) == 1


def test_unknown_number_and_missing_phone_get_the_same_outcome_and_no_sms(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    assert service.start_sms_reset(new_national_id(), source=SOURCE, at=clock.now()) is None
    no_phone, _, _ = make_person_with_login(ctx, totp=False, phone=None)
    assert service.start_sms_reset(no_phone, source=SOURCE, at=clock.now()) is None
    assert service.start_sms_reset("not a number", source=SOURCE, at=clock.now()) is None
    assert read_outbox(outbox) == []
    with pytest.raises(ResetFailed) as unknown:
        service.finish_sms_reset(
            new_national_id(), "12345678", NEW_PASSWORD, source=SOURCE, at=clock.now()
        )
    with pytest.raises(ResetFailed) as no_code:
        service.finish_sms_reset(no_phone, "12345678", NEW_PASSWORD, source=SOURCE, at=clock.now())
    assert str(unknown.value) == str(no_code.value)


def test_code_reuse_is_refused(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    (code,) = _codes(outbox)
    service.finish_sms_reset(national_id, code, NEW_PASSWORD, source=SOURCE, at=clock.now())
    with pytest.raises(ResetFailed):
        service.finish_sms_reset(
            national_id, code, "another fine passphrase", source=SOURCE, at=clock.now()
        )


def test_code_expires_after_fifteen_minutes(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    (code,) = _codes(outbox)
    clock.advance(RESET_LIFETIME + dt.timedelta(seconds=1))
    with pytest.raises(ResetFailed):
        service.finish_sms_reset(national_id, code, NEW_PASSWORD, source=SOURCE, at=clock.now())
    ctx.idp_accounts().authenticate_password(national_id, password, source=None, at=clock.now())


def test_guessing_the_code_burns_it(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    (code,) = _codes(outbox)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(ResetFailed):
            service.finish_sms_reset(
                national_id, wrong, NEW_PASSWORD, source=f"198.51.100.{_}", at=clock.now()
            )
    with pytest.raises((ResetFailed, LoginThrottled)):
        service.finish_sms_reset(
            national_id, code, NEW_PASSWORD, source="192.0.2.1", at=clock.now()
        )


def test_a_new_code_replaces_the_old_one(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    first, second = _codes(outbox)
    with pytest.raises(ResetFailed):
        service.finish_sms_reset(national_id, first, NEW_PASSWORD, source=SOURCE, at=clock.now())
    service.finish_sms_reset(national_id, second, NEW_PASSWORD, source=SOURCE, at=clock.now())


def test_sms_flooding_one_number_is_throttled(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    for n in range(5):
        service.start_sms_reset(national_id, source=f"198.51.100.{n}", at=clock.now())
    with pytest.raises(LoginThrottled):
        service.start_sms_reset(national_id, source="192.0.2.9", at=clock.now())
    assert len(_codes(outbox)) == 5
    assert _events(ctx, "idp.recovery.sms_refused")


def test_weak_new_password_is_refused_and_the_code_stays_good(
    ctx: AppContext, service: RecoveryService, outbox: Path, clock: FixedClock
) -> None:
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    (code,) = _codes(outbox)
    with pytest.raises(WeakPassword):
        service.finish_sms_reset(national_id, code, "short", source=SOURCE, at=clock.now())
    service.finish_sms_reset(national_id, code, NEW_PASSWORD, source=SOURCE, at=clock.now())


def test_no_id_number_code_or_password_in_logs_or_ledger(
    ctx: AppContext,
    service: RecoveryService,
    outbox: Path,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    national_id, _, _ = make_person_with_login(ctx, totp=False)
    service.start_sms_reset(national_id, source=SOURCE, at=clock.now())
    (code,) = _codes(outbox)
    with pytest.raises(ResetFailed):
        service.finish_sms_reset(
            national_id, "00000000", NEW_PASSWORD, source=SOURCE, at=clock.now()
        )
    service.finish_sms_reset(national_id, code, NEW_PASSWORD, source=SOURCE, at=clock.now())
    ledger_text = " ".join(f"{e.actor} {e.subject} {e.data_json}" for e in ctx.ledger.tail(500))
    for secret in (national_id, code, NEW_PASSWORD):
        assert secret not in caplog.text
        assert secret not in ledger_text


def _add_passkey(ctx: AppContext, account_id: str, label: str, at: dt.datetime) -> str:
    authenticator_id = str(uuid.uuid4())
    with store_write(ctx.sessions) as session:
        session.add(
            AuthenticatorRow(
                id=authenticator_id,
                account_id=account_id,
                kind=AuthenticatorKind.PASSKEY.value,
                label=label,
                created_at=at,
                confirmed_at=at,
                webauthn_credential_id=uuid.uuid4().bytes,
                webauthn_public_key=b"cose",
                webauthn_sign_count=0,
                bound_in_person=False,
            )
        )
        session.flush()
        session.add(
            PasskeyRow(
                authenticator_id=authenticator_id,
                user_handle=b"h" * 16,
                aaguid=str(uuid.UUID(int=0)),
                backup_eligible=False,
                backed_up=False,
                transports="",
            )
        )
    return authenticator_id


def test_lost_device_removes_totp_and_chosen_passkeys_and_ends_other_sessions(
    ctx: AppContext, service: RecoveryService, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx)
    accounts = ctx.idp_accounts()
    account_id = accounts.authenticate_password(
        national_id, password, source=None, at=clock.now()
    ).account_id
    on_phone = _add_passkey(ctx, account_id, "lost phone", clock.now())
    on_laptop = _add_passkey(ctx, account_id, "laptop", clock.now())
    sessions = LoginSessions(ctx.sessions, ledger=ctx.ledger)
    here = sessions.start(
        account_id, acr=AssuranceLevel.SUBSTANTIAL, amr=["pwd", "otp"], at=clock.now()
    )
    thief = sessions.start(
        account_id, acr=AssuranceLevel.SUBSTANTIAL, amr=["pwd", "otp"], at=clock.now()
    )

    service.report_lost_device(
        account_id,
        at=clock.now(),
        passkey_ids=(on_phone, str(uuid.uuid4())),
        keep_session_id=here.session.id,
    )
    assert not accounts.totp.status(account_id).enrolled
    left = {
        a.id for a in accounts.authenticators(account_id) if a.kind is AuthenticatorKind.PASSKEY
    }
    assert left == {on_laptop}
    sessions.get(here.token, at=clock.now())
    with pytest.raises(SessionNotFound):
        sessions.get(thief.token, at=clock.now())
    assert len(_events(ctx, "idp.recovery.lost_device")) == 1


def test_someone_elses_passkey_is_not_removed(
    ctx: AppContext, service: RecoveryService, clock: FixedClock
) -> None:
    accounts = ctx.idp_accounts()
    mine_id, mine_pw, _ = make_person_with_login(ctx, totp=False)
    theirs_id, theirs_pw, _ = make_person_with_login(ctx, totp=False)
    mine = accounts.authenticate_password(mine_id, mine_pw, source=None, at=clock.now()).account_id
    theirs = accounts.authenticate_password(
        theirs_id, theirs_pw, source=None, at=clock.now()
    ).account_id
    other = _add_passkey(ctx, theirs, "theirs", clock.now())
    service.report_lost_device(mine, at=clock.now(), passkey_ids=(other,))
    assert [
        a.id for a in accounts.authenticators(theirs) if a.kind is AuthenticatorKind.PASSKEY
    ] == [other]


def test_recovery_codes_are_the_way_back_and_can_be_renewed(
    ctx: AppContext, clock: FixedClock
) -> None:
    national_id, password, _ = make_person_with_login(ctx)
    accounts = ctx.idp_accounts()
    first = accounts.authenticate_password(national_id, password, source=None, at=clock.now())
    old_codes = accounts.totp.regenerate_recovery_codes(first.account_id, at=clock.now(), actor="t")
    # Phone gone: a recovery code stands in for the app code and gives substantial.
    login = accounts.verify_second_factor(first, old_codes[0], source=None, at=clock.now())
    assert login.acr is AssuranceLevel.SUBSTANTIAL
    new_codes = accounts.totp.regenerate_recovery_codes(first.account_id, at=clock.now(), actor="t")
    again = accounts.authenticate_password(national_id, password, source=None, at=clock.now())
    with pytest.raises(LoginFailed):
        accounts.verify_second_factor(again, old_codes[1], source=None, at=clock.now())
    assert accounts.verify_second_factor(again, new_codes[0], source=None, at=clock.now()).acr is (
        AssuranceLevel.SUBSTANTIAL
    )
