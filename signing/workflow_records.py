"""Values of approval workflows as callers see them (frozen dataclasses built from the rows of
:mod:`signing.workflow_models`), and the checks on what a caller asks for."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from registry.records import AssuranceLevel
from signing.workflow_errors import FreshAuthenticationRequired, InvalidWorkflow
from signing.workflow_models import (
    ApproverRow,
    ApproverState,
    WorkflowEventRow,
    WorkflowRow,
    WorkflowState,
)

__all__ = [
    "FRESHNESS",
    "MAX_APPROVERS",
    "MAX_GROUP",
    "MAX_STEPS",
    "REQUIRED_ACR",
    "Approver",
    "Authentication",
    "Inbox",
    "Workflow",
    "WorkflowEvent",
    "WorkflowSummary",
    "check_fresh",
    "checked_comment",
    "checked_filename",
    "checked_steps",
    "checked_title",
]

#: A signature needs an authentication at least this strong (eIDAS "substantial") ...
REQUIRED_ACR = AssuranceLevel.SUBSTANTIAL
#: ... and at most this old: signing is an act of the official, confirmed just before.
FRESHNESS = dt.timedelta(minutes=5)
MAX_STEPS = 20
MAX_GROUP = 10
MAX_APPROVERS = 50
MAX_COMMENT = 2000
_UUID = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Authentication:
    """How and when the acting official last authenticated (their login session)."""

    acr: AssuranceLevel
    auth_time: dt.datetime


@dataclass(frozen=True, slots=True)
class Approver:
    step: int
    member: int
    servant_id: str
    person_id: str
    field_name: str
    state: ApproverState
    acted_at: dt.datetime | None
    version: int | None


@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    at: dt.datetime
    event: str
    person_id: str | None
    servant_id: str | None
    step: int | None
    version: int | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    id: str
    title: str
    state: WorkflowState
    current_step: int
    steps: int
    author_person_id: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Workflow:
    """A workflow with its steps and history (what the document page and the API show)."""

    id: str
    title: str
    filename: str
    author_person_id: str
    author_servant_id: str
    client_id: str | None
    state: WorkflowState
    current_step: int
    #: One tuple per step; a step of several approvers is a parallel group.
    steps: tuple[tuple[Approver, ...], ...]
    seal_entity_id: str | None
    certify: bool
    level: str
    version: int
    sha256: str
    size: int
    original_sha256: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    events: tuple[WorkflowEvent, ...]

    def is_participant(self, person_id: str) -> bool:
        return person_id == self.author_person_id or any(
            a.person_id == person_id for step in self.steps for a in step
        )

    def waiting_for(self, person_id: str) -> Approver | None:
        """The caller's open place in the current step, if it is their turn now."""
        if self.state is not WorkflowState.IN_PROGRESS or self.current_step > len(self.steps):
            return None
        for approver in self.steps[self.current_step - 1]:
            if approver.person_id == person_id and approver.state is ApproverState.WAITING:
                return approver
        return None

    def step_state(self, step: int) -> str:
        """``approved``, ``rejected``, ``current`` or ``waiting`` for step ``step`` (from 1)."""
        members = self.steps[step - 1]
        if any(a.state is ApproverState.REJECTED for a in members):
            return "rejected"
        if all(a.state is ApproverState.APPROVED for a in members):
            return "approved"
        if self.state is WorkflowState.IN_PROGRESS and step == self.current_step:
            return "current"
        return "waiting"

    @property
    def rejection(self) -> WorkflowEvent | None:
        """The rejection (with its comment) that returned the document to its author."""
        return next((e for e in reversed(self.events) if e.event == "rejected"), None)

    def summary(self) -> WorkflowSummary:
        return WorkflowSummary(
            id=self.id,
            title=self.title,
            state=self.state,
            current_step=self.current_step,
            steps=len(self.steps),
            author_person_id=self.author_person_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class Inbox:
    """Documents waiting for the person's approval, and the ones they started."""

    waiting: tuple[WorkflowSummary, ...]
    started: tuple[WorkflowSummary, ...]


def summary_of(row: WorkflowRow) -> WorkflowSummary:
    return WorkflowSummary(
        id=row.id,
        title=row.title,
        state=WorkflowState(row.state),
        current_step=row.current_step,
        steps=row.steps,
        author_person_id=row.author_person_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def workflow_of(
    row: WorkflowRow,
    approvers: Sequence[ApproverRow],
    events: Sequence[WorkflowEventRow],
    *,
    sha256: str,
    size: int,
) -> Workflow:
    steps: list[list[Approver]] = [[] for _ in range(row.steps)]
    for a in sorted(approvers, key=lambda a: (a.step, a.member)):
        steps[a.step - 1].append(
            Approver(
                step=a.step,
                member=a.member,
                servant_id=a.servant_id,
                person_id=a.person_id,
                field_name=a.field_name,
                state=ApproverState(a.state),
                acted_at=a.acted_at,
                version=a.version,
            )
        )
    return Workflow(
        id=row.id,
        title=row.title,
        filename=row.filename,
        author_person_id=row.author_person_id,
        author_servant_id=row.author_servant_id,
        client_id=row.client_id,
        state=WorkflowState(row.state),
        current_step=row.current_step,
        steps=tuple(tuple(s) for s in steps),
        seal_entity_id=row.seal_entity_id,
        certify=row.certify,
        level=row.level,
        version=row.version,
        sha256=sha256,
        size=size,
        original_sha256=row.original_sha256,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        events=tuple(
            WorkflowEvent(
                at=e.at,
                event=e.event,
                person_id=e.person_id,
                servant_id=e.servant_id,
                step=e.step,
                version=e.version,
                comment=e.comment,
            )
            for e in sorted(events, key=lambda e: e.id)
        ),
    )


def _printable(value: str) -> bool:
    return all(unicodedata.category(c)[0] != "C" for c in value)


def checked_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidWorkflow("give the document a title (1-200 characters)")
    title = " ".join(title.split())
    if len(title) > 200 or not _printable(title):
        raise InvalidWorkflow("a title is at most 200 printable characters")
    return title


def checked_comment(comment: object, *, required: bool) -> str | None:
    if comment is None or (isinstance(comment, str) and not comment.strip()):
        if required:
            raise InvalidWorkflow("a rejection needs a comment saying why")
        return None
    if not isinstance(comment, str):
        raise InvalidWorkflow(f"a comment must be text, got {type(comment).__name__}")
    comment = comment.strip().replace("\r\n", "\n")
    if len(comment) > MAX_COMMENT or not _printable(comment.replace("\n", " ")):
        raise InvalidWorkflow(f"a comment is at most {MAX_COMMENT} printable characters")
    return comment


def checked_filename(name: object) -> str:
    """A safe file name for downloads: ASCII letters, digits, ``._-``, ending in ``.pdf``."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = _FILENAME_UNSAFE.sub("-", base.removesuffix(".pdf").removesuffix(".PDF")).strip(".-")
    return (stem[:100] or "document") + ".pdf"


def checked_steps(steps: object) -> tuple[tuple[str, ...], ...]:
    """Steps as tuples of civil-servant ids (canonical lower-case UUIDs), shape-checked."""
    if not isinstance(steps, list | tuple) or not steps:
        raise InvalidWorkflow("name at least one approval step")
    if len(steps) > MAX_STEPS:
        raise InvalidWorkflow(f"at most {MAX_STEPS} steps, got {len(steps)}")
    result: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for number, step in enumerate(steps, 1):
        members = [step] if isinstance(step, str) else step
        if not isinstance(members, list | tuple) or not members:
            raise InvalidWorkflow(f"step {number}: name one civil servant or a group")
        if len(members) > MAX_GROUP:
            raise InvalidWorkflow(f"step {number}: at most {MAX_GROUP} approvers in a group")
        ids: list[str] = []
        for member in members:
            if not isinstance(member, str) or not _UUID.fullmatch(member.strip()):
                raise InvalidWorkflow(f"step {number}: a civil-servant id is a UUID")
            key = member.strip().replace("-", "").lower()
            canonical = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:]}"
            if canonical in seen:
                raise InvalidWorkflow(f"step {number}: civil servant {canonical} is named twice")
            seen.add(canonical)
            ids.append(canonical)
        result.append(tuple(ids))
    if len(seen) > MAX_APPROVERS:
        raise InvalidWorkflow(f"at most {MAX_APPROVERS} approvers, got {len(seen)}")
    return tuple(result)


def check_fresh(authentication: Authentication, *, at: dt.datetime) -> None:
    """Decision 3: ``substantial`` or higher, authenticated at most FRESHNESS ago."""
    age = at - authentication.auth_time
    if authentication.acr.rank < REQUIRED_ACR.rank or age > FRESHNESS or age.total_seconds() < -60:
        raise FreshAuthenticationRequired(
            f"signing needs a login at level {REQUIRED_ACR.value} or higher within the last "
            f"{int(FRESHNESS.total_seconds() // 60)} minutes"
        )
