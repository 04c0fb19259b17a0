"""Subject identifiers: pairwise per sector by default, never the ID number, stable across
restarts (salt derived from the key backend), public only when configured."""

from __future__ import annotations

import re

import pytest

from hsm_adapters import SoftKeyBackend
from idp.service import ProviderCore
from idp.subjects import SubjectIdentifiers, SubjectType, salt_from_key_backend
from tests.idp._flow import PERSON
from tests.idp.conftest import SALT

OTHER = "0b7a4f0e-8a31-4c55-9a1e-3d2c6f0e9b21"


def test_pairwise_differs_per_sector_and_person() -> None:
    subjects = SubjectIdentifiers(SALT)
    a = subjects.pairwise(PERSON, sector="portal.moh.gov.kh")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", a)
    assert a == subjects.pairwise(PERSON, sector="PORTAL.moh.gov.kh")  # hosts are case-blind
    assert a != subjects.pairwise(PERSON, sector="bank.example.com.kh")
    assert a != subjects.pairwise(OTHER, sector="portal.moh.gov.kh")
    assert PERSON not in a
    # Another deployment (salt) gives unrelated values.
    assert a != SubjectIdentifiers(bytes(32)).pairwise(PERSON, sector="portal.moh.gov.kh")


def test_public_sub_is_the_register_id() -> None:
    subjects = SubjectIdentifiers(SALT)
    assert subjects.for_client(PERSON, sector="x", subject_type=SubjectType.PUBLIC) == PERSON


def test_short_salt_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SubjectIdentifiers(b"short")


def test_salt_from_key_backend_is_stable(backend: SoftKeyBackend, tmp_path: object) -> None:
    first = salt_from_key_backend(backend)
    assert len(first) == 32 and salt_from_key_backend(backend) == first
    # A second process opening the same key store derives the same salt.
    reopened = SoftKeyBackend(backend._dir, "idp-test-passphrase", scrypt_n=2**14)
    try:
        assert salt_from_key_backend(reopened) == first
    finally:
        reopened.close()


def test_sites_in_one_sector_share_sub_others_do_not(core: ProviderCore) -> None:
    a = core.clients.add(name="a", redirect_uris=["https://a.mef.gov.kh/cb"],
                         auth_method="client_secret_basic", sector="mef.gov.kh").client  # fmt: skip
    b = core.clients.add(name="b", redirect_uris=["https://b.mef.gov.kh/cb"],
                         auth_method="client_secret_basic", sector="mef.gov.kh").client  # fmt: skip
    c = core.clients.add(name="c", redirect_uris=["https://bank.example/cb"],
                         auth_method="client_secret_basic").client  # fmt: skip
    d = core.clients.add(name="d", redirect_uris=["https://bank.example/cb"],
                         auth_method="client_secret_basic",
                         subject_type="public").client  # fmt: skip
    subs = [core.tokens.subject_for(x, PERSON) for x in (a, b, c, d)]
    assert subs[0] == subs[1] != subs[2]
    assert subs[3] == PERSON
