"""E-seal batches uploaded over HTTP: a job per upload, sealed file by file, with progress any
worker can read (issue 5, "E-seals ... batches (a multipart upload of many files; progress
shown; a failed file does not stop the others and is reported)").

Decisions:

1. **No state in worker memory** (ARCHITECTURE.md, "Scale"). A batch's progress is one JSON
   value in the :class:`~core.cache.Cache` (``seal-batch:<id>``, with a TTL, default 24 hours),
   so with Redis every worker answers ``GET``; its files live under
   ``<data dir>/seal-batches/<id>/`` (``in/`` the uploads until sealed, ``result.zip`` at the
   end). Several nodes need the data directory on a shared volume, as for the key store.
2. **Nothing half-stored.** :meth:`SealBatches.create` checks everything first (level, the
   entity's e-seal certificate, names, limits), writes the uploads into a hidden temporary
   directory and renames it into place, and only then records the batch; any failure removes
   the directory and records nothing.
3. **One file at a time, each failure reported.** :meth:`SealBatches.run` seals with
   :meth:`signing.service.SigningService.seal` (which audits each seal) and records every file's
   outcome at once; a failed file keeps the error's stable ``code`` and its message (domain
   errors only say what was wrong with the input), an unexpected error becomes ``internal_error``
   with a generic reason and goes to the log, never a stack trace to the caller.
4. **Progress only moves forward.** Files go ``pending`` -> ``sealed`` | ``failed`` once, the
   count of finished files never decreases; a ``running`` batch whose last update is older
   than :data:`STALL_AFTER` is shown ``stalled`` (its worker died), so a client stops waiting.
5. **Only its owner sees a batch** (the operator who sent it); anyone else gets the same
   :class:`BatchNotFound` as for an unknown id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import re
import secrets
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock
from core.errors import NatIDError, NotFound
from signing.errors import InvalidSigningRequest, SigningError
from signing.pades import PadesLevel
from signing.service import SigningService

__all__ = [
    "STALL_AFTER",
    "BatchFile",
    "BatchNotFound",
    "BatchState",
    "FileState",
    "SealBatch",
    "SealBatches",
    "Upload",
    "safe_name",
]

log = logging.getLogger(__name__)

#: A running batch without an update for this long has lost its worker.
STALL_AFTER = dt.timedelta(minutes=10)
_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")
_NAME_KEEP = re.compile(r"[^\w.()\- ]+")
_MAX_NAME = 100


class BatchNotFound(SigningError, NotFound):
    """No batch with this id for this caller (unknown, expired or someone else's)."""

    code = "seal_batch_not_found"


class BatchState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    STALLED = "stalled"


class FileState(StrEnum):
    PENDING = "pending"
    SEALED = "sealed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: its name as sent and an open binary stream of its content."""

    name: str
    stream: BinaryIO


@dataclass(frozen=True, slots=True)
class BatchFile:
    name: str
    state: FileState
    size: int
    sealed_size: int | None = None
    sha256: str | None = None
    code: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "size": self.size,
            "sealed_size": self.sealed_size,
            "sha256": self.sha256,
            "code": self.code,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class SealBatch:
    id: str
    owner: str
    entity_id: str
    level: str
    visible: bool
    state: BatchState
    files: tuple[BatchFile, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def total(self) -> int:
        return len(self.files)

    @property
    def done(self) -> int:
        return sum(1 for f in self.files if f.state is not FileState.PENDING)

    @property
    def sealed(self) -> int:
        return sum(1 for f in self.files if f.state is FileState.SEALED)

    @property
    def failed(self) -> int:
        return sum(1 for f in self.files if f.state is FileState.FAILED)

    def as_dict(self) -> dict[str, Any]:
        """The stored form (and the report's): no secrets, no document content."""
        return {
            "id": self.id,
            "owner": self.owner,
            "entity_id": self.entity_id,
            "level": self.level,
            "visible": self.visible,
            "state": self.state.value,
            "files": [f.as_dict() for f in self.files],
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SealBatch:
        finished = raw.get("finished_at")
        return cls(
            id=raw["id"],
            owner=raw["owner"],
            entity_id=raw["entity_id"],
            level=raw["level"],
            visible=bool(raw["visible"]),
            state=BatchState(raw["state"]),
            files=tuple(BatchFile(**{**f, "state": FileState(f["state"])}) for f in raw["files"]),
            created_at=dt.datetime.fromisoformat(raw["created_at"]),
            updated_at=dt.datetime.fromisoformat(raw["updated_at"]),
            finished_at=dt.datetime.fromisoformat(finished) if finished else None,
        )


def safe_name(raw: str | None, number: int, taken: set[str]) -> str:
    """A file name fit for the archive and the file system: the last path part of what the
    client sent, odd characters replaced, at most 100 characters, unique in the batch."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _NAME_KEEP.sub("_", base).lstrip(".")[:_MAX_NAME] or f"file-{number}.pdf"
    name, stem, suffix, n = base, base, "", 2
    if "." in base:
        stem, suffix = base.rsplit(".", 1)
        suffix = "." + suffix
    while name.lower() in taken or name == "report.json":
        name, n = f"{stem}-{n}{suffix}", n + 1
    taken.add(name.lower())
    return name


class SealBatches:
    """Creates, runs and reports e-seal batches (module docstring, decisions 1-5)."""

    def __init__(
        self,
        *,
        signing: SigningService,
        cache: Cache,
        root: Path,
        clock: Clock,
        ledger: AuditLedger | None,
        ttl: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self._signing = signing
        self._cache = cache
        self._root = root
        self._clock = clock
        self._ledger = ledger
        self._ttl = ttl

    # --- creating -------------------------------------------------------------------------

    def create(
        self,
        entity_id: str,
        uploads: Sequence[Upload],
        *,
        owner: str,
        level: str = "B-T",
        visible: bool = False,
    ) -> SealBatch:
        """Store the uploads and record a running batch (decision 2); run it with :meth:`run`.

        Raises :class:`~signing.errors.InvalidSigningRequest` (no files, unknown level) or
        :class:`~signing.errors.NoESealCertificate` before anything is stored.
        """
        if not uploads:
            raise InvalidSigningRequest("send at least one PDF file")
        wanted = PadesLevel.parse(level)
        self._signing.eseal_certificate(entity_id)  # fails early, before storing anything
        now = self._clock.now()
        batch_id = secrets.token_urlsafe(16)
        taken: set[str] = set()
        names = [safe_name(u.name, n, taken) for n, u in enumerate(uploads, 1)]
        self._root.mkdir(parents=True, exist_ok=True)
        partial = self._root / f".{batch_id}.partial"
        files: list[BatchFile] = []
        try:
            (partial / "in").mkdir(parents=True)
            for name, upload in zip(names, uploads, strict=True):
                target = partial / "in" / name
                with target.open("wb") as out:
                    shutil.copyfileobj(upload.stream, out, 1024 * 1024)
                files.append(BatchFile(name, FileState.PENDING, target.stat().st_size))
            partial.rename(self._root / batch_id)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        batch = SealBatch(
            id=batch_id,
            owner=owner,
            entity_id=entity_id,
            level=wanted.value,
            visible=visible,
            state=BatchState.RUNNING,
            files=tuple(files),
            created_at=now,
            updated_at=now,
            finished_at=None,
        )
        self._save(batch)
        if self._ledger is not None:
            self._ledger.append(
                "signing.batch.created",
                actor=owner,
                subject=entity_id,
                data={"batch": batch_id, "files": len(files), "level": wanted.value},
            )
        return batch

    # --- running --------------------------------------------------------------------------

    def run(self, batch_id: str) -> SealBatch:
        """Seal every pending file of the batch, one by one (decisions 3 and 4)."""
        batch = self._load(batch_id)
        # One runner per batch, even if two workers were asked to run it.
        if not self._cache.add(f"seal-batch-run:{batch_id}", b"1", ttl=self._ttl.total_seconds()):
            return batch
        folder = self._root / batch_id
        files = list(batch.files)
        for index, item in enumerate(files):
            if item.state is not FileState.PENDING:
                continue
            files[index] = self._seal_one(batch, folder, item)
            batch = replace(batch, files=tuple(files), updated_at=self._clock.now())
            self._save(batch)
        self._write_result(batch, folder)
        batch = replace(batch, state=BatchState.FINISHED, finished_at=self._clock.now())
        batch = replace(batch, updated_at=batch.finished_at or batch.updated_at)
        self._save(batch)
        shutil.rmtree(folder / "in", ignore_errors=True)
        if self._ledger is not None:
            self._ledger.append(
                "signing.batch.finished",
                actor=batch.owner,
                subject=batch.entity_id,
                data={"batch": batch.id, "sealed": batch.sealed, "failed": batch.failed},
            )
        log.info("seal batch finished", extra={"sealed": batch.sealed, "failed": batch.failed})
        return batch

    def _seal_one(self, batch: SealBatch, folder: Path, item: BatchFile) -> BatchFile:
        source = folder / "in" / item.name
        try:
            sealed = self._signing.seal(
                batch.entity_id,
                source.read_bytes(),
                actor=batch.owner,
                level=batch.level,
                visible=batch.visible,
            )
        except NatIDError as exc:
            return replace(item, state=FileState.FAILED, code=exc.code, reason=exc.message)
        except Exception:  # one broken file must not stop the batch
            log.exception("sealing one file of a batch failed unexpectedly")
            return replace(
                item,
                state=FileState.FAILED,
                code="internal_error",
                reason="the file could not be sealed because of an internal error",
            )
        out = folder / "out"
        out.mkdir(exist_ok=True)
        (out / item.name).write_bytes(sealed)
        return replace(
            item,
            state=FileState.SEALED,
            sealed_size=len(sealed),
            sha256=hashlib.sha256(sealed).hexdigest(),
        )

    def _write_result(self, batch: SealBatch, folder: Path) -> None:
        """``result.zip``: the sealed PDFs under their names and ``report.json``, written to a
        temporary name and renamed, so a reader never sees half an archive."""
        report = {**batch.as_dict(), "state": BatchState.FINISHED.value}
        report.pop("owner")
        partial = folder / ".result.zip.partial"
        with zipfile.ZipFile(partial, "w") as archive:
            for item in batch.files:
                if item.state is FileState.SEALED:
                    # PDFs are compressed already; storing them keeps the batch fast.
                    archive.write(folder / "out" / item.name, item.name, zipfile.ZIP_STORED)
            archive.writestr(
                "report.json",
                json.dumps(report, ensure_ascii=False, indent=2),
                zipfile.ZIP_DEFLATED,
            )
        partial.replace(folder / "result.zip")
        shutil.rmtree(folder / "out", ignore_errors=True)

    # --- reading --------------------------------------------------------------------------

    def get(self, batch_id: str, *, owner: str) -> SealBatch:
        """The batch as its owner sees it now (``stalled`` if its worker is gone)."""
        batch = self._load(batch_id)
        if batch.owner != owner:
            raise BatchNotFound("no seal batch with this id")
        if batch.state is BatchState.RUNNING and self._clock.now() - batch.updated_at > STALL_AFTER:
            return replace(batch, state=BatchState.STALLED)
        return batch

    def result(self, batch_id: str, *, owner: str) -> Path:
        """The path of the finished batch's ``result.zip``; not found while running."""
        batch = self.get(batch_id, owner=owner)
        path = self._root / batch.id / "result.zip"
        if batch.state is not BatchState.FINISHED or not path.is_file():
            raise BatchNotFound("the batch has no result yet; wait until it is finished")
        return path

    def _load(self, batch_id: str) -> SealBatch:
        if not isinstance(batch_id, str) or not _ID_RE.fullmatch(batch_id):
            raise BatchNotFound("no seal batch with this id")
        raw = self._cache.get(f"seal-batch:{batch_id}")
        if raw is None:
            raise BatchNotFound("no seal batch with this id (unknown or expired)")
        return SealBatch.from_dict(json.loads(raw))

    def _save(self, batch: SealBatch) -> None:
        value = json.dumps(batch.as_dict(), ensure_ascii=False).encode()
        self._cache.set(f"seal-batch:{batch.id}", value, ttl=self._ttl.total_seconds())


def read_report(archive: bytes) -> dict[str, Any]:
    """The ``report.json`` of a result archive (for clients and tests)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        report: dict[str, Any] = json.loads(opened.read("report.json"))
    return report
