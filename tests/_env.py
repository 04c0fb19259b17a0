"""A process environment without NatID's settings, for tests that build settings, run the CLI or
start ``natid`` in a subprocess.

``NATID_*`` variables in the developer's or CI's environment would otherwise reach
``load_settings`` (a data directory, a public URL, a key backend) and change what a test sees.
``NATID_TEST_*`` variables name the test databases (tests/conftest.py), not settings; the
helpers that keep them say so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["environ_without_natid", "unset_natid_settings", "without_natid_settings"]


def _is_setting(key: str, *, keep_test_databases: bool) -> bool:
    return key.startswith("NATID_") and not (keep_test_databases and key.startswith("NATID_TEST_"))


def unset_natid_settings(
    monkeypatch: pytest.MonkeyPatch, *, keep_test_databases: bool = False
) -> None:
    """Unset every ``NATID_*`` variable through ``monkeypatch`` (which restores them), but
    ``NATID_TEST_*`` with ``keep_test_databases``."""
    for key in list(os.environ):
        if _is_setting(key, keep_test_databases=keep_test_databases):
            monkeypatch.delenv(key)


@contextmanager
def without_natid_settings(*, keep_test_databases: bool = True) -> Iterator[None]:
    """:func:`unset_natid_settings` until the block ends (for fixtures wider than a test)."""
    with pytest.MonkeyPatch.context() as patch:
        unset_natid_settings(patch, keep_test_databases=keep_test_databases)
        yield


def environ_without_natid() -> dict[str, str]:
    """A copy of the environment without any ``NATID_*`` variable, for a subprocess."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NATID_")}
