"""Settings: defaults that run out of the box, values refused at load rather than failing later,
production mode refusing unsafe ones, and warnings about NATID_* variables that name no setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import (
    DEV_SOFT_PASSPHRASE,
    NOT_SETTINGS,
    KeyBackendKind,
    Settings,
    SettingsError,
    load_settings,
    unknown_environment,
)
from tests._env import unset_natid_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    unset_natid_settings(monkeypatch)


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


# --- values that used to fail only later ----------------------------------------------------


def test_unknown_log_level_is_refused_at_load() -> None:
    # It used to pass here and kill every server worker in configure_logging.
    with pytest.raises(SettingsError) as refused:
        load_settings(log_level="verbose")
    assert str(refused.value) == (
        "invalid configuration: settings: Value error, NATID_LOG_LEVEL is 'verbose'; expected "
        "DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)"
    )


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "error", "CRITICAL", "warn"])
def test_log_levels_logging_knows_are_accepted_in_any_case(level: str) -> None:
    import logging

    from api.observability import configure_logging

    settings = load_settings(log_level=level)
    root = logging.getLogger()
    handlers, old_level = root.handlers[:], root.level
    try:
        configure_logging(settings.log_level)  # what each server worker does with it
    finally:
        root.handlers[:], root.level = handlers, old_level


def test_trusted_proxies_are_parsed_once_into_networks() -> None:
    s = load_settings(trusted_proxies=" 127.0.0.1, 10.0.0.0/8 ,::1,, 2001:db8::/32")
    assert [str(n) for n in s.trusted_proxy_networks] == [
        "127.0.0.1/32", "10.0.0.0/8", "::1/128", "2001:db8::/32",
    ]  # fmt: skip
    assert s.trusted_proxy_networks is s.trusted_proxy_networks  # parsed once, not per request
    assert [str(n) for n in load_settings().trusted_proxy_networks] == ["127.0.0.1/32", "::1/128"]
    assert load_settings(trusted_proxies="").trusted_proxy_networks == ()  # no proxy trusted


def test_trusted_proxy_given_by_name_is_refused_not_silently_disabling_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A name used to make certificate login refuse every forwarded certificate, even from the
    # valid addresses beside it.
    monkeypatch.setenv("NATID_TRUSTED_PROXIES", "127.0.0.1,proxy.internal")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == (
        "invalid configuration: settings: Value error, NATID_TRUSTED_PROXIES: 'proxy.internal' is"
        " not an IP address or network (names are not looked up: give the proxy's address, e.g."
        " 10.0.0.5, or network, e.g. 10.0.0.0/24)"
    )


@pytest.mark.parametrize(
    "value, message",
    [
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network"),
        ("::1/129", "'::1/129' is not an IP address or network"),
        ("10.0.0.7/24", "'10.0.0.7/24' has host bits set; write the network 10.0.0.0/24 or the"
         " address 10.0.0.7"),
        ("127.0.0.1,*", "'*' (every address) is refused: certificate login would believe a"
         " forwarded client certificate from anyone"),
    ],
    ids=["prefix-too-long-v4", "prefix-too-long-v6", "host-bits", "trust-everyone"],
)  # fmt: skip
def test_trusted_proxies_that_are_not_networks_are_refused(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match="NATID_TRUSTED_PROXIES: ") as refused:
        load_settings(trusted_proxies=value)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"redis_url": "http://:cache-secret@cache.example:6379"},
         "NATID_REDIS_URL must be a redis://, rediss:// or unix:// URL"),
        ({"sms_gateway_url": "sms.example/send?key=cache-secret"},
         "NATID_SMS_GATEWAY_URL must be an http:// or https:// URL with a host"),
        ({"xroad_base_url": "https:///no-host"},
         "NATID_XROAD_BASE_URL must be an http:// or https:// URL with a host"),
    ],
    ids=["redis-http", "sms-no-scheme", "xroad-no-host"],
)  # fmt: skip
def test_urls_of_the_wrong_form_are_refused_without_quoting_them(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(**overrides)
    assert str(refused.value) == f"invalid configuration: settings: Value error, {message}"
    assert "cache-secret" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["redis://:pw@cache.example:6379/0", "rediss://cache.example", "unix:///run/r.sock"]
)
def test_redis_urls_need_no_tls(url: str) -> None:
    # Redis inside a private network without TLS is the operator's call, in production too.
    production = {
        "production": True, "public_base_url": "https://id.example", "notifier": "gateway",
        "smtp_host": "mail.example", "soft_key_passphrase": "s3cret-x",
        "allow_soft_keys_in_production": True,
    }  # fmt: skip
    assert load_settings(**production, redis_url=url).redis_url == url


# --- production mode: no credentials over plain text -------------------------------------------

_PRODUCTION = {
    "production": True, "public_base_url": "https://id.example", "soft_key_passphrase": "s3cret-x",
    "allow_soft_keys_in_production": True, "notifier": "gateway",
}  # fmt: skip


def test_production_refuses_the_sms_gateway_token_over_plain_http() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            **_PRODUCTION, sms_gateway_url="http://sms.example/send", sms_gateway_token="tok-123"
        )
    assert str(refused.value) == (
        "invalid configuration: settings: Value error, production mode needs an https://"
        " NATID_SMS_GATEWAY_URL (the bearer token and the one-time codes in the messages would"
        " travel unencrypted)"
    )
    assert "tok-123" not in str(refused.value)
    assert load_settings(**_PRODUCTION, sms_gateway_url="HTTPS://sms.example/send").production
    # Development mode may talk to a local stand-in over http.
    assert not load_settings(notifier="gateway", sms_gateway_url="http://127.0.0.1:9/").production


def test_production_refuses_a_plain_http_xroad_security_server() -> None:
    with pytest.raises(SettingsError, match="https:// NATID_XROAD_BASE_URL"):
        load_settings(**_PRODUCTION, smtp_host="mail.example", xroad_base_url="http://ss.example")
    ok = load_settings(**_PRODUCTION, smtp_host="mail.example", xroad_base_url="https://ss.example")
    assert ok.xroad_base_url == "https://ss.example"


def test_production_refuses_an_smtp_password_without_starttls() -> None:
    mail = {"smtp_host": "mail.example", "smtp_user": "natid", "smtp_password": "mail-pw-1"}
    with pytest.raises(SettingsError) as refused:
        load_settings(**_PRODUCTION, **mail, smtp_starttls=False)
    assert str(refused.value) == (
        "invalid configuration: settings: Value error, production mode refuses"
        " NATID_SMTP_STARTTLS=false with NATID_SMTP_PASSWORD (the password would travel"
        " unencrypted)"
    )
    assert "mail-pw-1" not in str(refused.value)
    assert load_settings(**_PRODUCTION, **mail).smtp_starttls
    # A relay that needs no password (a local MTA) may be plain.
    assert load_settings(**_PRODUCTION, smtp_host="localhost", smtp_starttls=False).production


# --- NATID_* variables that name no setting ------------------------------------------------------


def test_misspelt_variable_is_named_with_the_setting_it_resembles() -> None:
    environ = {
        "NATID_TRUSTED_PROXY": "10.0.0.5",
        "NATID_LOGLEVEL": "debug",
        "NATID_REGISTER_ADAPTER": "xroad",
        "NATID_FROBNICATE": "1",
        "NATID_LOG_LEVEL": "INFO",
        "NATID_REGISTER": "embedded",
        "natid_data_dir": "var",  # pydantic-settings reads any case
        "PATH": "/usr/bin",
    }
    assert unknown_environment(environ) == [
        "warning: NATID_FROBNICATE is not a NatID setting and is ignored (README.md lists them)",
        "warning: NATID_LOGLEVEL is not a NatID setting and is ignored; did you mean"
        " NATID_LOG_LEVEL?",
        "warning: NATID_REGISTER_ADAPTER is not a NatID setting and is ignored; did you mean"
        " NATID_REGISTER?",
        "warning: NATID_TRUSTED_PROXY is not a NatID setting and is ignored; did you mean"
        " NATID_TRUSTED_PROXIES?",
    ]


def test_variables_of_the_tests_and_benchmarks_are_not_warned_about() -> None:
    # Set by .ci/run, the Makefile's test runs and bench/: no warning in a normal run.
    environ = dict.fromkeys(NOT_SETTINGS, "x")
    environ |= {f"NATID_{name.upper()}": "x" for name in Settings.model_fields}
    environ.pop("NATID_REGISTER_ADAPTER")  # the one setting named otherwise
    assert unknown_environment({**environ, "NATID_REGISTER": "embedded"}) == []


def test_unknown_variable_is_warned_about_once_per_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import core.settings

    core.settings._warn_once.cache_clear()
    monkeypatch.setenv("NATID_TRUSTED_PROXY", "10.0.0.5")
    with caplog.at_level("WARNING", logger="core.settings"):
        load_settings()
        load_settings()  # the CLI loads them more than once
    assert [r.getMessage() for r in caplog.records] == [
        "warning: NATID_TRUSTED_PROXY is not a NatID setting and is ignored; did you mean"
        " NATID_TRUSTED_PROXIES?"
    ]


def test_server_workers_do_not_repeat_the_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # `natid serve --workers N` warned before uvicorn spawned the workers, which load the
    # settings again (api/app.py, create_app_from_env).
    import multiprocessing

    import core.settings

    core.settings._warn_once.cache_clear()
    monkeypatch.setenv("NATID_TRUSTED_PROXY", "10.0.0.5")
    monkeypatch.setattr(multiprocessing, "parent_process", object)  # any parent at all
    with caplog.at_level("WARNING", logger="core.settings"):
        load_settings()
    assert caplog.records == []
