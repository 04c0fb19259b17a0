"""Key ceremonies (ca/ceremony*.py): the file, the quorum, all-or-nothing generation, the
transcript and its verification, and the hierarchy a ceremony leaves behind.

The main file is ``examples/ceremony.yaml`` itself (the production-shaped hierarchy of the
documentation), so the example cannot rot. Its officers' hashes are of the rehearsal
passphrases ``rehearsal passphrase of <id>``. Runs use the soft key backend (a fresh key store
per test, cheap scrypt) unless a test needs an injected failure (the memory backend).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session, sessionmaker

from ca.ceremony import CeremonyRunner, OfficerOutcome, collect_quorum
from ca.ceremony_file import (
    CeremonyConflict,
    CeremonyFile,
    InvalidCeremonyFile,
    Officer,
    QuorumNotMet,
    hash_passphrase,
    parse_ceremony_file,
)
from ca.ceremony_transcript import TranscriptInvalid, compare_with_stored, verify_transcript
from ca.service import CAService
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from hsm_adapters.base import KeyAlgorithm, KeyBackend
from registry import EmbeddedRegister
from tests._softhsm import SoftHSMToken
from tests.ca._issuance import LOG_KEY, add_person
from tests.ca._lint import errors, lint_pkix
from tests.ca.conftest import BASE_URL, MemoryKeyBackend
from tests.conftest import require_command

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ceremony.yaml"
OFFICERS = ("sokha", "dara", "vanna")


def passphrase(officer: str) -> str:
    return f"rehearsal passphrase of {officer}"


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_bytes())
    return loaded


def dump(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()


def answers(
    table: dict[str, list[str | None]],
) -> tuple[Callable[[Officer, int], str | None], list[str]]:
    """An ``ask`` that answers from ``table`` (officer -> answers per attempt), and its log."""
    asked: list[str] = []

    def ask(officer: Officer, attempt: int) -> str | None:
        asked.append(f"{officer.id}#{attempt}")
        replies = table.get(officer.id, [None])
        return replies[min(attempt, len(replies)) - 1]

    return ask, asked


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyBackend]:
    backend = SoftKeyBackend(tmp_path / "keys", "ceremony test", scrypt_n=2**14)
    yield backend
    backend.close()


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(session_factory, clock=clock)


def make_ca(
    session_factory: sessionmaker[Session], keys: KeyBackend, ledger: AuditLedger, clock: FixedClock
) -> CAService:
    return CAService(
        session_factory,
        keys=keys,
        register=EmbeddedRegister(session_factory, clock=clock, ledger=ledger),
        ledger=ledger,
        log=TransparencyLog(session_factory, clock=clock, signing_key=LOG_KEY, key_label="ct-log"),
        clock=clock,
        urls=PkiUrls(BASE_URL),
    )


def make_runner(
    ca: CAService, keys: KeyBackend, ledger: AuditLedger, clock: FixedClock
) -> CeremonyRunner:
    return CeremonyRunner(
        keys=keys,
        ca=ca,
        ledger=ledger,
        clock=clock,
        urls=PkiUrls(BASE_URL),
        allow_soft_production=True,
        software_version="test",
    )


def events(ledger: AuditLedger, name: str) -> list[Any]:
    return [e for e in ledger.tail(50) if e.event == name]


# --- the file -----------------------------------------------------------------------------------


def test_example_file_describes_the_development_shaped_hierarchy() -> None:
    ceremony = parse_ceremony_file(EXAMPLE.read_bytes())
    assert (ceremony.required, len(ceremony.officers), ceremony.production) == (2, 3, True)
    assert [c.name for c in ceremony.certificates][:5] == [
        "root", "citizen", "entity", "government", "health"
    ]  # fmt: skip
    assert {c.profile.value for c in ceremony.certificates} == {
        "root-ca", "issuing-ca", "ocsp-responder", "tsa"
    }  # fmt: skip
    assert ceremony.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda d: d["certificates"][3]["subject"].update(email="x@y.kh"),
            "certificates[3].subject.email",
        ),
        (lambda d: d["officers"][1].update(pin="1234"), "officers[1].pin"),
        (lambda d: d.update(hsm="luna"), "hsm: unknown key"),
        (lambda d: d["keys"][0].update(algorithm="ec-p521"), "keys[0].algorithm"),
        (
            lambda d: d["certificates"][0].update(validity_days=9000),
            "certificates[0].validity_days",
        ),
        (lambda d: d["certificates"][9].update(issuer="health"), "certificates[9].issuer"),
        (lambda d: d["certificates"][1].update(issuer="nowhere"), "certificates[1].issuer"),
        (lambda d: d["quorum"].update(required=4), "quorum.required"),
        (
            lambda d: d["keys"].append({"label": "spare", "algorithm": "ec-p256"}),
            "not certified: spare",
        ),
        (
            lambda d: d["certificates"][0]["subject"].update(country=False),
            "certificates[0].subject.country",
        ),
    ],
)
def test_invalid_file_is_refused_with_the_path_of_the_key(
    mutate: Callable[[dict[str, Any]], None], path: str
) -> None:
    document = example()
    mutate(document)
    with pytest.raises(InvalidCeremonyFile) as caught:
        parse_ceremony_file(dump(document))
    assert path in caught.value.message


def test_plaintext_passphrase_in_the_file_is_refused_and_not_echoed() -> None:
    document = example()
    document["officers"][0]["passphrase_hash"] = "correct horse battery staple"
    with pytest.raises(InvalidCeremonyFile) as caught:
        parse_ceremony_file(dump(document))
    assert "officers[0].passphrase_hash" in caught.value.message
    assert "horse" not in caught.value.message


def test_cheap_argon2_hash_is_refused() -> None:
    import argon2

    document = example()
    document["officers"][0]["passphrase_hash"] = argon2.PasswordHasher(
        time_cost=1, memory_cost=1024
    ).hash("x" * 12)
    with pytest.raises(InvalidCeremonyFile, match="too cheap"):
        parse_ceremony_file(dump(document))


def test_key_given_twice_in_yaml_is_refused() -> None:
    text = EXAMPLE.read_text().replace("  required: 2 ", "  required: 2\n  required: 3 ", 1)
    with pytest.raises(InvalidCeremonyFile, match="'required' is given twice"):
        parse_ceremony_file(text.encode())


def test_production_ceremony_needs_two_officers() -> None:
    document = example()
    document["quorum"]["required"] = 1
    with pytest.raises(InvalidCeremonyFile, match=r"quorum\.required: a production ceremony"):
        parse_ceremony_file(dump(document))
    document["ceremony"]["production"] = False
    assert parse_ceremony_file(dump(document)).required == 1


def test_hash_passphrase_makes_a_hash_the_file_accepts() -> None:
    document = example()
    document["officers"][0]["passphrase_hash"] = hash_passphrase("a new passphrase 2026")
    ceremony = parse_ceremony_file(dump(document))
    ask, _ = answers({"sokha": ["a new passphrase 2026"], "dara": [passphrase("dara")]})
    assert collect_quorum(ceremony, ask).confirmed == ("sokha", "dara")
    with pytest.raises(InvalidCeremonyFile, match="at least 12"):
        hash_passphrase("short")


# --- the quorum ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ceremony() -> CeremonyFile:
    return parse_ceremony_file(EXAMPLE.read_bytes())


def test_quorum_stops_asking_once_met(ceremony: CeremonyFile) -> None:
    ask, asked = answers({o: [passphrase(o)] for o in OFFICERS})
    quorum = collect_quorum(ceremony, ask)
    assert quorum.met and quorum.confirmed == ("sokha", "dara")
    assert asked == ["sokha#1", "dara#1"]  # vanna was not needed


def test_wrong_passphrase_may_be_retried_then_the_officer_is_not_counted(
    ceremony: CeremonyFile,
) -> None:
    outcomes: list[tuple[str, OfficerOutcome]] = []
    ask, asked = answers(
        {"sokha": ["typo", passphrase("sokha")],
         "dara": ["no", "nope", "never", passphrase("dara")], "vanna": [None]}
    )  # fmt: skip
    quorum = collect_quorum(ceremony, ask, on_outcome=lambda o, r: outcomes.append((o.id, r)))
    assert not quorum.met
    assert outcomes == [
        ("sokha", OfficerOutcome.CONFIRMED),
        ("dara", OfficerOutcome.NOT_COUNTED),
        ("vanna", OfficerOutcome.DECLINED),
    ]
    assert asked.count("dara#4") == 0  # three attempts at most


def test_one_officer_cannot_confirm_with_anothers_passphrase(ceremony: CeremonyFile) -> None:
    ask, _ = answers({o: [passphrase("sokha")] for o in OFFICERS})
    assert collect_quorum(ceremony, ask, max_attempts=1).confirmed == ("sokha",)


# --- runs ---------------------------------------------------------------------------------------


def test_two_of_three_creates_a_hierarchy_the_ca_loads_and_issues_from(
    ceremony: CeremonyFile,
    session_factory: sessionmaker[Session],
    keys: KeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    ca = make_ca(session_factory, keys, ledger, clock)
    ask, _ = answers(
        {"sokha": [passphrase("sokha")], "dara": ["wrong"], "vanna": [passphrase("vanna")]}
    )
    transcript = tmp_path / "out" / "transcript.json"
    result = make_runner(ca, keys, ledger, clock).run(ceremony, ask, transcript_path=transcript)

    assert result.quorum.confirmed == ("sokha", "vanna")
    assert result.quorum.not_counted == ("dara",)
    stored = ca.hierarchy()
    assert stored.root == result.hierarchy.root
    assert set(stored.cas) == {"root", "citizen", "entity", "government", "health"}
    assert set(stored.ocsp_responders) == {"citizen", "entity", "government", "health"}
    assert {k.label for k in keys.list()} == {k.label for k in ceremony.keys}
    # natid serve's issuing path works on it: a citizen certificate from the new citizen CA.
    person = add_person(EmbeddedRegister(session_factory, clock=clock, ledger=ledger))
    issued = ca.issue_with_server_key("citizen-auth", person.id, actor="ra-1")
    issued.certificate.verify_directly_issued_by(stored.cas["citizen"])

    body = transcript.read_bytes()
    document = json.loads(body)
    assert document["quorum"]["confirmed"] == ["sokha", "vanna"]
    assert document["file_sha256"] == ceremony.sha256
    assert document["started_at"] == "2026-11-01T09:00:00+00:00"
    assert [c["serial"] for c in document["certificates"]] == list(result.serials.values())
    verified = verify_transcript(body, result.signature_path.read_bytes(), trusted_root=stored.root)
    assert set(verified.signed_by) == {
        "ca-root",
        "ca-citizen",
        "ca-entity",
        "ca-government",
        "ca-health",
    }
    stored_certs = [*stored.cas.values(), *stored.ocsp_responders.values(), stored.tsa]
    assert compare_with_stored(verified, stored_certs) == []

    (completed,) = events(ledger, "ca.ceremony.completed")
    assert completed.actor == "sokha,vanna"
    assert completed.data["transcript_sha256"] == hashlib.sha256(body).hexdigest()
    assert completed.data["serials"]["root"] == result.serials["root"]
    assert result.audit_seq == completed.seq
    assert not events(ledger, "ca.ceremony.aborted")
    assert "rehearsal passphrase" not in json.dumps([e.data for e in ledger.tail(50)])


def test_one_of_three_when_two_are_required_aborts_and_generates_nothing(
    ceremony: CeremonyFile,
    session_factory: sessionmaker[Session],
    keys: KeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    ca = make_ca(session_factory, keys, ledger, clock)
    ask, _ = answers({"sokha": [passphrase("sokha")], "dara": ["wrong"], "vanna": ["wrong"]})
    transcript = tmp_path / "transcript.json"
    with pytest.raises(QuorumNotMet, match="1 of the required 2"):
        make_runner(ca, keys, ledger, clock).run(ceremony, ask, transcript_path=transcript)
    assert keys.list() == []
    assert ca.authorities() == ()
    assert not transcript.exists()
    (aborted,) = events(ledger, "ca.ceremony.aborted")
    assert aborted.actor == "sokha"
    assert aborted.data["stage"] == "quorum"
    assert aborted.data["reason"] == "quorum_not_met"
    assert aborted.data["quorum"]["not_counted"] == ["dara", "vanna"]
    assert "wrong" not in aborted.data_json


def test_label_that_already_exists_is_refused_before_anything_is_generated(
    ceremony: CeremonyFile,
    session_factory: sessionmaker[Session],
    keys: KeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    ca = make_ca(session_factory, keys, ledger, clock)
    keys.generate("ca-health", KeyAlgorithm.EC_P384)
    runner = make_runner(ca, keys, ledger, clock)
    with pytest.raises(CeremonyConflict, match="already holds ca-health"):
        runner.plan(ceremony)  # the dry run already says so
    ask, asked = answers({o: [passphrase(o)] for o in OFFICERS})
    with pytest.raises(CeremonyConflict):
        runner.run(ceremony, ask, transcript_path=tmp_path / "out" / "t.json")
    assert asked == []  # nobody was even asked
    assert [k.label for k in keys.list()] == ["ca-health"]
    assert ca.authorities() == ()
    (aborted,) = events(ledger, "ca.ceremony.aborted")
    assert (aborted.data["stage"], aborted.data["reason"]) == ("validation", "ceremony_conflict")


def test_failure_half_way_destroys_the_new_keys_and_stores_nothing(
    ceremony: CeremonyFile,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    backend = MemoryKeyBackend()
    backend.fail_on = "tsa"  # the last key: nine keys exist when it fails
    ca = make_ca(session_factory, backend, ledger, clock)
    ask, _ = answers({o: [passphrase(o)] for o in OFFICERS})
    with pytest.raises(RuntimeError, match="injected"):
        make_runner(ca, backend, ledger, clock).run(
            ceremony, ask, transcript_path=tmp_path / "out" / "t.json"
        )
    assert len(backend.generated) == 9
    assert sorted(backend.destroyed) == sorted(backend.generated)
    assert backend.list() == []
    assert ca.authorities() == ()
    assert not any((tmp_path / "out").glob("*"))
    (aborted,) = events(ledger, "ca.ceremony.aborted")
    assert (aborted.data["stage"], aborted.data["reason"]) == ("generation", "RuntimeError")


def test_storage_failure_deletes_the_transcript_and_the_keys(
    ceremony: CeremonyFile,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = MemoryKeyBackend()
    ca = make_ca(session_factory, backend, ledger, clock)

    def broken(*_args: object, **_kwargs: object) -> None:
        from ca.errors import CAStorageUnavailable

        raise CAStorageUnavailable("the CA's database failed")

    monkeypatch.setattr(ca, "adopt_hierarchy", broken)
    ask, _ = answers({o: [passphrase(o)] for o in OFFICERS})
    with pytest.raises(Exception, match="database failed"):
        make_runner(ca, backend, ledger, clock).run(
            ceremony, ask, transcript_path=tmp_path / "out" / "t.json"
        )
    assert backend.list() == []
    assert not any((tmp_path / "out").glob("*"))
    (aborted,) = events(ledger, "ca.ceremony.aborted")
    assert aborted.data["reason"] == "ca_storage_unavailable"


def test_soft_backend_is_refused_for_a_production_ceremony_unless_allowed(
    ceremony: CeremonyFile,
    session_factory: sessionmaker[Session],
    keys: KeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> None:
    ca = make_ca(session_factory, keys, ledger, clock)
    runner = CeremonyRunner(keys=keys, ca=ca, ledger=ledger, clock=clock, urls=PkiUrls(BASE_URL))
    with pytest.raises(InvalidCeremonyFile, match="refuses the soft key backend"):
        runner.plan(ceremony)


# --- the transcript and the certificates ---------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CeremonyFile]:
    """One completed ceremony (SQLite, memory backend), for the read-only checks below."""
    from core.db import make_engine, make_session_factory
    from migrations import upgrade

    directory = tmp_path_factory.mktemp("ceremony")
    engine = make_engine(f"sqlite:///{directory / 'natid.db'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    clock = FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))  # openssl's clock
    ledger = AuditLedger(sessions, clock=clock)
    backend = MemoryKeyBackend()
    ceremony = parse_ceremony_file(EXAMPLE.read_bytes())
    ask, _ = answers({o: [passphrase(o)] for o in OFFICERS})
    result = make_runner(make_ca(sessions, backend, ledger, clock), backend, ledger, clock).run(
        ceremony, ask, transcript_path=directory / "transcript.json"
    )
    engine.dispose()
    return result.transcript_path, result.signature_path, ceremony


def certificates(transcript: Path) -> dict[str, x509.Certificate]:
    return {
        c["name"]: x509.load_pem_x509_certificate(c["pem"].encode())
        for c in json.loads(transcript.read_bytes())["certificates"]
    }


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b.replace(b'"sokha"', b'"vanna"', 1),
        lambda b: b.replace(b'"production": true', b'"production": false'),
        lambda b: b + b" ",
    ],
)
def test_tampered_transcript_fails_verification(
    finished: tuple[Path, Path, CeremonyFile], tamper: Callable[[bytes], bytes]
) -> None:
    transcript, signatures, _ = finished
    body = transcript.read_bytes()
    assert tamper(body) != body
    with pytest.raises(TranscriptInvalid):
        verify_transcript(tamper(body), signatures.read_bytes())


def test_transcript_resigned_by_a_forger_fails_against_the_trusted_root(
    finished: tuple[Path, Path, CeremonyFile],
) -> None:
    transcript, signatures, ceremony = finished
    real_root = certificates(transcript)["root"]
    verify_transcript(
        transcript.read_bytes(),
        signatures.read_bytes(),
        trusted_root=real_root,
        file_sha256=ceremony.sha256,
    )
    # Dropping a CA's signature is caught too.
    sigs = json.loads(signatures.read_bytes())
    sigs["signatures"] = [s for s in sigs["signatures"] if s["key"] != "ca-health"]
    with pytest.raises(TranscriptInvalid, match="no signature by the CA key ca-health"):
        verify_transcript(transcript.read_bytes(), json.dumps(sigs).encode())
    with pytest.raises(TranscriptInvalid, match="another ceremony file"):
        verify_transcript(transcript.read_bytes(), signatures.read_bytes(), file_sha256="00" * 32)


@pytest.mark.tool
def test_every_certificate_passes_openssl_verify_strict(
    finished: tuple[Path, Path, CeremonyFile], tmp_path: Path
) -> None:
    openssl = require_command("openssl")
    certs = certificates(finished[0])
    pem = {n: c.public_bytes(serialization.Encoding.PEM) for n, c in certs.items()}
    (tmp_path / "root.pem").write_bytes(pem["root"])
    issuers = {"ocsp-" + n: n for n in ("citizen", "entity", "government", "health")}
    issuers["tsa"] = "government"
    for name in certs:
        chain = (
            [] if name in {"root", "citizen", "entity", "government", "health"} else [issuers[name]]
        )
        args = [openssl, "verify", "-x509_strict", "-CAfile", str(tmp_path / "root.pem")]
        if chain:
            (tmp_path / "chain.pem").write_bytes(pem[chain[0]])
            args += ["-untrusted", str(tmp_path / "chain.pem")]
        if name == "tsa":
            args += ["-purpose", "timestampsign"]
        (tmp_path / "cert.pem").write_bytes(pem[name])
        result = subprocess.run(
            [*args, str(tmp_path / "cert.pem")], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


@pytest.mark.tool
def test_root_signature_over_the_transcript_verifies_with_openssl_dgst(
    finished: tuple[Path, Path, CeremonyFile], tmp_path: Path
) -> None:
    import base64

    openssl = require_command("openssl")
    transcript, signatures, _ = finished
    root = certificates(transcript)["root"]
    (tmp_path / "root-pub.pem").write_bytes(
        root.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (entry,) = [
        s for s in json.loads(signatures.read_bytes())["signatures"] if s["key"] == "ca-root"
    ]
    assert entry["algorithm"] == "ecdsa-sha384"
    (tmp_path / "root.sig").write_bytes(base64.b64decode(entry["signature"]))
    args = [openssl, "dgst", "-sha384", "-verify", str(tmp_path / "root-pub.pem")]
    args += ["-signature", str(tmp_path / "root.sig")]
    ok = subprocess.run([*args, str(transcript)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    (tmp_path / "edited.json").write_bytes(transcript.read_bytes().replace(b"sokha", b"sokhb"))
    bad = subprocess.run(
        [*args, str(tmp_path / "edited.json")], capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0


def test_every_certificate_passes_pkilint(finished: tuple[Path, Path, CeremonyFile]) -> None:
    for name, cert in certificates(finished[0]).items():
        bad = errors(lint_pkix(cert.public_bytes(serialization.Encoding.DER)))
        assert not bad, f"{name}: " + "\n".join(map(str, bad))


# --- PKCS#11 -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.softhsm
def test_ceremony_on_a_pkcs11_token(
    softhsm: SoftHSMToken,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    """The same file on SoftHSM2: the keys are generated in the token, the CA loads them."""
    from hsm_adapters import PKCS11KeyBackend

    suffix = uuid.uuid4().hex[:8]  # the session's token is shared with other tests
    document = example()
    for key in document["keys"]:
        key["label"] = f"{key['label']}-{suffix}"
    for cert in document["certificates"]:
        cert["key"] = f"{cert['key']}-{suffix}"
    ceremony = parse_ceremony_file(dump(document))
    backend = PKCS11KeyBackend(softhsm.module, softhsm.label, softhsm.pin)
    try:
        ca = make_ca(session_factory, backend, ledger, clock)
        runner = CeremonyRunner(  # a production ceremony: no soft-backend override needed
            keys=backend, ca=ca, ledger=ledger, clock=clock, urls=PkiUrls(BASE_URL)
        )
        ask, _ = answers({o: [passphrase(o)] for o in OFFICERS})
        result = runner.run(ceremony, ask, transcript_path=tmp_path / "t.json")
        held = {k.label for k in backend.list()}
        assert {k.label for k in ceremony.keys} <= held
        assert ca.hierarchy().root == result.hierarchy.root
        verify_transcript(result.transcript_path.read_bytes(), result.signature_path.read_bytes())
        assert json.loads(result.transcript_path.read_bytes())["key_backend"] == "pkcs11"
    finally:
        for key in ceremony.keys:
            with contextlib.suppress(Exception):
                backend.destroy(key.label)
        backend.close()
