"""Cheaper painting of Ryven's canvas: what a node draws that does not change is cached.

Ryven paints every port of every node in Python (a pin and a label per port, each asking its
bounds of Python on every paint). With a hundred busy nodes in view, a repaint of the canvas
cost 60-280 ms. Here the parts of a node item that only change on a connection, a hover or a
selection are cached as pixmaps (``DeviceCoordinateCache``: repainted only when the item is
updated, which Qt does on hover and selection and we do on connections), and the port
containers, which draw nothing, are marked so Qt does not ask them for their bounds when painting.
The node's main widget (status, progress, thumbnails) is cached too: a busy node re-renders only
the part of it that changed, and its unchanged neighbours inside the same repainted region are
drawn from their pixmaps (rendering a hundred main widgets was half of a repaint of the canvas).
A child widget removed from a cached proxy must be hidden before it is deleted: Qt redraws the
cache where a widget is hidden, not where a still visible one is destroyed (its pixels stayed,
e.g. a parameter's old line edit under the spin box that replaced it: numbers drawn twice).

Ryven's pins, labels, port containers and titles also define ``boundingRect`` in Python as
exactly what ``QGraphicsWidget.boundingRect`` computes in C++; Qt asks it of every item on every
paint (9000 Python calls for one repaint of 100 nodes). ``native_bounds`` hands those back to C++.

Ryven's scene has no index, so every repaint, however small, walks all ~70 items of every node.
A node's body (``NodeItemWidget``: header, ports, editors, main widget, all inside its rect) clips
its children to its rect, which lets Qt skip the whole body of a node outside the repainted region
(a repaint of one node: 2.8 → 1.3 ms with 100 nodes in view; what is drawn is the same).
"""
from __future__ import annotations

import logging
from typing import Any

from qtpy.QtWidgets import QGraphicsItem, QGraphicsWidget
from ryvencore_qt.src.flows.nodes.NodeItem_TitleLabel import TitleLabel
from ryvencore_qt.src.flows.nodes.PortItem import PortItem, PortItemLabel, PortItemPin

log = logging.getLogger(__name__)

#: item classes whose drawing depends only on their port's connection and hover (the title is left
#: alone: it follows the node's selection, which Ryven redraws with a viewport update only)
CACHED = (PortItemPin, PortItemLabel)
#: Qt's default repaint mode for Ryven's view repaints the bounding rect of all changes: with
#: nodes changing all over the canvas that is the whole viewport on every frame
VIEWPORT_MODE = "MinimalViewportUpdate"


#: the Python body Ryven gives these classes' boundingRect: ``QRectF(QPointF(0, 0), self.geometry().size())``
_RYVEN_BOUNDS_NAMES = ("QRectF", "QPointF", "geometry", "size")


def native_bounds() -> list[str]:
    """Let Qt compute the bounds of Ryven's pins, labels, ports and titles in C++ (same result:
    a widget's rect at the origin). Only a ``boundingRect`` whose body is the one known above is
    replaced, so a Ryven version that computes something else keeps its own. Returns the classes changed."""
    changed = []
    for cls in (PortItem, PortItemPin, PortItemLabel, TitleLabel):
        fn = cls.__dict__.get("boundingRect")
        code = getattr(fn, "__code__", None)
        if code is None or tuple(code.co_names) != _RYVEN_BOUNDS_NAMES:
            continue
        # an attribute, not a deletion: PortItem would otherwise find GUIBase.boundingRect first
        cls.boundingRect = QGraphicsWidget.boundingRect
        changed.append(cls.__name__)
    if changed:
        log.debug("bounds computed by Qt for %s", ", ".join(changed))
    return changed


def cache_static_parts(node_item: Any) -> int:
    """Cache the unchanging parts of ``node_item`` (see the module doc); returns how many items."""
    n = 0
    stack = list(node_item.childItems())
    while stack:
        child = stack.pop()
        stack.extend(child.childItems())
        if isinstance(child, CACHED):
            if child.cacheMode() != QGraphicsItem.DeviceCoordinateCache:
                child.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
                n += 1
        elif isinstance(child, PortItem):
            # a port item only lays out its pin and label (children of the node item): no contents
            child.setFlag(QGraphicsItem.ItemHasNoContents, True)
    body = getattr(node_item, "widget", None)
    if body is not None:
        body.setFlag(QGraphicsItem.ItemClipsChildrenToShape, True)
    # a parameter's editor and the main widget: redrawn by Qt from a pixmap unless the widget changed
    proxies = [getattr(port_item, "proxy", None) for port_item in node_item.inputs]
    proxies.append(getattr(getattr(node_item, "widget", None), "main_widget_proxy", None))
    for proxy in proxies:
        if proxy is not None and proxy.cacheMode() != QGraphicsItem.DeviceCoordinateCache:
            proxy.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            n += 1
    _watch(node_item)
    return n


def _watch(node_item: Any) -> None:
    """Redraw the cached pin and label of this node's end when a connection is made or removed
    (Ryven only updates the node item itself)."""
    if getattr(node_item, "_rc_watched", False):
        return
    node_item._rc_watched = True
    flow = node_item.node.flow

    def changed(conn: tuple[Any, Any]) -> None:
        for port in conn:
            if port.node is node_item.node:
                _update_port(node_item, port)

    flow.connection_added.sub(changed)
    flow.connection_removed.sub(changed)
    node_item.destroyed.connect(lambda *_: (flow.connection_added.unsub(changed),
                                            flow.connection_removed.unsub(changed)))


def _update_port(node_item: Any, port: Any) -> None:
    for port_item in [*node_item.inputs, *node_item.outputs]:
        if port_item.port is port:
            port_item.pin.update()
            port_item.label.update()


def tune_view(view: Any) -> None:
    """Repaint only what changed in Ryven's flow view (once per view)."""
    from qtpy.QtWidgets import QGraphicsView

    if getattr(view, "_rc_tuned", False):
        return
    view._rc_tuned = True
    view.setViewportUpdateMode(getattr(QGraphicsView, VIEWPORT_MODE))
