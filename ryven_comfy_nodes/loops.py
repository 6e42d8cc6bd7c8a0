"""Loops in a flow's connections: nodes that feed each other can never run (each waits for the other).

One search for the three places that need it: the pickle-free project format and Ryven
projects (checked in the file, before anything is loaded) and the flow runner (live nodes,
before anything runs). Iterative, so a long chain cannot exhaust the stack.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from comfy_backend import WorkflowError

N = TypeVar("N", bound=Hashable)


def find_loop(nodes: Iterable[N], feeders: Callable[[N], Iterable[N]]) -> list[N] | None:
    """A loop among ``nodes`` and what feeds them, in feeding order with its first node repeated
    at the end (``[a, b, a]``: a feeds b, b feeds a); None when there is none."""
    done: set[N] = set()
    for root in nodes:
        if root in done:
            continue
        path = [root]
        on_path = {root}
        stack = [iter(feeders(root))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                loop = path[path.index(nxt):]  # each is fed by the next one
                return [*reversed(loop), loop[-1]]
            if nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(feeders(nxt)))
    return None


def refuse_loop(loop: list[N] | None, name: Callable[[N], str], where: str = "") -> None:
    """Raise WorkflowError naming the nodes of ``loop`` (nothing when it is None)."""
    if loop is None:
        return
    prefix = f"{where}: " if where else ""
    raise WorkflowError(f"{prefix}nodes feed each other in a loop ({' → '.join(name(n) for n in loop)}), "
                        "so none of them could ever run; remove a connection of the loop")
