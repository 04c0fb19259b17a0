"""One ``natid serve`` per test module, set up with a citizen and three relying parties."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.oidc._provider import Provider, running_provider


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with running_provider(tmp_path_factory.mktemp("natid-oidc")) as running:
        yield running
