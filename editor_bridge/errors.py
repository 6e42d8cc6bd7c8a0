"""The editor bridge's errors: part of the core's one exception tree, so that callers (the CLI,
the node GUI) catch them by meaning: a server problem (``ComfyBackendError``) apart from a
workflow the server's web UI cannot take (``WorkflowError``)."""
from __future__ import annotations

from comfy_backend import ComfyBackendError, WorkflowError


class BridgeError(ComfyBackendError):
    """Something went wrong with a server's embedded web UI."""


class FrontendUnavailable(BridgeError):
    """The server is offline, refused the page, or serves no ComfyUI web UI."""


class PageTimeout(BridgeError):
    """The web UI did not become ready (or did not answer a call) in time."""


class FrontendVersionError(BridgeError):
    """The frontend's version is outside the tested range (only when the caller asked to be strict)."""


class BridgeCallError(BridgeError):
    """A call into the page failed in JavaScript (the message is the page's error)."""


class FrontendRefused(WorkflowError):
    """The web UI did not take the workflow; the page's graph was left as it was."""


class MissingNodeTypes(WorkflowError):
    """The workflow uses node types the server does not have; nothing was loaded."""

    def __init__(self, message: str, types: list[str]) -> None:
        super().__init__(message)
        self.types = types


__all__ = ["BridgeCallError", "BridgeError", "FrontendRefused", "FrontendUnavailable", "FrontendVersionError",
           "MissingNodeTypes", "PageTimeout"]
