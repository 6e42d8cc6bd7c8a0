"""What a caller asks the core to run: a :class:`RunRequest`, with its uploads and target.

Plain frozen data. The prompt sent to a server is built from a request by one step,
:func:`comfy_backend.workflow.prepare.prepare`, with that server's node definitions.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError


@dataclass(frozen=True)
class Upload:
    """A file to upload to whichever server runs the job, then set as ``node_id.input``."""

    node_id: str
    input: str
    data: bytes
    filename: str
    subfolder: str = ""


@dataclass(frozen=True)
class Target:
    """Where a job may run: anywhere (auto), a pinned server, or servers with all these tags."""

    server: str | None = None
    tags: tuple[str, ...] = ()

    def describe(self) -> str:
        """A phrase for messages: "server 'a'", "servers tagged x, y" or "any server"."""
        if self.server:
            return f"server '{self.server}'"
        if self.tags:
            return "servers tagged " + ", ".join(self.tags)
        return "any server"


@dataclass(frozen=True)
class RunRequest:
    """One run of a workflow.

    ``workflow`` is an API prompt or a UI workflow (loaded JSON); a UI workflow is
    converted with the node definitions of the server that runs it. ``values`` are keyed
    by field key ``"node_id.input_name"`` (API node ids, e.g. ``"12:5.seed"``) and checked
    against that server's constraints; ``labels`` name fields in error messages
    (``parameter 'Blur radius': 40 is above the maximum 31``). Every field in
    ``random_seeds`` gets a fresh random seed within its bounds. ``outputs`` lists the
    wanted output node ids (empty: all); only the nodes they need are sent. With
    ``fetch_outputs`` the output files are downloaded as part of the job (it succeeds only
    once they are in hand, and is re-run elsewhere if its server vanishes first); they are
    then served by ``fetch_output`` / ``save_outputs`` from memory, whatever the server does.
    """

    workflow: Mapping[str, Any]
    values: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    random_seeds: tuple[str, ...] = ()
    uploads: tuple[Upload, ...] = ()
    target: Target = field(default_factory=Target)
    outputs: tuple[str, ...] = ()
    label: str = ""
    max_attempts: int | None = None
    extra_data: Mapping[str, Any] | None = None
    fetch_outputs: bool = False

    @property
    def plain(self) -> bool:
        """True when the workflow goes out as it is on every server (nothing to convert, write or prune)."""
        return not (self.values or self.random_seeds or self.outputs) and "nodes" not in self.workflow


def split_key(key: str) -> tuple[str, str]:
    """``"12:5.seed"`` → ``("12:5", "seed")``. Node ids hold no dots, so the first dot splits."""
    node_id, sep, name = key.partition(".")
    if not sep or not node_id or not name:
        raise ParameterError(f"{key!r}: a field key is NODE_ID.INPUT_NAME")
    return node_id, name
