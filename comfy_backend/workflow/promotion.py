"""Promoted widgets: the values a subgraph instance (host node) owns for widgets inside it.

Two shapes exist in saved workflows:

* **widget-kind subgraph inputs** (frontend 1.2x): the host's ``widgets_values`` are
  positional over the subgraph inputs that feed a widget inside, in input order;
* **``properties.proxyWidgets``** (frontends of late 2025, which later migrate them into
  subgraph inputs, ``migrateLegacyProxyWidgets``): a list of ``[inner node id, widget
  name]``; the host's ``widgets_values`` are positional over that list. ``"-1"`` as the
  node id names a subgraph input (by name) instead of an inner node.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .graph import SUBGRAPH_INPUT_ID, Graph, Node

#: the node id a ``proxyWidgets`` entry uses for a subgraph input of that name
PROXY_SUBGRAPH_INPUT = "-1"


@dataclass(slots=True)
class Promotion:
    """Host-owned values: by subgraph input index, and by (inner node key, widget name)."""

    by_input: dict[int, tuple[int, Any]] = field(default_factory=dict)          # k → (host position, value)
    by_widget: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)

    def input_values(self) -> dict[int, Any]:
        return {k: v for k, (_pos, v) in self.by_input.items()}


def proxy_widgets(host: Node) -> list[tuple[str, str]] | None:
    """The host's ``proxyWidgets`` entries as ``(node id, widget name)``, or None without them."""
    raw = host.properties.get("proxyWidgets")
    if not isinstance(raw, list):
        return None
    out: list[tuple[str, str]] = []
    for e in raw:
        if isinstance(e, (list, tuple)) and len(e) >= 2 and isinstance(e[1], str) and isinstance(e[0], (str, int)):
            out.append((str(e[0]), e[1]))
    return out


def widget_inputs(sub: Graph) -> list[int]:
    """Indexes of the subgraph inputs that feed a widget inside (in input order)."""
    return [k for k in range(len(sub.sub_inputs)) if feeds_widget(sub, k)]


def feeds_widget(sub: Graph, k: int) -> bool:
    for link in sub.links.values():
        if link.origin_id == SUBGRAPH_INPUT_ID and link.origin_slot == k:
            t = sub.nodes.get(link.target_id)
            if t is not None and link.target_slot < len(t.inputs) and isinstance(t.inputs[link.target_slot].get("widget"), dict):
                return True
    return False


def promotion(host: Node, sub: Graph) -> Promotion:
    """What ``host`` owns for the subgraph ``sub`` it instantiates."""
    p = Promotion()
    wv = host.widgets_values if isinstance(host.widgets_values, list) else []
    proxies = proxy_widgets(host)
    if proxies is not None:
        names = [si.get("name") for si in sub.sub_inputs]
        for pos, (nid, name) in enumerate(proxies):
            if pos >= len(wv):
                break
            if nid == PROXY_SUBGRAPH_INPUT and name in names:
                p.by_input[names.index(name)] = (pos, wv[pos])
            elif nid in sub.nodes:
                p.by_widget[(nid, name)] = (pos, wv[pos])
        return p
    for pos, k in enumerate(widget_inputs(sub)):
        if pos < len(wv):
            p.by_input[k] = (pos, wv[pos])
    return p
