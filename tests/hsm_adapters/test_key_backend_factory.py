"""``make_key_backend``: the settings pick the backend; soft keys in production are loud."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import load_settings
from hsm_adapters import (
    KeyAccessDenied,
    KeyAlgorithm,
    KeyBackend,
    PKCS11KeyBackend,
    SoftKeyBackend,
    make_key_backend,
)
from tests._env import without_natid_settings
from tests.hsm_adapters.conftest import SoftHSMToken


@pytest.fixture(autouse=True)
def _no_natid_environment() -> Iterator[None]:
    with without_natid_settings(keep_test_databases=False):
        yield


def test_default_settings_give_a_soft_backend_under_the_data_dir(tmp_path: Path) -> None:
    backend = make_key_backend(load_settings(data_dir=tmp_path))
    try:
        assert isinstance(backend, SoftKeyBackend)
        assert isinstance(backend, KeyBackend)
        backend.generate("k", KeyAlgorithm.EC_P256)
        assert (tmp_path / "keys" / "k.key.json").is_file()
    finally:
        backend.close()


def test_soft_backend_in_production_logs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        production=True,
        allow_soft_keys_in_production=True,
        soft_key_passphrase="a long production passphrase",
        public_base_url="https://id.example.gov.kh",
        notifier="gateway",
        sms_gateway_url="https://sms.example.gov.kh/send",
    )
    with caplog.at_level(logging.WARNING, logger="hsm_adapters.factory"):
        make_key_backend(settings).close()
    assert any("soft key backend" in r.getMessage() for r in caplog.records)
    assert "a long production passphrase" not in caplog.text


def test_soft_backend_in_development_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hsm_adapters.factory"):
        make_key_backend(load_settings(data_dir=tmp_path)).close()
    assert not caplog.records


def test_wrong_passphrase_in_settings_fails_at_startup(tmp_path: Path) -> None:
    make_key_backend(load_settings(data_dir=tmp_path)).close()
    with pytest.raises(KeyAccessDenied):
        make_key_backend(load_settings(data_dir=tmp_path, soft_key_passphrase="other"))


@pytest.mark.softhsm
def test_pkcs11_settings_give_a_pkcs11_backend(softhsm: SoftHSMToken, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        key_backend="pkcs11",
        pkcs11_module=softhsm.module,
        pkcs11_token_label=softhsm.label,
        pkcs11_pin=softhsm.pin,
        pkcs11_pool_size=2,
    )
    backend = make_key_backend(settings)
    try:
        assert isinstance(backend, PKCS11KeyBackend)
        backend.health_check()
        assert not (tmp_path / "keys").exists()
    finally:
        backend.close()


def test_soft_path_never_loads_python_pkcs11(tmp_path: Path) -> None:
    # A deployment without any PKCS#11 library must be able to run the soft backend.
    script = textwrap.dedent(
        f"""
        import sys
        from core.settings import load_settings
        from hsm_adapters import make_key_backend
        make_key_backend(load_settings(data_dir={str(tmp_path)!r})).close()
        loaded = sorted(m for m in sys.modules if m == "pkcs11" or m.startswith("pkcs11."))
        print(",".join(loaded))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
