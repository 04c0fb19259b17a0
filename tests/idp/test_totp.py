# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""TOTP enrolment and verification (RFC 6238), sealed secrets, replay, recovery codes."""

from __future__ import annotations

import datetime as dt
import io
import threading
from urllib.parse import parse_qs, urlparse

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.clock import FixedClock
from idp.account_models import AuthenticatorRow, RecoveryCodeRow
from idp.accounts import Account
from idp.errors import AccountStoreUnavailable, AuthenticatorError
from idp.totp import (
    ENROLMENT_LIFETIME,
    SecretBox,
    TotpAuthenticators,
    TotpEnrolment,
    qr_png,
    qr_svg,
)
from tests.idp._accounts import (  # noqa: F401 - fixtures
    SECRET,
    account,
    accounts,
    cache,
    code_at,
    events,
    ledger,
    passwords,
    person,
    register,
    throttle,
    totp,
)


def enrol(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> tuple[TotpEnrolment, tuple[str, ...]]:
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    codes = totp.confirm(
        account.id,
        started.authenticator_id,
        code_at(started.secret, clock.now()),
        at=clock.now(),
        actor="test",
    )
    return started, codes


def test_otpauth_uri_is_what_authenticator_apps_read(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    uri = urlparse(started.uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/NatID:Sok%20Dara"
    query = parse_qs(uri.query)
    assert query["secret"] == [started.secret]
    assert query["issuer"] == ["NatID"]
    assert len(started.secret) == 32  # 160 bits in base32 (RFC 4226 §4 R6)
    assert "000123456" not in started.uri


def test_qr_code_decodes_back_to_the_uri(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    png = qr_png(started.uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert qr_svg(started.uri).startswith("<svg")
    # zxing-cpp (a dev dependency) reads it the way a phone camera would.
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [d.text for d in decoded] == [started.uri]


def test_secret_is_sealed_at_rest(
    totp: TotpAuthenticators,
    account: Account,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    started, _ = enrol(totp, account, clock)
    with session_factory() as session:
        stored = session.scalar(
            select(AuthenticatorRow.totp_secret_sealed).where(
                AuthenticatorRow.id == started.authenticator_id
            )
        )
        dump = " ".join(
            str(v) for row in session.execute(text("SELECT * FROM idp_authenticators")) for v in row
        )
    assert stored is not None and stored.startswith("v1.k1.")
    assert started.secret not in dump
    assert started.secret.lower() not in dump.lower()


def test_sealed_secret_moved_to_another_row_does_not_open() -> None:
    box = SecretBox.derive(SECRET)
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", context="natid-idp-totp|a|1")
    assert box.open(sealed, context="natid-idp-totp|a|1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(AccountStoreUnavailable):
        box.open(sealed, context="natid-idp-totp|b|1")
    with pytest.raises(AccountStoreUnavailable):
        SecretBox.derive(b"another key entirely").open(sealed, context="natid-idp-totp|a|1")


def test_wrong_first_code_does_not_enrol(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    wrong = code_at(started.secret, clock.now(), offset=5)
    with pytest.raises(AuthenticatorError) as caught:
        totp.confirm(account.id, started.authenticator_id, wrong, at=clock.now(), actor="test")
    assert caught.value.code == "totp_mismatch"
    assert totp.status(account.id).enrolled is False


def test_stale_enrolment_cannot_be_confirmed(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    clock.advance(dt.timedelta(hours=1))
    with pytest.raises(AuthenticatorError) as caught:
        totp.confirm(
            account.id,
            started.authenticator_id,
            code_at(started.secret, clock.now()),
            at=clock.now(),
            actor="test",
        )
    assert caught.value.code == "no_pending_enrolment"


def test_waiting_names_the_newest_unconfirmed_enrolment_until_it_expires(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    assert totp.waiting(account.id, at=clock.now()) is None
    totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    clock.advance(dt.timedelta(minutes=1))
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    clock.advance(ENROLMENT_LIFETIME - dt.timedelta(seconds=1))
    assert totp.waiting(account.id, at=clock.now()) == started.authenticator_id
    clock.advance(dt.timedelta(seconds=2))
    assert totp.waiting(account.id, at=clock.now()) is None
    # A confirmed authenticator is not waiting.
    again = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    code = code_at(again.secret, clock.now())
    totp.confirm(account.id, again.authenticator_id, code, at=clock.now(), actor="test")
    assert totp.waiting(account.id, at=clock.now()) is None


def test_code_accepted_within_one_step_either_side(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started, _ = enrol(totp, account, clock)
    clock.advance(dt.timedelta(minutes=5))
    totp.verify(account.id, code_at(started.secret, clock.now(), -1), at=clock.now())
    clock.advance(dt.timedelta(minutes=5))
    totp.verify(account.id, code_at(started.secret, clock.now(), +1), at=clock.now())
    clock.advance(dt.timedelta(minutes=5))
    with pytest.raises(AuthenticatorError):
        totp.verify(account.id, code_at(started.secret, clock.now(), -2), at=clock.now())


def test_code_replay_refused(totp: TotpAuthenticators, account: Account, clock: FixedClock) -> None:
    started, _ = enrol(totp, account, clock)
    clock.advance(dt.timedelta(minutes=1))
    code = code_at(started.secret, clock.now())
    totp.verify(account.id, code, at=clock.now())
    with pytest.raises(AuthenticatorError) as caught:
        totp.verify(account.id, code, at=clock.now())
    assert caught.value.code == "totp_replayed"
    # An older code (previous step, still inside the window) is refused too.
    with pytest.raises(AuthenticatorError):
        totp.verify(account.id, code_at(started.secret, clock.now(), -1), at=clock.now())


def test_enrolment_code_cannot_be_replayed_at_login(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    code = code_at(started.secret, clock.now())
    totp.confirm(account.id, started.authenticator_id, code, at=clock.now(), actor="test")
    with pytest.raises(AuthenticatorError):
        totp.verify(account.id, code, at=clock.now())


def test_concurrent_use_of_one_code_has_one_winner(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    started, _ = enrol(totp, account, clock)
    clock.advance(dt.timedelta(minutes=2))
    code = code_at(started.secret, clock.now())
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            totp.verify(account.id, code, at=clock.now())
            outcomes.append("ok")
        except AuthenticatorError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "totp_replayed", "totp_replayed", "totp_replayed"]


def test_recovery_codes_ten_single_use_hashed(
    totp: TotpAuthenticators,
    account: Account,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    _, codes = enrol(totp, account, clock)
    assert len(codes) == 10 == len(set(codes))
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
    with session_factory() as session:
        stored = list(session.scalars(select(RecoveryCodeRow.code_sha256)))
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)
    # Typed in upper case, without hyphens, with O for 0: still accepted once.
    typed = codes[0].replace("-", "").upper().replace("0", "O")
    assert totp.use_recovery_code(account.id, typed, at=clock.now()) == 9
    with pytest.raises(AuthenticatorError):
        totp.use_recovery_code(account.id, codes[0], at=clock.now())
    assert totp.status(account.id).recovery_codes_left == 9


def test_regenerated_recovery_codes_replace_the_old_ones(
    totp: TotpAuthenticators, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    _, old = enrol(totp, account, clock)
    new = totp.regenerate_recovery_codes(account.id, at=clock.now(), actor=account.id)
    with pytest.raises(AuthenticatorError):
        totp.use_recovery_code(account.id, old[1], at=clock.now())
    totp.use_recovery_code(account.id, new[1], at=clock.now())
    assert events(ledger, "idp.factor.recovery_codes_generated")


def test_new_enrolment_replaces_the_old_app(
    totp: TotpAuthenticators, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    first, _ = enrol(totp, account, clock)
    clock.advance(dt.timedelta(minutes=3))
    second, _ = enrol(totp, account, clock)
    clock.advance(dt.timedelta(minutes=3))
    with pytest.raises(AuthenticatorError):
        totp.verify(account.id, code_at(first.secret, clock.now()), at=clock.now())
    totp.verify(account.id, code_at(second.secret, clock.now()), at=clock.now())
    enrolled = events(ledger, "idp.factor.totp_enrolled")
    assert len(enrolled) == 2
    assert all(e.subject == account.id for e in enrolled)
    assert first.secret not in str([e.data for e in enrolled])


def test_remove_totp(totp: TotpAuthenticators, account: Account, clock: FixedClock) -> None:
    enrol(totp, account, clock)
    assert totp.remove(account.id, actor="test") is True
    assert totp.status(account.id).enrolled is False
    assert totp.status(account.id).recovery_codes_left == 0
    assert totp.remove(account.id, actor="test") is False


def test_check_secret_names_the_active_app_only(
    totp: TotpAuthenticators, account: Account, clock: FixedClock
) -> None:
    with pytest.raises(AuthenticatorError) as caught:
        totp.check_secret(account.id, "JBSWY3DPEHPK3PXP")
    assert caught.value.code == "no_totp"
    first, _ = enrol(totp, account, clock)
    assert totp.check_secret(account.id, first.secret) == first.authenticator_id
    assert totp.check_secret(account.id, first.secret.lower()) == first.authenticator_id
    clock.advance(dt.timedelta(minutes=3))
    # An enrolment that is started but not confirmed does not replace the active app yet.
    waiting = totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="test")
    assert totp.check_secret(account.id, first.secret) == first.authenticator_id
    with pytest.raises(AuthenticatorError) as caught:
        totp.check_secret(account.id, waiting.secret)
    assert caught.value.code == "totp_mismatch"
    clock.advance(dt.timedelta(minutes=3))
    second, _ = enrol(totp, account, clock)
    with pytest.raises(AuthenticatorError) as caught:
        totp.check_secret(account.id, first.secret)
    assert caught.value.code == "totp_mismatch"
    assert totp.check_secret(account.id, second.secret) == second.authenticator_id
    totp.remove(account.id, actor="test")
    with pytest.raises(AuthenticatorError) as caught:
        totp.check_secret(account.id, second.secret)
    assert caught.value.code == "no_totp"
