"""Markers written before a push and found again after edits in the web UI (Qt-free, no server)."""
from __future__ import annotations

import copy
import json

from comfy_backend.workflow import expose, list_fields
from editor_bridge.markers import MARKER_KEY, find_markers, rebind_exposed, with_markers
from tests.editor_bridge.conftest import SAMPLE

#: the six core node types of the sample, as ComfyUI 0.3.75 defines them
OBJECT_INFO = json.loads(SAMPLE.with_name("object_info_sample.json").read_text())


def _sample() -> tuple[dict, list]:
    wf = json.loads(SAMPLE.read_text())
    fields = {f.key: f for f in list_fields(wf)}
    taken: set[str] = set()
    exposed = [expose(fields[k], taken=taken) for k in ("1.width", "3.filename_prefix", "4.value")]
    return wf, exposed


def _node(wf: dict, nid: int) -> dict:
    return next(n for n in wf["nodes"] if n["id"] == nid)


def test_markers_are_written_on_each_exposed_node_and_found_again() -> None:
    wf, exposed = _sample()
    marked = with_markers(wf, exposed)
    assert MARKER_KEY not in _node(wf, 1)["properties"]   # the caller's workflow is not touched
    assert _node(marked, 1)["properties"][MARKER_KEY]["exposed"] == [
        {"input": "width", "param_id": exposed[0].id, "label": exposed[0].label}]
    assert find_markers(marked) == {exposed[0].id: [("1", "width")], exposed[1].id: [("3", "filename_prefix")],
                                    exposed[2].id: [("4", "value")]}
    # pushing again replaces the markers: an unexposed field loses its marker
    again = with_markers(marked, exposed[:1])
    assert MARKER_KEY not in _node(again, 4)["properties"]


def test_rebind_prefers_markers_then_ids() -> None:
    wf, exposed = _sample()
    old = with_markers(wf, exposed)
    new = copy.deepcopy(old)
    moved = _node(new, 1)
    moved["id"], moved["title"] = 9, "Canvas"          # re-titled and re-numbered: only the marker finds it
    new["links"] = [[1, 9, 0, 2, 0, "IMAGE"], *new["links"][1:]]
    new["nodes"] = [n for n in new["nodes"] if n["id"] != 4]    # an exposed node deleted
    diff = rebind_exposed(exposed, old, new)
    status = {b.parameter.id: (b.status, b.node_id) for b in diff.bindings}
    assert status[exposed[0].id] == ("moved", "9")
    assert status[exposed[1].id] == ("ok", "3")
    assert status[exposed[2].id][0] == "broken"
    assert "deleted" in diff.broken[0].reason
    assert diff.summary() == "1 kept, 1 moved, 1 broken"
    assert [p.node_id for p in diff.parameters] == ["9", "3"]


def test_a_marker_inside_a_subgraph_binds_to_the_instance() -> None:
    wf, exposed = _sample()
    old = with_markers(wf, exposed[:1])
    inner = copy.deepcopy(_node(old, 1))
    new = copy.deepcopy(old)
    new["nodes"] = [n for n in new["nodes"] if n["id"] != 1] + [
        {"id": 20, "type": "sub-1", "pos": [0, 0], "size": [200, 100], "flags": {}, "order": 0, "mode": 0,
         "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], "properties": {},
         "widgets_values": []}]
    new["links"][0] = [1, 20, 0, 2, 0, "IMAGE"]
    new["definitions"] = {"subgraphs": [{
        "id": "sub-1", "name": "Wrapped", "version": 1, "state": {"lastNodeId": 1, "lastLinkId": 1},
        "revision": 0, "config": {}, "inputNode": {"id": -10, "bounding": [0, 0, 10, 10]},
        "outputNode": {"id": -20, "bounding": [0, 0, 10, 10]}, "inputs": [],
        "outputs": [{"id": "o1", "name": "IMAGE", "type": "IMAGE", "linkIds": [5]}],
        "widgets": [], "nodes": [inner], "links": [{"id": 5, "origin_id": 1, "origin_slot": 0, "target_id": -20,
                                                     "target_slot": 0, "type": "IMAGE"}]}]}
    assert find_markers(new) == {exposed[0].id: [("20:1", "width")]}
    diff = rebind_exposed(exposed[:1], old, new, OBJECT_INFO)
    assert [(b.status, b.node_id) for b in diff.bindings] == [("moved", "20:1")]
