"""Client ids are command-line arguments of `natid idp client` and `natid kyc rp`: none may
start with "-" (which the CLI would read as an option)."""

from __future__ import annotations

import secrets

import pytest

from idp import clients


def test_client_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-5dashfirst", "-hdashagain", "Abc_def-123"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(drawn))
    assert clients._new_client_id() == "Abc_def-123"
