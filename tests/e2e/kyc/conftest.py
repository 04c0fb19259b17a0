"""One ``natid serve`` per test module (the OIDC suite's provider: a citizen with password and
TOTP), to which the KYC tests add a bank."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.oidc._provider import Provider, running_provider


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with running_provider(tmp_path_factory.mktemp("natid-kyc")) as running:
        yield running
