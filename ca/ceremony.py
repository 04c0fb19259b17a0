"""Running a key ceremony: plan and rehearsal, the officers' quorum, generation, the transcript.

Issue 3, "Hierarchy and ceremonies"; the operator's guide is docs/ceremonies.md, the file format
:mod:`ca.ceremony_file`, the transcript :mod:`ca.ceremony_transcript`. A run goes through these
stages, and nothing of a later stage happens unless every earlier one succeeded:

1. Validation (also all that ``--dry-run`` does): the file parses; no key label of it exists in
   the key backend, which supports every algorithm; the database holds no CA hierarchy; the
   transcript files do not exist; a ``production: true`` file refuses the soft key backend
   unless the settings allow it. Then every certificate is built once with throw-away software
   keys of the same algorithms (the rehearsal): profile, names, validity and issuer rules are
   checked by the very code the real run uses, so a file that passes the dry run only fails
   later for reasons of the backend or the database.
2. Quorum: each officer in file order types their own passphrase (checked against the file's
   Argon2id hash) or declines; a wrong passphrase may be retried up to :data:`MAX_ATTEMPTS`
   times, after which the officer is not counted. Asking stops when M officers confirmed, or
   as soon as M can no longer be reached. Fewer than M: :class:`QuorumNotMet`, nothing
   generated. The transcript records who confirmed, declined or was not counted (ids only).
3. Generation: the keys in the configured key backend, then the certificates, issuers first.
   All or nothing, as :func:`ca.hierarchy.create_hierarchy`: on any failure the keys this run
   made are destroyed again.
4. Transcript: written (exclusive create, never overwriting) with its detached signatures by
   every new CA key, BEFORE storing, so a stored hierarchy always has its transcript.
5. Storing: :meth:`ca.service.CAService.adopt_hierarchy` stores every certificate in one
   transaction (and records ``ca.hierarchy.created``). If it fails, the transcript files are
   deleted and the keys destroyed.
6. Audit: ``ca.ceremony.completed`` (actor: the confirming officer ids, comma-separated; data:
   ceremony id, file SHA-256, transcript SHA-256, serials). A run that stops at stages 1-5
   appends ``ca.ceremony.aborted`` with the stage and the error code, never a passphrase.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import argon2
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ca.ceremony_file import (
    SELF,
    CeremonyConflict,
    CeremonyFile,
    CertificateSpec,
    InvalidCeremonyFile,
    Officer,
    QuorumNotMet,
)
from ca.ceremony_transcript import (
    TRANSCRIPT_FORMAT,
    certificate_entry,
    encode_transcript,
    key_entry,
    sign_transcript,
    utc_iso,
)
from ca.errors import InvalidCertificateRequest
from ca.hierarchy import ROOT_CA, Hierarchy
from ca.profiles import DEFAULT_POLICY_ARC, ProfileName, get_profile
from ca.service import CAService
from ca.store import serial_hex
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.audit import AuditLedger
from core.clock import Clock
from core.errors import NatIDError
from hsm_adapters.base import BackendPrivateKey, KeyAlgorithm, KeyBackend

__all__ = [
    "MAX_ATTEMPTS",
    "CeremonyPlan",
    "CeremonyResult",
    "CeremonyRunner",
    "OfficerOutcome",
    "Quorum",
    "collect_quorum",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3

#: Asks an officer for their passphrase (attempt 1, 2, ...); ``None`` or ``""`` declines.
AskPassphrase = Callable[[Officer, int], str | None]


class OfficerOutcome(StrEnum):
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    #: Every attempt had a wrong passphrase: the officer is not counted.
    NOT_COUNTED = "not_counted"


@dataclass(frozen=True, slots=True)
class Quorum:
    required: int
    confirmed: tuple[str, ...]
    declined: tuple[str, ...]
    not_counted: tuple[str, ...]

    @property
    def met(self) -> bool:
        return len(self.confirmed) >= self.required

    @property
    def actor(self) -> str | None:
        """The audit actor: the confirming officer ids, comma-separated."""
        return ",".join(self.confirmed) or None

    def summary(self) -> dict[str, Any]:
        return {
            "required": self.required,
            "confirmed": list(self.confirmed),
            "declined": list(self.declined),
            "not_counted": list(self.not_counted),
        }


def collect_quorum(
    file: CeremonyFile,
    ask: AskPassphrase,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    on_outcome: Callable[[Officer, OfficerOutcome], None] | None = None,
) -> Quorum:
    """Ask the officers in file order until ``file.required`` confirmed or that is out of reach."""
    hasher = argon2.PasswordHasher()
    outcomes: dict[OfficerOutcome, list[str]] = {o: [] for o in OfficerOutcome}
    for index, officer in enumerate(file.officers):
        confirmed = len(outcomes[OfficerOutcome.CONFIRMED])
        if confirmed >= file.required or confirmed + len(file.officers) - index < file.required:
            break
        outcome = OfficerOutcome.NOT_COUNTED
        for attempt in range(1, max_attempts + 1):
            secret = ask(officer, attempt)
            if not secret:
                outcome = OfficerOutcome.DECLINED
                break
            try:
                hasher.verify(officer.passphrase_hash, secret)
            except argon2.exceptions.VerificationError:
                continue
            except argon2.exceptions.InvalidHashError:
                break  # parse_ceremony_file checked the hash; never count a broken one
            outcome = OfficerOutcome.CONFIRMED
            break
        outcomes[outcome].append(officer.id)
        if on_outcome is not None:
            on_outcome(officer, outcome)
    return Quorum(
        required=file.required,
        confirmed=tuple(outcomes[OfficerOutcome.CONFIRMED]),
        declined=tuple(outcomes[OfficerOutcome.DECLINED]),
        not_counted=tuple(outcomes[OfficerOutcome.NOT_COUNTED]),
    )


@dataclass(frozen=True, slots=True)
class CeremonyPlan:
    """A validated, rehearsed ceremony: what a run would make."""

    file: CeremonyFile
    backend: str
    base_url: str
    #: Certificate name -> the rehearsal certificate (throw-away key, never stored).
    rehearsal: Mapping[str, x509.Certificate]

    def lines(self) -> list[str]:
        """The plan as officers read it before confirming."""
        f = self.file
        officers = ", ".join(f"{o.id} ({o.role})" for o in f.officers)
        out = [
            f"ceremony {f.id}: {f.purpose}",
            f"file SHA-256: {f.sha256}",
            f"production: {'yes' if f.production else 'no (rehearsal)'}",
            f"quorum: {f.required} of {len(f.officers)} officers: {officers}",
            f"key backend: {self.backend}; certificates name URLs under {self.base_url}",
            "keys to generate (none of these labels exists yet):",
            *(f"  {k.label}  {k.algorithm}" for k in f.keys),
            "certificates, in issuance order:",
        ]
        for number, spec in enumerate(f.certificates, 1):
            cert = self.rehearsal[spec.name]
            issuer = "itself" if spec.issuer == SELF else spec.issuer
            days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days + 1
            out.append(
                f"  {number}. {spec.name}  {spec.profile}  key {spec.key}  issued by {issuer}  "
                f"{cert.subject.rfc4514_string()}  {days} days"
            )
        return out


@dataclass(frozen=True, slots=True)
class CeremonyResult:
    ceremony_id: str
    quorum: Quorum
    hierarchy: Hierarchy
    transcript_path: Path
    signature_path: Path
    transcript_sha256: str
    serials: Mapping[str, str]
    #: The sequence number of the ``ca.ceremony.completed`` audit entry.
    audit_seq: int | None = None


def signature_path_for(transcript_path: Path) -> Path:
    return transcript_path.with_name(transcript_path.name + ".sig")


def _ephemeral_key(algorithm: KeyAlgorithm) -> BackendPrivateKey:
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is KeyAlgorithm.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm.split("-")[1]))


class CeremonyRunner:
    """Plans (dry run) and runs ceremonies against one key backend and one CA database."""

    def __init__(
        self,
        *,
        keys: KeyBackend,
        ca: CAService,
        ledger: AuditLedger | None,
        clock: Clock,
        urls: PkiUrls,
        policy_arc: str = DEFAULT_POLICY_ARC,
        allow_soft_production: bool = False,
        software_version: str = "unknown",
    ) -> None:
        self._keys = keys
        self._ca = ca
        self._ledger = ledger
        self._clock = clock
        self._urls = urls
        self._policy_arc = policy_arc
        self._allow_soft_production = allow_soft_production
        self._version = software_version

    # --- stage 1 -------------------------------------------------------------------------------

    def plan(self, file: CeremonyFile, *, transcript_path: Path | None = None) -> CeremonyPlan:
        """Validate ``file`` against the backend and the database, and rehearse it."""
        if file.production and self._keys.name == "soft" and not self._allow_soft_production:
            raise InvalidCeremonyFile(
                "ceremony.production: a production ceremony refuses the soft key backend "
                "(configure NATID_KEY_BACKEND=pkcs11, or NATID_ALLOW_SOFT_KEYS_IN_PRODUCTION)"
            )
        supported = self._keys.supported_algorithms()
        for index, key in enumerate(file.keys):
            if key.algorithm not in supported:
                raise InvalidCeremonyFile(
                    f"keys[{index}].algorithm: the {self._keys.name} key backend does not "
                    f"support {key.algorithm}"
                )
        taken = sorted({info.label for info in self._keys.list()} & {k.label for k in file.keys})
        if taken:
            raise CeremonyConflict(
                f"the key backend already holds {', '.join(taken)}; choose other labels "
                "(nothing was generated)"
            )
        if self._ca.authorities():
            raise CeremonyConflict(
                "the database already holds a CA hierarchy; a ceremony creates a new one in an "
                "empty database (nothing was generated)"
            )
        if transcript_path is not None:
            for path in (transcript_path, signature_path_for(transcript_path)):
                if path.exists():
                    raise CeremonyConflict(f"{path} exists; a transcript is never overwritten")
        ephemeral = {k.label: _ephemeral_key(k.algorithm) for k in file.keys}
        rehearsal = self._certify(file, ephemeral.__getitem__, at=self._clock.now())
        return CeremonyPlan(file, self._keys.name, self._urls.base, MappingProxyType(rehearsal))

    def _certify(
        self,
        file: CeremonyFile,
        key_for: Callable[[str], BackendPrivateKey],
        *,
        at: dt.datetime,
    ) -> dict[str, x509.Certificate]:
        """Every certificate of ``file``, issuers first, signed with the keys ``key_for`` gives."""
        made: dict[str, x509.Certificate] = {}
        by_name = {spec.name: spec for spec in file.certificates}
        for spec in file.certificates:
            profile = get_profile(spec.profile)
            not_before, not_after = spec.validity(at=at)
            issuer = None if spec.issuer == SELF else by_name[spec.issuer]
            key = key_for(spec.key)
            try:
                made[spec.name] = build_certificate(
                    profile,
                    subject=spec.subject.name(),
                    public_key=key.public_key(),
                    issuer_cert=made[issuer.name] if issuer else None,
                    issuer_key=key_for(issuer.key) if issuer else key,
                    serial=new_serial(),
                    not_before=not_before,
                    not_after=not_after,
                    urls=self._urls,
                    ca_name=issuer.name if issuer else spec.name,
                    policy_arc=self._policy_arc,
                )
            except InvalidCertificateRequest as exc:
                raise InvalidCeremonyFile(f"{spec.path} ({spec.name}): {exc.message}") from exc
        return made

    # --- a run ---------------------------------------------------------------------------------

    def run(
        self,
        file: CeremonyFile,
        ask: AskPassphrase,
        *,
        transcript_path: Path,
        max_attempts: int = MAX_ATTEMPTS,
        on_plan: Callable[[CeremonyPlan], None] | None = None,
        on_outcome: Callable[[Officer, OfficerOutcome], None] | None = None,
    ) -> CeremonyResult:
        """Run ``file`` (stages in the module docstring); raises if any stage fails.

        ``on_plan`` receives the validated plan before any officer is asked (to show it);
        ``on_outcome`` each officer's outcome as it is decided.
        """
        started = self._clock.now()
        stage = "validation"
        quorum: Quorum | None = None
        try:
            plan = self.plan(file, transcript_path=transcript_path)
            if on_plan is not None:
                on_plan(plan)
            stage = "quorum"
            quorum = collect_quorum(file, ask, max_attempts=max_attempts, on_outcome=on_outcome)
            _require_quorum(quorum)
            stage = "generation"
            result = self._generate_and_store(file, quorum, started, transcript_path)
            actor = quorum.actor
        except BaseException as exc:
            self._audit_aborted(file, stage, exc, quorum)
            raise
        # Stored and transcribed: from here on a failure is not an aborted ceremony.
        if self._ledger is not None:
            entry = self._ledger.append(
                "ca.ceremony.completed",
                actor=actor,
                data={
                    "ceremony_id": file.id,
                    "file_sha256": file.sha256,
                    "transcript_sha256": result.transcript_sha256,
                    "serials": dict(result.serials),
                },
            )
            result = replace(result, audit_seq=entry.seq)
        log.info("key ceremony completed", extra={"ceremony": file.id})
        return result

    def _generate_and_store(
        self, file: CeremonyFile, quorum: Quorum, started: dt.datetime, transcript_path: Path
    ) -> CeremonyResult:
        created: list[str] = []
        written: list[Path] = []
        signature_path = signature_path_for(transcript_path)
        try:
            keys: dict[str, BackendPrivateKey] = {}
            for spec in file.keys:
                keys[spec.label] = self._keys.generate(spec.label, spec.algorithm)
                created.append(spec.label)
            certs = self._certify(file, keys.__getitem__, at=self._clock.now())
            hierarchy = _hierarchy(file, certs)
            transcript = encode_transcript(
                self._transcript(
                    file,
                    quorum=quorum,
                    started=started,
                    keys=keys,
                    certs=certs,
                    finished=self._clock.now(),
                )
            )
            signers = [(s.key, keys[s.key]) for s in file.certificates if s.is_ca]
            signatures = sign_transcript(transcript, signers)
            transcript_path.parent.mkdir(parents=True, exist_ok=True)
            for path, data in ((transcript_path, transcript), (signature_path, signatures)):
                with path.open("xb") as out:
                    written.append(path)
                    out.write(data)
            self._ca.adopt_hierarchy(hierarchy, actor=quorum.actor)
        except BaseException:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            for label in reversed(created):
                try:
                    self._keys.destroy(label)
                except Exception:  # noqa: BLE001 - best effort; the original error matters
                    log.warning("could not destroy key %s after a failed ceremony", label)
            raise
        digest = hashlib.sha256(transcript).hexdigest()
        serials = {name: serial_hex(cert.serial_number) for name, cert in certs.items()}
        return CeremonyResult(
            ceremony_id=file.id,
            quorum=quorum,
            hierarchy=hierarchy,
            transcript_path=transcript_path,
            signature_path=signature_path,
            transcript_sha256=digest,
            serials=MappingProxyType(serials),
        )

    def _transcript(
        self,
        file: CeremonyFile,
        *,
        quorum: Quorum,
        started: dt.datetime,
        keys: Mapping[str, BackendPrivateKey],
        certs: Mapping[str, x509.Certificate],
        finished: dt.datetime,
    ) -> dict[str, Any]:
        return {
            "format": TRANSCRIPT_FORMAT,
            "ceremony": {"id": file.id, "purpose": file.purpose, "production": file.production},
            "file_sha256": file.sha256,
            "started_at": utc_iso(started),
            "finished_at": utc_iso(finished),
            "quorum": {**quorum.summary(), "officers": len(file.officers)},
            "officers": [{"id": o.id, "role": o.role.value} for o in file.officers],
            "key_backend": self._keys.name,
            "public_base_url": self._urls.base,
            "policy_arc": self._policy_arc,
            "keys": [
                key_entry(k.label, k.algorithm.value, keys[k.label].public_key()) for k in file.keys
            ],
            "certificates": [
                certificate_entry(s.name, s.profile.value, s.key, s.issuer, certs[s.name])
                for s in file.certificates
            ],
            "software": {"name": "natid", "version": self._version},
        }

    def _audit_aborted(
        self, file: CeremonyFile, stage: str, exc: BaseException, quorum: Quorum | None
    ) -> None:
        if self._ledger is None:
            return
        if isinstance(exc, NatIDError):
            reason = exc.code
        elif isinstance(exc, KeyboardInterrupt):
            reason = "interrupted"
        else:
            reason = type(exc).__name__
        data: dict[str, Any] = {
            "ceremony_id": file.id,
            "file_sha256": file.sha256,
            "stage": stage,
            "reason": reason,
        }
        if quorum is not None:
            data["quorum"] = quorum.summary()
        try:
            self._ledger.append(
                "ca.ceremony.aborted", actor=quorum.actor if quorum else None, data=data
            )
        except Exception:  # the ceremony's own error is what the caller needs
            log.exception("could not record the aborted ceremony %s in the audit ledger", file.id)


def _require_quorum(quorum: Quorum) -> None:
    if not quorum.met:
        raise QuorumNotMet(
            f"{len(quorum.confirmed)} of the required {quorum.required} officers confirmed "
            f"(declined: {', '.join(quorum.declined) or 'none'}; not counted after wrong "
            f"passphrases: {', '.join(quorum.not_counted) or 'none'}); nothing was generated"
        )


def _hierarchy(file: CeremonyFile, certs: Mapping[str, x509.Certificate]) -> Hierarchy:
    """The :class:`Hierarchy` that ``CAService.adopt_hierarchy`` stores (shape: ceremony_file)."""
    cas: dict[str, x509.Certificate] = {}
    ca_labels: dict[str, str] = {}
    responders: dict[str, x509.Certificate] = {}
    responder_labels: dict[str, str] = {}
    tsa: CertificateSpec | None = None
    for spec in file.certificates:
        if spec.is_ca:
            cas[spec.name] = certs[spec.name]
            ca_labels[spec.name] = spec.key
        elif spec.profile is ProfileName.OCSP_RESPONDER:
            responders[spec.issuer] = certs[spec.name]
            responder_labels[spec.issuer] = spec.key
        else:
            tsa = spec
    if tsa is None or ROOT_CA not in cas:  # pragma: no cover - parse_ceremony_file ensures it
        raise InvalidCeremonyFile("certificates: a hierarchy needs its root and a TSA")
    return Hierarchy(
        cas=MappingProxyType(cas),
        ocsp_responders=MappingProxyType(responders),
        tsa=certs[tsa.name],
        ca_key_labels=MappingProxyType(ca_labels),
        ocsp_key_labels=MappingProxyType(responder_labels),
        tsa_key_label=tsa.key,
    )
