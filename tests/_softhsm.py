"""The SoftHSM2 token directory of a test session, shared by every test that needs PKCS#11.

The PKCS#11 library is loaded once per process and reads ``SOFTHSM2_CONF`` when it is first
initialised, so there must be ONE token directory per test session (per xdist worker). The
``softhsm`` fixture is therefore defined once, here, and registered in the root
``tests/conftest.py``; a test module must not import it into its own namespace (that would make
a second, module-level fixture with its own directory, and a process whose library was loaded
with one directory would not find keys made in the other).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)
TOKEN_LABEL = "natid-test"
SPARE_TOKEN_LABEL = "natid-test-spare"
USER_PIN = "1234"
SO_PIN = "5678"


@dataclass(frozen=True)
class SoftHSMToken:
    module: Path
    label: str
    pin: str
    spare_label: str
    conf: Path


def find_softhsm_module() -> Path | None:
    return next((m for m in SOFTHSM_MODULES if m.is_file()), None)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSMToken]:
    """A SoftHSM2 token directory for this test session, with two initialised tokens."""
    from tests.conftest import require

    util = shutil.which("softhsm2-util")
    require(util is not None, "SoftHSM2 (softhsm2-util; apt-get install softhsm2)")
    module = find_softhsm_module()
    require(module is not None, "SoftHSM2's PKCS#11 module libsofthsm2.so")
    assert util is not None
    assert module is not None
    root = tmp_path_factory.mktemp("softhsm")
    tokens = root / "tokens"
    tokens.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        # Set before the module is loaded: SoftHSM2 reads it in C_Initialize, once per process.
        mp.setenv("SOFTHSM2_CONF", str(conf))
        for label in (TOKEN_LABEL, SPARE_TOKEN_LABEL):
            init = ["--init-token", "--free", "--label", label]
            subprocess.run(
                [util, *init, "--pin", USER_PIN, "--so-pin", SO_PIN],
                check=True,
                capture_output=True,
            )
        yield SoftHSMToken(
            module=module, label=TOKEN_LABEL, pin=USER_PIN, spare_label=SPARE_TOKEN_LABEL, conf=conf
        )
