"""The transparency log over HTTP, checked the way an outside monitor would.

Every proof is verified client-side from the JSON alone, with :mod:`ca.merkle`'s verifiers and
the key served at ``/pki/log/key`` (never the server's objects), while the log grows.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.context import AppContext
from ca.merkle import (
    MerkleTree,
    SignedTreeHead,
    TreeHeadAlgorithm,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
    verify_tree_head,
)
from ca.store import serial_hex
from registry import Person
from tests.api._ra import PROBLEM, golden_keys, person, ra_client, ra_ctx
from tests.ca._issuance import add_person, ec_key, make_csr

__all__ = ["golden_keys", "person", "ra_client", "ra_ctx"]  # fixtures used by this module

SERVER = "/pki/log"


def b64(text: str) -> bytes:
    return base64.b64decode(text)


class Monitor:
    """What a monitor keeps: the pinned key and the last tree head it verified."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        r = client.get(f"{SERVER}/key")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-pem-file")
        key = serialization.load_pem_public_key(r.content)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        self.key = key
        self.head: SignedTreeHead | None = None

    def fetch_head(self) -> SignedTreeHead:
        r = self.client.get(f"{SERVER}/sth")
        assert r.status_code == 200, r.text
        body = r.json()
        spki = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert b64(body["key_id"]) == hashlib.sha256(spki).digest()
        timestamp = dt.datetime.fromisoformat(body["timestamp"])
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        assert (timestamp - epoch) // dt.timedelta(microseconds=1) == body["timestamp_micros"]
        head = SignedTreeHead(
            tree_size=body["tree_size"],
            timestamp=timestamp,
            root_hash=b64(body["root_hash"]),
            key_label="pinned",
            algorithm=TreeHeadAlgorithm(body["algorithm"]),
            signature=b64(body["signature"]),
        )
        verify_tree_head(head, self.key)
        return head

    def advance(self) -> SignedTreeHead:
        """Fetch the new head and prove it extends the one verified before."""
        new = self.fetch_head()
        old = self.head
        if old is not None:
            r = self.client.get(
                f"{SERVER}/proof/consistency",
                params={"first": old.tree_size, "second": new.tree_size},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["first"], body["second"]) == (old.tree_size, new.tree_size)
            verify_consistency(
                old_size=old.tree_size,
                new_size=new.tree_size,
                old_root=old.root_hash,
                new_root=new.root_hash,
                proof=[b64(h) for h in body["consistency"]],
            )
        self.head = new
        return new

    def check_included(self, cert: x509.Certificate, *, by: str = "serial", size: int) -> int:
        leaf = leaf_hash(cert.public_bytes(serialization.Encoding.DER))
        params: dict[str, Any] = {"tree_size": size}
        if by == "serial":
            params["serial"] = f"{cert.serial_number:x}"  # lower case, as a user may type it
        else:
            params["leaf_hash"] = base64.urlsafe_b64encode(leaf).decode().rstrip("=")
        r = self.client.get(f"{SERVER}/proof/inclusion", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tree_size"] == size
        assert b64(body["leaf_hash"]) == leaf
        assert self.head is not None
        root = self.head.root_hash if size == self.head.tree_size else None
        assert root is not None
        verify_inclusion(
            leaf=leaf,
            index=body["leaf_index"],
            tree_size=size,
            proof=[b64(h) for h in body["audit_path"]],
            root=root,
        )
        return int(body["leaf_index"])


def issue(ctx: AppContext, subject: Person) -> x509.Certificate:
    cert = ctx.ca().issue_from_csr(
        "citizen-auth", subject.id, make_csr(ec_key()), actor="test-officer"
    )
    return cert.certificate


def test_monitor_verifies_heads_and_proofs_as_the_log_grows(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    monitor = Monitor(ra_client)
    first = monitor.advance()
    # The hierarchy (root, issuing CAs, OCSP responders, TSA) is logged by `ensure_hierarchy`.
    assert first.tree_size >= 10
    root_ca = ra_ctx.ca().hierarchy().root
    assert monitor.check_included(root_ca, size=first.tree_size) == 0

    issued: list[tuple[x509.Certificate, int]] = []
    for round_ in range(3):
        new = [issue(ra_ctx, add_person(ra_ctx.register)) for _ in range(round_ + 2)]
        head = monitor.advance()
        assert head.tree_size == (issued[-1][1] if issued else first.tree_size) + len(new)
        for cert in new:
            issued.append((cert, head.tree_size))
            by = "leaf_hash" if round_ == 1 else "serial"
            monitor.check_included(cert, by=by, size=head.tree_size)
    # An old certificate is still proven in the newest tree.
    monitor.check_included(issued[0][0], size=monitor.fetch_head().tree_size)

    # A head that was not signed by the pinned key, or a root that was tampered with, fails.
    assert monitor.head is not None
    forged = SignedTreeHead(
        tree_size=monitor.head.tree_size,
        timestamp=monitor.head.timestamp,
        root_hash=hashlib.sha256(b"forged").digest(),
        key_label="pinned",
        algorithm=monitor.head.algorithm,
        signature=monitor.head.signature,
    )
    with pytest.raises(Exception, match="does not verify"):
        verify_tree_head(forged, monitor.key)


def test_sth_is_signed_once_per_tree_size(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    one = ra_client.get(f"{SERVER}/sth").json()
    assert ra_client.get(f"{SERVER}/sth").json() == one
    issue(ra_ctx, person)
    two = ra_client.get(f"{SERVER}/sth").json()
    assert two["tree_size"] == one["tree_size"] + 1
    assert two["root_hash"] != one["root_hash"]


def test_entries_rebuild_the_signed_root_and_redact_persons(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    cert = issue(ra_ctx, person)
    head = Monitor(ra_client).advance()
    leaves: list[bytes] = []
    redacted = []
    start = 0
    while start < head.tree_size:
        r = ra_client.get(f"{SERVER}/entries", params={"start": start, "end": head.tree_size - 1})
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
        assert entries, "a page inside the tree is never empty"
        for entry in entries:
            assert entry["leaf_index"] == start
            if entry["redacted"]:
                assert entry["certificate"] is None
                redacted.append(entry["serial"])
            else:
                der = b64(entry["certificate"])
                assert leaf_hash(der) == b64(entry["leaf_hash"])
                body = x509.load_der_x509_certificate(der)
                assert "IDCKH-" not in body.subject.rfc4514_string()
            leaves.append(b64(entry["leaf_hash"]))
            start += 1
    assert MerkleTree(leaves).root() == head.root_hash
    # The citizen's certificate (name, ID card number) is not published in bulk ...
    serial = serial_hex(cert.serial_number)
    assert redacted == [serial]
    # ... but its holder can still prove its inclusion by serial.
    r = ra_client.get(f"{SERVER}/proof/inclusion", params={"serial": serial})
    assert r.status_code == 200
    assert r.json()["leaf_index"] == head.tree_size - 1


def test_entries_page_is_bounded(ra_ctx: AppContext, ra_client: TestClient) -> None:
    size = ra_client.get(f"{SERVER}/sth").json()["tree_size"]
    r = ra_client.get(f"{SERVER}/entries", params={"start": 1, "end": 10**9})
    assert r.status_code == 200
    assert [e["leaf_index"] for e in r.json()["entries"]] == list(range(1, min(size, 101)))


#: (path, parameters, status, words the detail must contain); ROOT stands for the root's serial.
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("proof/inclusion", {"serial": "01", "leaf_hash": "AA=="}, 400, "exactly one"),
    ("proof/inclusion", {}, 400, "exactly one"),
    ("proof/inclusion", {"leaf_hash": "not base64!"}, 400, "base64"),
    ("proof/inclusion", {"leaf_hash": "AAAA"}, 400, "32 bytes"),
    ("proof/inclusion", {"serial": "zz-top"}, 400, "hex"),
    ("proof/inclusion", {"serial": "0A0B0C"}, 404, "no certificate"),
    ("proof/inclusion", {"leaf_hash": base64.b64encode(bytes(32)).decode()}, 404, "not in"),
    ("proof/inclusion", {"serial": "ROOT", "tree_size": 10_000}, 400, "beyond the log"),
    ("proof/inclusion", {"serial": "ROOT", "tree_size": 0}, 400, "not in the tree of size 0"),
    ("proof/consistency", {"first": 5, "second": 3}, 400, "must not be larger"),
    ("proof/consistency", {"first": 1, "second": 10_000}, 400, "beyond the log"),
    ("proof/consistency", {"first": 10_000}, 400, "must not be larger"),
    ("entries", {"start": 10_000, "end": 10_001}, 400, "beyond the log"),
    ("entries", {"start": 3, "end": 2}, 400, "must not be smaller"),
]


def test_bad_parameters_get_a_readable_problem(ra_ctx: AppContext, ra_client: TestClient) -> None:
    root_serial = serial_hex(ra_ctx.ca().hierarchy().root.serial_number)
    before = ra_client.get(f"{SERVER}/sth").json()
    for path, asked, status, detail in BAD_REQUESTS:
        params = {**asked, "serial": root_serial} if asked.get("serial") == "ROOT" else asked
        r = ra_client.get(f"{SERVER}/{path}", params=params)
        assert r.status_code == status, (path, params, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert detail in r.json()["detail"], (path, params, r.json())
    # Schema errors (a negative size) are 422, in the same problem format.
    r = ra_client.get(f"{SERVER}/proof/consistency", params={"first": -1})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    # Nothing changed: no head signed for a bad request, the log did not move.
    assert ra_client.get(f"{SERVER}/sth").json() == before


query_text = st.one_of(
    st.text(max_size=120),
    st.text("0123456789abcdefABCDEF:", max_size=60),
    st.text("ABCxyz019+/=-_", max_size=60),
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["proof/inclusion", "proof/consistency", "entries"]),
    params=st.dictionaries(
        st.sampled_from(["serial", "leaf_hash", "tree_size", "first", "second", "start", "end"]),
        st.one_of(query_text, st.integers(-(2**70), 2**70).map(str)),
        max_size=4,
    ),
)
@example(path="proof/inclusion", params={"leaf_hash": "=" * 44})
@example(path="proof/consistency", params={"first": str(2**64), "second": str(2**64)})
@example(path="entries", params={"start": "0", "end": str(2**63)})
def test_random_query_parameters_never_500(
    ra_client: TestClient, path: str, params: dict[str, str]
) -> None:
    r = ra_client.get(f"{SERVER}/{path}", params=params)
    assert r.status_code in {200, 400, 404, 422}, (path, params, r.status_code, r.text)
    if r.status_code != 200:
        assert r.headers["content-type"] == PROBLEM
