"""The one exception tree of ``comfy_backend``.

Callers catch by meaning, in the manner of httpx::

    ComfyBackendError
    ├── ConfigError                 bad servers config, bad CLI input file
    ├── ProvisionError              local ComfyUI install/start failed
    ├── WorkflowError               a workflow file that cannot be used
    │   └── ParameterError          a value breaks a parameter's constraints (type, range, choices)
    ├── OutputPathError             a server-given filename that would escape the output folder
    ├── OutputWriteError            an output file could not be written (disk full, permissions)
    ├── NoServerAvailable           no healthy server can take the job
    ├── JobCancelled                the job was cancelled by the user
    └── ServerError                 anything that went wrong talking to one server
        ├── ValidationRejected      HTTP 400 from POST /prompt: never retried
        ├── ServerHTTPError         other non-2xx answers (5xx are retried)
        │   └── ResponseTooLarge    an answer beyond its size limit (cut, never retried)
        ├── ConnectionLost          refused, reset, DNS, WebSocket closed mid-job
        ├── RequestTimeout          no answer / no progress within the limit
        ├── ExecutionFailed         execution_error while running (node id, type, message)
        └── Interrupted             execution_interrupted for our prompt

Every message is meant to be shown to a user as it is: it names the server
and what to do, and never carries server tracebacks or file paths.

A job's failure is handed out as a :class:`JobError` (kind, message, node and input
where known, server, retryable), built in one place: :meth:`JobError.from_exception`.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class ComfyBackendError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ComfyBackendError):
    """A configuration file or value is unusable; the message names the file and the entry."""


class ProvisionError(ComfyBackendError):
    """Installing or starting the local CPU ComfyUI servers failed."""


class WorkflowError(ComfyBackendError):
    """A workflow file is missing, malformed or not runnable."""


class ParameterError(WorkflowError):
    """A value does not satisfy a parameter's constraints, or a parameter does not bind."""


class OutputPathError(ComfyBackendError):
    """A filename reported by a server would land outside the output folder."""


class OutputWriteError(ComfyBackendError):
    """An output file could not be written locally (disk full, no permission…)."""


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


class ResponseTooLarge(ServerHTTPError):
    """A server sent more bytes than the limit for that answer; the transfer was cut."""

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message, server=server, status=0)
        self.retryable = False


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


class ErrorKind(str, enum.Enum):
    """What kind of failure ended a job or an attempt."""

    REJECTED = "rejected"                  # the server refused the prompt (HTTP 400, node_errors)
    INVALID_VALUE = "invalid_value"        # a parameter value breaks its constraints
    EXECUTION_FAILED = "execution_failed"  # a node raised while running
    CONNECTION_LOST = "connection_lost"    # server unreachable or gone mid-job
    TIMEOUT = "timeout"                    # no answer or no progress in time
    SERVER_HTTP = "server_http"            # another non-2xx answer
    INTERRUPTED = "interrupted"            # someone pressed stop on the server
    CANCELLED = "cancelled"                # cancelled by us (user, or the backend closing)
    NO_SERVER = "no_server"                # no enabled, healthy, capable server
    WORKFLOW = "workflow"                  # the workflow cannot be used
    CONFIG = "config"                      # a configuration problem
    INTERNAL = "internal"                  # a bug: unexpected exception


# Most specific class first: the first isinstance match decides the kind.
_KINDS: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (ValidationRejected, ErrorKind.REJECTED),
    (ParameterError, ErrorKind.INVALID_VALUE),
    (ExecutionFailed, ErrorKind.EXECUTION_FAILED),
    (ConnectionLost, ErrorKind.CONNECTION_LOST),
    (RequestTimeout, ErrorKind.TIMEOUT),
    (ServerHTTPError, ErrorKind.SERVER_HTTP),
    (Interrupted, ErrorKind.INTERRUPTED),
    (JobCancelled, ErrorKind.CANCELLED),
    (NoServerAvailable, ErrorKind.NO_SERVER),
    (WorkflowError, ErrorKind.WORKFLOW),
    (ConfigError, ErrorKind.CONFIG),
    (ServerError, ErrorKind.CONNECTION_LOST),
)


@dataclass(frozen=True)
class JobError:
    """Why a job (or one attempt of it) failed: typed, immutable, safe on any thread."""

    kind: ErrorKind
    message: str
    retryable: bool = False
    node_id: str | None = None
    input_name: str | None = None
    server: str | None = None
    node_type: str | None = None
    node_errors: tuple[NodeError, ...] = ()
    status: int | None = None  # HTTP status of a SERVER_HTTP error

    @classmethod
    def from_exception(cls, exc: BaseException, *, server: str | None = None) -> JobError:
        """The one mapping from an exception to a JobError (``server`` fills in when the exception has none)."""
        kind = next((k for t, k in _KINDS if isinstance(exc, t)), ErrorKind.INTERNAL)
        message = str(exc) if kind is not ErrorKind.INTERNAL else f"internal error: {type(exc).__name__}: {exc}"
        node_id = input_name = node_type = None
        node_errors: tuple[NodeError, ...] = ()
        status = None
        if isinstance(exc, ValidationRejected):
            node_errors = tuple(exc.node_errors)
            if node_errors:
                node_id, input_name, node_type = node_errors[0].node_id, node_errors[0].input_name, node_errors[0].class_type
        elif isinstance(exc, ExecutionFailed):
            node_id, node_type = exc.node_id, exc.node_type
        elif isinstance(exc, ServerHTTPError):
            status = exc.status
        return cls(
            kind=kind,
            message=message,
            retryable=bool(getattr(exc, "retryable", False)),
            node_id=node_id,
            input_name=input_name,
            server=getattr(exc, "server", None) or server,
            node_type=node_type,
            node_errors=node_errors,
            status=status,
        )

    def with_message(self, message: str) -> JobError:
        """The same error with another message (e.g. prefixed with the number of attempts)."""
        return JobError(self.kind, message, self.retryable, self.node_id, self.input_name, self.server,
                        self.node_type, self.node_errors, self.status)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``kind``, ``message``, ``retryable``, where known ``node_id``/``input_name``/``server``,
        and ``extra`` (node_errors, node_type, status) as before."""
        extra: dict[str, Any] = {}
        if self.node_errors:
            extra["node_errors"] = [asdict(e) for e in self.node_errors]
        if self.node_type is not None or self.kind is ErrorKind.EXECUTION_FAILED:
            extra.update(node_id=self.node_id, node_type=self.node_type)
        if self.status is not None:
            extra["status"] = self.status
        return {
            "kind": self.kind.value,
            "message": self.message,
            "retryable": self.retryable,
            "node_id": self.node_id,
            "input_name": self.input_name,
            "server": self.server,
            "extra": extra,
        }
