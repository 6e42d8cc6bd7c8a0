"""The one exception tree of ``comfy_backend``.

Callers catch by meaning, in the manner of httpx::

    ComfyBackendError
    ├── ConfigError                 bad servers config, bad CLI input file
    ├── ProvisionError              local ComfyUI install/start failed
    ├── WorkflowError               a workflow file that cannot be used
    ├── OutputPathError             a server-given filename that would escape the output folder
    ├── NoServerAvailable           no healthy server can take the job
    ├── JobCancelled                the job was cancelled by the user
    └── ServerError                 anything that went wrong talking to one server
        ├── ValidationRejected      HTTP 400 from POST /prompt: never retried
        ├── ServerHTTPError         other non-2xx answers (5xx are retried)
        ├── ConnectionLost          refused, reset, DNS, WebSocket closed mid-job
        ├── RequestTimeout          no answer / no progress within the limit
        ├── ExecutionFailed         execution_error while running (node id, type, message)
        └── Interrupted             execution_interrupted for our prompt

Every message is meant to be shown to a user as it is: it names the server
and what to do, and never carries server tracebacks or file paths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ComfyBackendError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ComfyBackendError):
    """A configuration file or value is unusable; the message names the file and the entry."""


class ProvisionError(ComfyBackendError):
    """Installing or starting the local CPU ComfyUI servers failed."""


class WorkflowError(ComfyBackendError):
    """A workflow file is missing, malformed or not runnable."""


class OutputPathError(ComfyBackendError):
    """A filename reported by a server would land outside the output folder."""


class NoServerAvailable(ComfyBackendError):
    """No enabled, healthy and capable server matches the job."""


class JobCancelled(ComfyBackendError):
    """The job was cancelled before it finished."""


class ServerError(ComfyBackendError):
    """Something went wrong talking to one ComfyUI server.

    ``retryable`` says whether the same job may be resubmitted elsewhere.
    """

    retryable: bool = True

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message)
        self.server = server


@dataclass(frozen=True)
class NodeError:
    """One validation problem of one node, as reported in ``node_errors``."""

    node_id: str
    class_type: str | None
    type: str
    message: str
    details: str = ""
    input_name: str | None = None

    def describe(self) -> str:
        where = f"node {self.node_id}"
        if self.class_type:
            where += f" ({self.class_type})"
        if self.input_name:
            where += f" input '{self.input_name}'"
        text = self.message
        if self.details and self.details not in text:
            text += f": {self.details}"
        return f"{where}: {text}"


class ValidationRejected(ServerError):
    """The server refused the prompt with HTTP 400. Resubmitting cannot help."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        server: str | None = None,
        error_type: str = "",
        node_errors: list[NodeError] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.error_type = error_type
        self.node_errors = list(node_errors or [])
        self.raw = raw or {}
        if self.node_errors:
            message = message + " — " + "; ".join(e.describe() for e in self.node_errors)
        super().__init__(message, server=server)


class ServerHTTPError(ServerError):
    """A non-2xx answer other than a 400 validation error."""

    def __init__(self, message: str, *, server: str | None = None, status: int = 0) -> None:
        super().__init__(message, server=server)
        self.status = status
        # 4xx other than 408/429 means our request is wrong; resubmitting it elsewhere won't help.
        self.retryable = status >= 500 or status in (408, 429) or status == 0


class ConnectionLost(ServerError):
    """The server could not be reached, or the connection broke mid-job."""


class RequestTimeout(ServerError):
    """The server did not answer, or a job made no progress, within its time limit."""


class ExecutionFailed(ServerError):
    """The prompt was accepted but a node raised while executing.

    Not retried by default: the same prompt usually fails the same way elsewhere.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        server: str | None = None,
        node_id: str | None = None,
        node_type: str | None = None,
        exception_type: str | None = None,
    ) -> None:
        super().__init__(message, server=server)
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type


class Interrupted(ServerError):
    """The server reported ``execution_interrupted`` for our prompt (someone pressed stop)."""

    retryable = False


@dataclass
class AttemptErrorInfo:
    """A serialisable summary of an error, for job attempt records and --json output."""

    kind: str
    message: str
    retryable: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_exception(cls, exc: BaseException) -> AttemptErrorInfo:
        extra: dict[str, Any] = {}
        if isinstance(exc, ValidationRejected):
            extra["node_errors"] = [e.__dict__ for e in exc.node_errors]
        if isinstance(exc, ExecutionFailed):
            extra.update(node_id=exc.node_id, node_type=exc.node_type)
        if isinstance(exc, ServerHTTPError):
            extra["status"] = exc.status
        return cls(
            kind=type(exc).__name__,
            message=str(exc),
            retryable=bool(getattr(exc, "retryable", False)),
            extra=extra,
        )
