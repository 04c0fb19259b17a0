"""Errors of approval workflows, each under :class:`signing.errors.SigningError` and one of
core's fault kinds (STYLE.md, "Errors"). Messages carry ids and counts, never names, comments
or document content."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from signing.errors import SigningError

__all__ = [
    "FreshAuthenticationRequired",
    "InvalidWorkflow",
    "NotACivilServant",
    "NotYourTurn",
    "WorkflowBusy",
    "WorkflowError",
    "WorkflowNotFound",
]


class WorkflowError(SigningError):
    """Base of the approval-workflow errors."""

    code = "workflow_error"


class InvalidWorkflow(WorkflowError, InvalidInput):
    """The workflow asked for cannot be built: unknown or inactive approvers, an approver
    without a signing certificate, a ministry without an e-seal, bad steps or title."""

    code = "invalid_workflow"


class WorkflowNotFound(WorkflowError, NotFound):
    """No such workflow, or the caller takes no part in it (the two are not told apart, so
    an outsider learns nothing about which ids exist)."""

    code = "workflow_not_found"


class NotYourTurn(WorkflowError, Conflict):
    """The caller takes part in the workflow but cannot act now: not their step yet, already
    acted, or the workflow is finished."""

    code = "not_your_turn"


class NotACivilServant(WorkflowError, PermissionDenied):
    """Only civil servants (an active position in the register) start workflows."""

    code = "not_a_civil_servant"


class FreshAuthenticationRequired(WorkflowError, PermissionDenied):
    """A signature needs a login at level substantial or higher within the last minutes."""

    code = "fresh_authentication_required"
    http_status = 401


class WorkflowBusy(WorkflowError, Conflict):
    """Other approvers kept changing the document while this approval was being signed."""

    code = "workflow_busy"
