"""Map a node's positional ``widgets_values`` onto its widget layout.

Saved workflows come from many frontend versions: some lack control widgets that a
newer server declares, some carry values for ``forceInput`` inputs (frontends before
1.16), some end early because the node gained inputs since. Rather than guessing with
keyword rules, the values are aligned to the layout by a small dynamic programme that
checks each value against the widget it would land in (the approach of comfyui-autograph);
a layout that fits exactly is taken as is without running it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .nodedefs import CONTROL_VALUES, WidgetSlot

_SKIP_COMPANION = 0.6   # a companion or forceInput widget that this save did not have
_SKIP_WIDGET = 2.5      # a real widget without a value (node gained an input since)
_SKIP_VALUE = 2.5       # a value without a widget (node lost an input, or an extension widget)


def fit(slot: WidgetSlot, v: Any) -> float:
    """How badly value ``v`` fits ``slot``: 0 is a perfect fit."""
    kind = slot.kind
    if kind == "control":
        return 0.0 if (v in CONTROL_VALUES or isinstance(v, bool)) else 4.0
    if kind == "filter":
        return 0.2 if isinstance(v, str) else 4.0
    if kind == "upload":
        return 0.2 if (v is None or isinstance(v, str)) else 4.0
    if v is None:
        return 0.5
    t = slot.type
    if t == "INT":
        if isinstance(v, bool):
            return 3.0
        if isinstance(v, int):
            return 0.0
        if isinstance(v, float):
            return 0.5 if v.is_integer() else 1.5
        return 4.0
    if t == "FLOAT":
        if isinstance(v, bool):
            return 3.0
        return 0.0 if isinstance(v, (int, float)) else 4.0
    if t == "BOOLEAN":
        return 0.0 if isinstance(v, bool) else 4.0
    if t == "STRING":
        return 0.0 if isinstance(v, str) else 3.0
    if t == "COMBO":
        choices = slot.choices
        if choices and _in(v, choices):
            return 0.0
        if isinstance(v, str):
            return 1.5 if v in CONTROL_VALUES else 0.3
        if isinstance(v, bool):
            return 3.0
        if isinstance(v, (int, float)):
            return 1.0
        return 2.0
    return 0.5


def _in(v: Any, choices: Sequence[Any]) -> bool:
    try:
        return v in choices
    except TypeError:
        return False


def _skip_cost(slot: WidgetSlot) -> float:
    return _SKIP_COMPANION if (slot.kind != "value" or slot.force_input) else _SKIP_WIDGET


def align(slots: Sequence[WidgetSlot], values: Sequence[Any]) -> list[int | None]:
    """For each slot, the index of its value in ``values`` (``None``: this save has no value for it)."""
    n, m = len(slots), len(values)
    if n == m and all(fit(s, v) < 1.0 for s, v in zip(slots, values)):
        return list(range(n))
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        row = cost[i]
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best, how = inf, 0
            if i and j:
                c = cost[i - 1][j - 1] + fit(slots[i - 1], values[j - 1])
                if c < best:
                    best, how = c, 1
            if i:  # skipping late slots is cheaper: nodes grow inputs at the end
                c = cost[i - 1][j] + _skip_cost(slots[i - 1]) + 0.001 * (n - i)
                if c < best:
                    best, how = c, 2
            if j:
                c = row[j - 1] + _SKIP_VALUE + 0.001 * (m - j)
                if c < best:
                    best, how = c, 3
            row[j], move[i][j] = best, how
    out: list[int | None] = [None] * n
    i, j = n, m
    while i or j:
        how = move[i][j]
        if how == 1:
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif how == 2:
            i -= 1
        else:
            j -= 1
    return out


def named_values(slots: Sequence[WidgetSlot], widgets_values: Any) -> list[tuple[WidgetSlot, Any, int | str | None]]:
    """``(slot, value, where)`` for each slot; ``where`` is the list index or dict key, ``None`` if absent.

    An absent value stands for the widget's default, as a fresh frontend widget would have.
    Dict-shaped ``widgets_values`` (VideoHelperSuite, rgthree) are keyed by widget name.
    """
    if isinstance(widgets_values, dict):
        out: list[tuple[WidgetSlot, Any, int | str | None]] = []
        for s in slots:
            if s.kind == "value" and s.name in widgets_values:
                out.append((s, widgets_values[s.name], s.name))
            else:
                out.append((s, s.default, None))
        return out
    values = widgets_values if isinstance(widgets_values, list) else []
    idx = align(slots, values)
    return [(s, values[k] if k is not None else s.default, k) for s, k in zip(slots, idx)]
