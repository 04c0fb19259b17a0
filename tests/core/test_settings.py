"""Settings: defaults that run out of the box, and production mode refusing unsafe ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DEV_SOFT_PASSPHRASE, KeyBackendKind, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NATID_"):
            monkeypatch.delenv(key)


def test_defaults_run_embedded_on_sqlite_in_data_dir(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.key_backend is KeyBackendKind.SOFT
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'natid.db').resolve()}"
    assert s.resolved_soft_key_dir == tmp_path / "keys"
    assert s.base_url == "http://localhost:8000"


def test_environment_with_natid_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATID_PUBLIC_BASE_URL", "https://id.example.gov.kh/")
    monkeypatch.setenv("NATID_DATABASE_URL", "postgresql+psycopg://u@db/natid")
    s = load_settings()
    assert s.base_url == "https://id.example.gov.kh"
    assert s.resolved_database_url == "postgresql+psycopg://u@db/natid"


def test_production_refuses_development_passphrase() -> None:
    with pytest.raises(SettingsError, match="development key-store passphrase"):
        load_settings(
            production=True,
            public_base_url="https://id.example",
            allow_soft_keys_in_production=True,
        )


def test_production_refuses_soft_keys_unless_told() -> None:
    with pytest.raises(SettingsError, match="refuses the soft key backend"):
        load_settings(
            production=True, public_base_url="https://id.example", soft_key_passphrase="s3cret-x"
        )
    ok = load_settings(
        production=True,
        public_base_url="https://id.example",
        soft_key_passphrase="s3cret-x",
        allow_soft_keys_in_production=True,
        notifier="gateway",
        sms_gateway_url="https://sms.example/send",
    )
    assert ok.production


def test_production_refuses_plain_http_base_url() -> None:
    with pytest.raises(SettingsError, match="https"):
        load_settings(
            production=True,
            public_base_url="http://id.example",
            key_backend="pkcs11",
            pkcs11_module="/usr/lib/softhsm/libsofthsm2.so",
            pkcs11_token_label="t",
            pkcs11_pin="1234",
            idp_secret_key="x" * 40,
        )


def test_production_on_pkcs11_needs_its_own_idp_secret() -> None:
    pkcs11 = {
        "key_backend": "pkcs11",
        "pkcs11_module": "/usr/lib/softhsm/libsofthsm2.so",
        "pkcs11_token_label": "t",
        "pkcs11_pin": "1234",
    }
    with pytest.raises(SettingsError, match="NATID_IDP_SECRET_KEY"):
        load_settings(production=True, public_base_url="https://id.example", **pkcs11)
    secret = "an idp sealing secret of enough length!"
    s = load_settings(
        production=True, public_base_url="https://id.example", idp_secret_key=secret,
        notifier="gateway", smtp_host="mail.example", **pkcs11,
    )  # fmt: skip
    assert secret not in repr(s)
    with pytest.raises(SettingsError, match="at least 32") as info:
        load_settings(idp_secret_key="short-secret-value")
    assert "short-secret-value" not in str(info.value)


def test_pkcs11_backend_names_missing_settings_without_values() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(key_backend="pkcs11", pkcs11_pin="9999-secret-pin")
    message = str(info.value)
    assert "NATID_PKCS11_MODULE" in message
    assert "NATID_PKCS11_TOKEN_LABEL" in message
    assert "9999-secret-pin" not in message


def test_secrets_never_print() -> None:
    s = load_settings()
    assert DEV_SOFT_PASSPHRASE not in repr(s)
    assert DEV_SOFT_PASSPHRASE not in str(s.model_dump())


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(SettingsError, match="no_such_setting"):
        load_settings(no_such_setting=1)


def test_production_refuses_the_development_outbox_notifier() -> None:
    # The outbox writes one-time activation and reset codes to files: development only.
    production = {
        "production": True, "public_base_url": "https://id.example",
        "soft_key_passphrase": "s3cret-x", "allow_soft_keys_in_production": True,
    }  # fmt: skip
    with pytest.raises(SettingsError, match="outbox notifier"):
        load_settings(**production)
    assert load_settings(**production, notifier="gateway", smtp_host="mail.example").production
