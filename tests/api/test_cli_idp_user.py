"""``natid idp user ...`` as an operator uses it: set a password from stdin (the account is
created), enrol TOTP with a QR PNG and a first code, show the account; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from api.cli.idp_user import account_service
from api.cli.idp_user import app as idp_user
from api.context import AppContext, build_context
from core.settings import load_settings
from idp.errors import LoginFailed
from tests._env import unset_natid_settings

runner = CliRunner()
NATIONAL_ID = "000246810"
PASSWORD = "sunrise over tonle sap"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def data_dir(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    unset_natid_settings(monkeypatch)
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)
    return tmp_path / "var"


@pytest.fixture
def ctx(data_dir: Path) -> Iterator[AppContext]:
    context = build_context(load_settings(data_dir=data_dir))
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def person_id(ctx: AppContext) -> str:
    person = ctx.register.add_person(
        {
            "national_id": NATIONAL_ID,
            "name_km": "កែវ សុភាព",
            "name_latin": "Keo Sopheap",
            "birthdate": "1988-09-30",
        }
    )
    return person.id


def user(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(idp_user, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_set_password_creates_an_account_that_can_log_in(
    data_dir: Path, ctx: AppContext, person_id: str
) -> None:
    code, out, err = user(
        data_dir, "set-password", "--subject", person_id, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, err
    assert out.startswith("created account ") and "(active): password set" in out
    service = account_service(ctx)
    now = dt.datetime.now(dt.UTC)
    result = service.authenticate_password(NATIONAL_ID, PASSWORD, source=None, at=now)
    assert result.person_id == person_id
    # Run again: same account, new password; the old one stops working.
    code, out, _ = user(
        data_dir,
        "set-password",
        "--subject",
        person_id,
        "--password-stdin",
        stdin="monsoon clouds at dusk",
    )
    assert code == 0 and out.startswith("account ")
    with pytest.raises(LoginFailed):
        service.authenticate_password(NATIONAL_ID, PASSWORD, source=None, at=now)


def test_password_only_from_stdin(data_dir: Path, person_id: str) -> None:
    code, _, err = user(data_dir, "set-password", "--subject", person_id)
    assert code == 2
    assert "--password-stdin" in err


def test_weak_password_refused_without_echoing_it(data_dir: Path, person_id: str) -> None:
    code, out, err = user(
        data_dir, "set-password", "--subject", person_id, "--password-stdin", stdin="Keo 30091988"
    )
    assert code == 1
    assert "date of birth" in err and "[weak_password]" in err
    assert "30091988" not in out + err
    code, _, err = user(data_dir, "show", "--subject", person_id)
    assert code == 1 and "no account" in err


def test_unknown_subject_is_a_clear_error(data_dir: Path, ctx: AppContext) -> None:
    code, _, err = user(
        data_dir,
        "set-password",
        "--subject",
        "3b7c2f4e-9a1d-4c55-8e0f-0123456789ab",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert code == 1
    assert "no civil servant with id" in err or "no person with id" in err


@pytest.mark.slow
def test_enroll_totp_with_qr_png_and_first_code(
    data_dir: Path, person_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        user(data_dir, "set-password", "--subject", person_id, "--password-stdin", stdin=PASSWORD)[
            0
        ]
        == 0
    )
    monkeypatch.setattr("idp.totp.pyotp.random_base32", lambda length=32: SECRET)
    png = tmp_path / "totp.png"
    first = pyotp.TOTP(SECRET).now()
    code, out, err = user(
        data_dir, "enroll-totp", "--subject", person_id, "--png", str(png), stdin=first + "\n"
    )
    assert code == 0, err
    uri = out.splitlines()[0]
    assert uri.startswith("otpauth://totp/NatID:Keo%20Sopheap?secret=" + SECRET)
    assert "code shown by the app" in out
    recovery = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(recovery) == 10 and all(len(r) == 19 for r in recovery)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.read_bytes())))
    assert [d.text for d in decoded] == [uri]
    code, out, _ = user(data_dir, "show", "--subject", person_id, "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["totp"] is True and shown["recovery_codes_left"] == 10
    assert [a["kind"] for a in shown["authenticators"]] == ["password", "totp"]
    assert NATIONAL_ID not in out and SECRET not in out


def test_enroll_totp_wrong_code_is_refused(
    data_dir: Path, person_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        user(data_dir, "set-password", "--subject", person_id, "--password-stdin", stdin=PASSWORD)[
            0
        ]
        == 0
    )
    monkeypatch.setattr("idp.totp.pyotp.random_base32", lambda length=32: SECRET)
    assert user(data_dir, "enroll-totp", "--subject", person_id, "--no-prompt")[0] == 0
    wrong = f"{(int(pyotp.TOTP(SECRET).now()) + 500_000) % 1_000_000:06d}"
    code, _, err = user(data_dir, "enroll-totp", "--subject", person_id, "--code", wrong)
    assert code == 1 and "[totp_mismatch]" in err
    code, out, _ = user(data_dir, "show", "--subject", person_id)
    assert "recovery codes left: 0" in out
    assert "authenticator: totp (waiting for confirmation" in out


def test_enroll_totp_in_two_steps_as_a_script_would(data_dir: Path, person_id: str) -> None:
    """--no-prompt prints the URI and asks nothing; --code confirms that enrolment (not a new
    one); a second --code finds nothing waiting."""
    assert (
        user(data_dir, "set-password", "--subject", person_id, "--password-stdin", stdin=PASSWORD)[
            0
        ]
        == 0
    )
    code, _, err = user(data_dir, "enroll-totp", "--subject", person_id, "--code", "123456")
    assert code == 1 and "no TOTP enrolment is waiting" in err and "--no-prompt" in err

    code, out, err = user(data_dir, "enroll-totp", "--subject", person_id, "--no-prompt")
    assert code == 0, err
    uri = out.strip()
    assert uri.startswith("otpauth://totp/NatID:Keo%20Sopheap?secret=") and "\n" not in uri
    assert "code shown by the app" not in out and "--code CODE` within 30 minutes" in err
    first = pyotp.parse_uri(uri).now()

    code, out, err = user(data_dir, "enroll-totp", "--subject", person_id, "--code", first)
    assert code == 0, err
    assert "otpauth://" not in out  # the waiting enrolment was confirmed, none started
    recovery = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(recovery) == 10
    shown = json.loads(user(data_dir, "show", "--subject", person_id, "--json")[1])
    assert shown["totp"] is True and shown["recovery_codes_left"] == 10

    code, _, err = user(data_dir, "enroll-totp", "--subject", person_id, "--code", first)
    assert code == 1 and "no TOTP enrolment is waiting" in err

    code, _, err = user(
        data_dir, "enroll-totp", "--subject", person_id, "--no-prompt", "--code", first
    )
    assert code == 2 and "give one of them" in err


def test_enroll_totp_needs_an_account(data_dir: Path, person_id: str) -> None:
    code, _, err = user(data_dir, "enroll-totp", "--subject", person_id, "--code", "123456")
    assert code == 1 and "set-password" in err
