"""Push a node's workflow into a server's web UI and pull the edited one back, re-bound.

Both return ``concurrent.futures.Future`` objects completed on the GUI thread (see
:class:`~.page.EditorPage`). A failure leaves the page's graph and the caller's workflow as
they were: unknown node types are refused before loading; a graph the frontend does not take is
rolled back in the page.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from comfy_backend import WorkflowError
from comfy_backend.workflow import ExposedParameter, NodeDefs, ParsedWorkflow

from .errors import FrontendRefused, MissingNodeTypes
from .markers import RebindDiff, api_markers, rebind_exposed, with_markers
from .page import EditorPage

log = logging.getLogger(__name__)
A = TypeVar("A")
B = TypeVar("B")


@dataclass(frozen=True)
class PushResult:
    """What was loaded into the web UI."""

    workflow: dict[str, Any]          #: the workflow as pushed (markers written in)
    path: str                         #: the tab's workflow path, e.g. ``workflows/My node.json``
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PullResult:
    """What the web UI shows now, and how the exposed parameters re-bind in it."""

    workflow: dict[str, Any]          #: ``app.graph.serialize()``: the UI workflow
    prompt: dict[str, Any]            #: ``(await app.graphToPrompt()).output``: the API prompt
    diff: RebindDiff                  #: kept / moved / broken, and every field of the new workflow
    version: str | None = None


def _then(fut: Future[A], fn: Callable[[A], B]) -> Future[B]:
    """A future of ``fn(result)``; an exception of ``fut`` or of ``fn`` passes through."""
    out: Future[B] = Future()
    out.set_running_or_notify_cancel()

    def done(f: Future[A]) -> None:
        exc = f.exception()
        if exc is not None:
            out.set_exception(exc)
            return
        try:
            out.set_result(fn(f.result()))
        except Exception as err:   # handed to the caller through the future, not swallowed
            out.set_exception(err)

    fut.add_done_callback(done)
    return out


def _failed(exc: Exception) -> Future[Any]:
    fut: Future[Any] = Future()
    fut.set_running_or_notify_cancel()
    fut.set_exception(exc)
    return fut


def _check_answer(page: EditorPage, answer: Any, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise FrontendRefused(f"the web UI of server '{page.server.id}' gave no answer to {what}")
    missing = answer.get("missing")
    if missing:
        names = ", ".join(sorted(str(m) for m in missing))
        raise MissingNodeTypes(f"server '{page.server.id}' lacks node types {names}: install them there "
                               "(or pick another server); nothing was loaded", sorted(str(m) for m in missing))
    if not answer.get("ok"):
        raise FrontendRefused(f"the web UI of server '{page.server.id}' refused the workflow: "
                              f"{answer.get('refused') or 'unknown reason'}; its graph was left as it was")
    return answer


def push(page: EditorPage, workflow: dict[str, Any], *, name: str,
         exposed: Sequence[ExposedParameter] = ()) -> Future[PushResult]:
    """Load ``workflow`` into the active tab of ``page``, named ``name``, markers written in.

    The workflow replaces the active tab's graph and the tab takes ``name`` (a new tab when the
    active one is a saved workflow): the first push replaces the page's initial "Unsaved
    Workflow", later ones the node's tab. An API prompt is laid out by ``loadApiJson``, which
    always opens a tab of its own; its graph is moved into the active tab and that tab closed.
    """
    try:
        model = ParsedWorkflow.of(workflow)
        if model.is_ui:
            _ = model.graph   # malformed UI workflows fail here, before the page is touched
    except WorkflowError as exc:
        return _failed(exc)
    if model.is_ui:
        marked = with_markers(workflow, exposed)
        call = page.call("push", marked, name)
    else:
        marked = workflow
        call = page.call("pushApi", workflow, name, api_markers(exposed))

    def finish(answer: Any) -> PushResult:
        a = _check_answer(page, answer, "push")
        page.mark_synced()
        return PushResult(workflow=marked, path=str(a.get("path") or ""), warnings=list(a.get("warnings") or []))

    return _then(call, finish)


def pull(page: EditorPage, *, exposed: Sequence[ExposedParameter] = (), pushed: dict[str, Any] | None = None,
         object_info: NodeDefs | dict[str, Any] | None = None) -> Future[PullResult]:
    """Read the web UI's graph and API prompt, and re-bind ``exposed`` (parameters of ``pushed``).

    ``object_info`` (the server's node definitions) names positional widget values; without it
    they are named from the workflow's own widget sockets.
    """

    def finish(answer: Any) -> PullResult:
        if not isinstance(answer, dict) or not isinstance(answer.get("workflow"), dict):
            raise FrontendRefused(f"the web UI of server '{page.server.id}' gave no graph")
        new = answer["workflow"]
        diff = rebind_exposed(exposed, pushed if pushed is not None else new, new, object_info)
        page.mark_synced()
        return PullResult(workflow=new, prompt=answer.get("output") or {}, diff=diff, version=answer.get("version"))

    return _then(page.call("pull"), finish)


__all__ = ["PullResult", "PushResult", "pull", "push"]
