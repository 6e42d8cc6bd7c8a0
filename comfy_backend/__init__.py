"""comfy_backend: run ComfyUI workflows across several ComfyUI servers.

The public face — everything a front needs — is importable from here; see
docs/architecture.md. Qt-free; asyncio lives in the Orchestrator's worker thread.
"""
from .config import ServerConfig, ServersConfig, auth_headers, load_servers_config
from .discovery import find_servers_file, resolve_servers_config
from .errors import (
    ComfyBackendError,
    ConfigError,
    ConnectionLost,
    ErrorKind,
    ExecutionFailed,
    Interrupted,
    JobCancelled,
    JobError,
    NoServerAvailable,
    OutputPathError,
    ParameterError,
    ProvisionError,
    RequestTimeout,
    ServerError,
    ServerHTTPError,
    ValidationRejected,
    WorkflowError,
)
from .events import Event, JobEvent, NodeDefsEvent, PreviewEvent, ServerEvent
from .examples import example_workflows_dir
from .files import atomic_write_text
from .local_default import LocalStart, Starter, StartProgress, configured_servers_file, read_tail, servers_file_or_local
from .models import (
    Attempt,
    AttemptOutcome,
    Health,
    JobSnapshot,
    JobState,
    MediaKind,
    OutputRef,
    Progress,
    ServerSnapshot,
)
from .outputs import save_output
from .requests import RunRequest, Target, Upload
from .runtime import Dispatcher, JobHandle, MetricsSeries, Orchestrator
from .servers_file import ConfigChanged, ServersFile

__all__ = [
    "Attempt", "AttemptOutcome", "ComfyBackendError", "ConfigChanged", "ConfigError", "ConnectionLost", "Dispatcher",
    "ErrorKind", "Event", "ExecutionFailed", "Health", "Interrupted", "JobCancelled", "JobError", "JobEvent",
    "JobHandle", "JobSnapshot", "JobState", "LocalStart", "MediaKind", "MetricsSeries", "NoServerAvailable",
    "NodeDefsEvent", "Orchestrator", "OutputPathError", "OutputRef", "ParameterError", "PreviewEvent", "Progress",
    "ProvisionError", "RequestTimeout", "RunRequest", "ServerConfig", "ServerError", "ServerEvent", "ServerHTTPError",
    "ServerSnapshot", "ServersConfig", "ServersFile", "StartProgress", "Starter", "Target", "Upload",
    "ValidationRejected", "WorkflowError", "atomic_write_text", "auth_headers", "configured_servers_file",
    "example_workflows_dir", "find_servers_file", "load_servers_config", "read_tail", "resolve_servers_config",
    "save_output", "servers_file_or_local",
]
