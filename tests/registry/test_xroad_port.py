"""Choosing the register from the settings (``NATID_REGISTER``) and the operator's
``natid registry check-external`` against the fake X-Road register (mutual TLS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli.registry_external import check_external
from api.context import build_context
from api.register_port import build_register_port, xroad_config
from core.clock import FixedClock
from core.settings import Settings, SettingsError, load_settings
from registry.records import AssuranceLevel
from registry.service import EmbeddedRegister
from registry.xroad import XRoadRegister
from tests.registry._fake_xroad import (  # noqa: F401 - pytest fixtures
    CLIENT,
    SERVICE,
    FakeRegisterServer,
    XRoadPki,
    fake_fixture,
    pki_fixture,
)
from tests.registry.conftest import person

runner = CliRunner()


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(data_dir=tmp_path / "var", **overrides)


def _xroad_settings(fake: FakeRegisterServer, pki: XRoadPki) -> dict[str, object]:
    return {
        "register_adapter": "xroad",
        "xroad_base_url": fake.url,
        "xroad_client": CLIENT,
        "xroad_service": SERVICE,
        "xroad_cert": pki.client_cert,
        "xroad_key": pki.client_key,
        "xroad_ca": pki.ca,
    }


def test_embedded_is_the_default(
    tmp_path: Path, register: EmbeddedRegister, clock: FixedClock
) -> None:
    settings = _settings(tmp_path)
    assert settings.register_adapter == "embedded"
    assert build_register_port(settings, embedded=register, clock=clock) is register


def test_xroad_setting_reads_the_external_register(
    tmp_path: Path,
    register: EmbeddedRegister,
    clock: FixedClock,
    fake: FakeRegisterServer,
    pki: XRoadPki,
) -> None:
    dara = register.add_person(person()).id
    register.record_proofing(
        dara, method="in_person", level="high", evidence="national_id_card", office="Office"
    )
    settings = _settings(tmp_path, **_xroad_settings(fake, pki))
    port = build_register_port(settings, embedded=register, clock=clock)
    assert isinstance(port, XRoadRegister)
    assert port.get_person(dara) == register.get_person(dara)
    assert port.proofing_level(dara) is AssuranceLevel.HIGH
    assert fake.requests[0]["client"] == CLIENT


def test_context_builds_the_configured_port(
    tmp_path: Path, db_url: str, fake: FakeRegisterServer, pki: XRoadPki
) -> None:
    embedded = build_context(load_settings(data_dir=tmp_path / "a", database_url=db_url))
    try:
        assert embedded.register_port() is embedded.register
    finally:
        embedded.close()
    settings = load_settings(
        data_dir=tmp_path / "b", database_url=db_url, **_xroad_settings(fake, pki)
    )
    external = build_context(settings)
    try:
        port = external.register_port()
        assert isinstance(port, XRoadRegister)
        assert port is external.register_port()  # built once
        assert "population" in port.check()
    finally:
        external.close()


def test_xroad_without_its_settings_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="NATID_XROAD_BASE_URL, NATID_XROAD_CLIENT"):
        xroad_config(_settings(tmp_path, register_adapter="xroad", xroad_service=SERVICE))


def test_unknown_register_kind_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="register"):
        _settings(tmp_path, register_adapter="ldap")


def test_production_requires_mutual_tls(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        production=True,
        allow_soft_keys_in_production=True,
        soft_key_passphrase="a-production-passphrase-of-some-length",
        public_base_url="https://id.example.gov.kh",
        register_adapter="xroad",
        xroad_base_url="https://ss.example.gov.kh",
        xroad_client=CLIENT,
        xroad_service=SERVICE,
        notifier="gateway",
        sms_gateway_url="https://sms.example.gov.kh/send",
    )
    with pytest.raises(SettingsError, match="mutual TLS"):
        xroad_config(settings)


def test_missing_certificate_file_is_a_settings_error(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        register_adapter="xroad",
        xroad_base_url="https://ss.example.gov.kh",
        xroad_client=CLIENT,
        xroad_service=SERVICE,
        xroad_cert=tmp_path / "absent.pem",
        xroad_key=tmp_path / "absent.key",
    )
    with pytest.raises(SettingsError, match="NATID_XROAD_CERT: no such file"):
        xroad_config(settings)


# --- natid registry check-external ---------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("check-external")(check_external)
    app.command("unused", hidden=True)(lambda: None)  # keeps Typer in multi-command mode
    return app


@pytest.fixture
def xroad_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeRegisterServer, pki: XRoadPki
) -> None:
    monkeypatch.setenv("NATID_DATA_DIR", str(tmp_path / "var"))
    for name, value in _xroad_settings(fake, pki).items():
        env = "NATID_REGISTER" if name == "register_adapter" else f"NATID_{name.upper()}"
        monkeypatch.setenv(env, str(value))


def test_check_external_reports_reachable_register(
    xroad_env: None, register: EmbeddedRegister
) -> None:
    dara = register.add_person(person()).id
    result = runner.invoke(_cli(), ["check-external", "--person-id", dara, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["register"] == "xroad"
    assert report["services"] == ["population"]
    assert report["person"] == {"id": dara, "found": True, "proofing_level": None}
    assert "123456789" not in result.output
    plain = runner.invoke(_cli(), ["check-external"])
    assert plain.exit_code == 0 and f"reachable: {SERVICE}" in plain.output


def test_check_external_fails_when_register_unreachable(
    xroad_env: None, monkeypatch: pytest.MonkeyPatch, fake: FakeRegisterServer
) -> None:
    fake.fail_next = 10
    monkeypatch.setenv("NATID_XROAD_RETRIES", "0")
    result = runner.invoke(_cli(), ["check-external"])
    assert result.exit_code == 1
    assert "the external register is not usable" in result.output
    assert "HTTP 503" in result.output


def test_check_external_without_settings_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NATID_DATA_DIR", str(tmp_path / "var"))
    result = runner.invoke(_cli(), ["check-external"])
    assert result.exit_code == 2
    assert "NATID_XROAD_BASE_URL" in result.output
