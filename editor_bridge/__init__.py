"""editor_bridge: a server's real ComfyUI web UI in QtWebEngine, and sync with workflow nodes.

The front's bridge to the embedded editor (see README.md): :class:`EditorPage` loads one
server's web UI (credentials on every request, first-run dialog pre-empted, frontend version
checked), :func:`push` / :func:`pull` move a workflow in and out with its exposed parameters
re-bound (:func:`rebind_exposed`), and :func:`to_api` has the web UI convert a workflow.
Uses only the core's public face (``comfy_backend``, ``comfy_backend.workflow``).
"""
from .errors import (
    BridgeCallError,
    BridgeError,
    FrontendRefused,
    FrontendUnavailable,
    FrontendVersionError,
    MissingNodeTypes,
    PageTimeout,
)
from .headless import ensure_app, prepare_qt, to_api
from .lifecycle import close_all, flush_deletions
from .markers import MARKER_KEY, RebindDiff, api_markers, find_markers, rebind_exposed, with_markers
from .page import EditorPage, wait
from .sync import PullResult, PushResult, pull, push
from .version import TESTED_RANGE, FrontendInfo, check_version
from .view import EditorView

__all__ = [
    "MARKER_KEY", "TESTED_RANGE", "BridgeCallError", "BridgeError", "EditorPage", "EditorView", "FrontendInfo",
    "FrontendRefused", "FrontendUnavailable", "FrontendVersionError", "MissingNodeTypes", "PageTimeout",
    "PullResult", "PushResult", "RebindDiff", "api_markers", "check_version", "close_all", "ensure_app", "find_markers",
    "flush_deletions", "prepare_qt", "pull", "push", "rebind_exposed", "to_api", "wait", "with_markers",
]
