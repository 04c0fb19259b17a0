"""What the installed ``natid`` prints for settings that are wrong: one line and exit 2 before
any work, the way an operator meets it (api/cli/common.py, core/settings.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests._env import environ_without_natid


def _natid(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    natid = Path(sys.executable).with_name("natid")
    env = environ_without_natid() | environ
    return subprocess.run(
        [natid, "registry", "list", "persons", "--data-dir", str(tmp_path / "var")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_unknown_log_level_stops_every_command_with_one_line(tmp_path: Path) -> None:
    # `natid serve` used to start, then every worker died in configure_logging with a
    # traceback and uvicorn restarted them for ever.
    done = _natid(tmp_path, NATID_LOG_LEVEL="verbose")
    assert done.returncode == 2
    assert done.stderr == (
        "error: invalid configuration: settings: Value error, NATID_LOG_LEVEL is 'verbose'; "
        "expected DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)\n"
    )
    assert done.stdout == ""
    assert not (tmp_path / "var").exists()  # refused before anything was made


def test_misspelt_variable_is_named_once_before_the_error_it_explains(tmp_path: Path) -> None:
    done = _natid(
        tmp_path, NATID_TRUSTED_PROXY="10.0.0.5", NATID_TRUSTED_PROXIES="127.0.0.1,proxy.internal"
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "warning: NATID_TRUSTED_PROXY is not a NatID setting and is ignored; did you mean "
        "NATID_TRUSTED_PROXIES?",
        "error: invalid configuration: settings: Value error, NATID_TRUSTED_PROXIES: "
        "'proxy.internal' is not an IP address or network (names are not looked up: give the "
        "proxy's address, e.g. 10.0.0.5, or network, e.g. 10.0.0.0/24)",
    ]
