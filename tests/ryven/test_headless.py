"""Workflow nodes and flows without the GUI (ryvencore only), against the real servers."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from ryvencore import Data

from ryven_comfy_nodes.classes import workflow_class
from ryven_comfy_nodes.headless import apply_assignment, open_project, run_flows
from ryven_comfy_nodes.project_format import export_flows, load_orchestrator_session, save_orchestrator
from ryven_comfy_nodes.project_ryven import load_ryven_project, new_session
from ryven_comfy_nodes.utility_nodes import PreviewNode, SeedNode, TextNode
from ryven_comfy_nodes.values import refs_of
from ryven_comfy_nodes.workflow_spec import settable_fields

from .conftest import CPU_PROJECT

pytestmark = pytest.mark.real


def chain(specs, pin=("local1", "local2")):
    A, B = workflow_class(specs["blurred_colour"]), workflow_class(specs["invert_image"])
    session = new_session()
    flow = session.create_flow("main")
    a, b = flow.create_node(A), flow.create_node(B)
    preview = flow.create_node(PreviewNode)
    flow.connect_nodes(a.outputs[0], b.inputs[0])
    flow.connect_nodes(b.outputs[0], preview.inputs[0])
    a.target.server, b.target.server = pin
    return session, flow, a, b, preview


def param(node, node_id: str, input_name: str) -> str:
    """The id of the parameter at node_id.input_name, exposing the field first if needed."""
    p = node.spec.param_at(node_id, input_name)
    if p is None:
        node.expose(next(f for f in settable_fields(node.spec.prompt) if (f.node_id, f.input_name) == (node_id, input_name)))
        p = node.spec.param_at(node_id, input_name)
    return p.id


def pixel(orch, ref) -> tuple:
    data = orch.fetch_output(ref).result(30)
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((128, 128))


def test_node_class_from_workflow_has_ports_for_params_images_and_outputs(specs):
    cls = workflow_class(specs["invert_image"])
    assert cls.identifier.endswith("wf.invert_image")
    session = new_session()
    node = session.create_flow("f").create_node(cls)
    labels_in = [i.label_str for i in node.inputs]
    labels_out = [o.label_str for o in node.outputs]
    assert labels_in == ["image", "File name prefix"]
    assert labels_out == ["inverted", "received", "status"]


def test_identifiers_do_not_double_across_sessions(specs):
    cls = workflow_class(specs["blurred_colour"])
    for _ in range(3):
        new_session()
    assert cls.identifier == "ryven_comfy_nodes.wf.blurred_colour"


def test_connecting_nodes_runs_nothing(specs, orch):
    _, _, a, b, _ = chain(specs)
    assert a.run.status == "idle" and b.run.status == "idle"
    assert not any(j.label in ("blurred colour", "invert image") and not j.state.final for j in orch.jobs())


def test_chain_hands_the_image_to_the_next_server(specs, orch):
    _, flow, a, b, preview = chain(specs)
    a.set_value(param(a, "1", "color"), 0x204060)
    runs = run_flows(orch, [flow], timeout=120)
    assert runs[0].ok, (a.run, b.run)
    assert a.run.server == "local1" and b.run.server == "local2"
    blurred, inverted = a.run.outputs["3"][0], b.run.outputs["3"][0]
    assert blurred.server == "local1" and inverted.server == "local2"
    # the inverted image is the upstream image, inverted: the handover carried the real pixels
    inv, src = pixel(orch, inverted), pixel(orch, blurred)
    assert all(abs((255 - s) - i) <= 1 for s, i in zip(src, inv)), (src, inv)
    assert all(abs(s - e) <= 1 for s, e in zip(src, (0x20, 0x40, 0x60))), src
    assert refs_of(preview.value)[0] == inverted


def test_failed_upstream_blocks_downstream_and_retry_recovers(specs, orch):
    _, flow, a, b, _ = chain(specs)
    a.spec.prompt["2"]["inputs"]["sigma"] = 99.0  # not exposed, so not checked here: the server rejects it
    runs = run_flows(orch, [flow], timeout=120)
    assert not runs[0].ok
    assert a.run.status == "failed" and a.run.message
    assert b.run.status == "blocked" and "blurred colour" in b.run.message
    # retry: fix the value and run the downstream node; the failed upstream is run again first
    a.spec.prompt["2"]["inputs"]["sigma"] = 3.0
    from ryven_comfy_nodes.context import AppContext, current_context, set_context
    from ryven_comfy_nodes.threads import QueueDispatcher
    disp = QueueDispatcher()
    ctx = AppContext(orch, disp.post, owns_backend=False)
    previous = current_context(create=False)
    set_context(ctx)
    try:
        run = ctx.runner.run_nodes([b])
        import time
        end = time.monotonic() + 120
        while not run.finished and time.monotonic() < end:
            disp.drain(0.1)
    finally:
        ctx.close()
        set_context(previous)
    assert run.ok and a.run.status == "done" and b.run.status == "done"


def test_value_nodes_feed_parameters_and_randomized_params_change(specs, orch):
    session, flow, a, b, _ = chain(specs, pin=(None, None))
    text = flow.create_node(TextNode)
    text.inputs[0].default = Data("ryven-comfy/from-text")
    flow.connect_nodes(text.outputs[0], b.inputs[b.param_input_index(param(b, "3", "filename_prefix"))])
    color = param(a, "1", "color")
    a.spec.param(color).constraints.max = 0xFFFFFF
    a.randomize.add(color)
    first = a.values[color]
    runs = run_flows(orch, [flow], timeout=120)
    assert runs[0].ok, (a.run, b.run)
    assert a.values[color] != first and 0 <= a.values[color] <= 0xFFFFFF
    assert b.run.outputs["3"][0].filename.startswith("from-text")


def test_seed_node_fixed_or_random():
    session = new_session()
    flow = session.create_flow("f")
    seed = flow.create_node(SeedNode)
    seed.inputs[0].default = Data(7)
    seed.prepare_run()
    assert seed.outputs[0].val.payload == 7
    seed.inputs[1].default = Data(True)
    seed.prepare_run()
    assert seed.outputs[0].val.payload != 7


def test_ryven_project_round_trip_keeps_workflows_values_targets(specs):
    session, flow, a, b, _ = chain(specs)
    a.set_value(param(a, "1", "color"), 4242)
    a.set_value(param(a, "2", "sigma"), 1.5)
    a.unexpose("batch_size")
    data = session.serialize()
    _, flows = load_ryven_project(data, trust_pickles=True)  # our own session's state
    a2, b2 = [n for n in flows[0].nodes if hasattr(n, "spec")]
    assert a2.values["1.color"] == 4242 and a2.values["2.sigma"] == 1.5 and a2.target.server == "local1"
    labels = [i.label_str for i in a2.inputs]
    assert labels == [i.label_str for i in a.inputs]
    assert "Blur sigma" in labels and "Batch size" not in labels
    assert a2.spec == a.spec and b2.spec == b.spec
    assert flows[0].connected_output(b2.inputs[0]).node is a2


def test_orchestrator_format_round_trip(specs, tmp_path):
    session, flow, a, b, _ = chain(specs)
    a.set_value(param(a, "1", "color"), 777)
    a.randomize.add("1.color")
    path = tmp_path / "p.orchestrator.json"
    save_orchestrator(export_flows([flow], lambda n: (1.0, 2.0)), path)
    assert b"pickle" not in path.read_bytes() and "gASV" not in path.read_text()
    _, flows = load_orchestrator_session(path)
    a2 = next(n for n in flows[0].nodes if getattr(n, "spec", None) and n.spec.id == "blurred_colour")
    assert a2.values["1.color"] == 777 and a2.randomize == {"1.color"} and a2.target.server == "local1"
    assert export_flows(flows, lambda n: (1.0, 2.0)) == export_flows([flow], lambda n: (1.0, 2.0))


def test_set_assignments_by_node_title(specs):
    _, flows = open_project(CPU_PROJECT)
    apply_assignment(flows, "blurred colour.Blur radius=3")
    node = next(n for n in flows[0].nodes if n.title == "blurred colour")
    assert node.value_of(node.spec.param_at("2", "blur_radius").id) == 3
    from comfy_backend.errors import WorkflowError
    with pytest.raises(WorkflowError, match="no parameter"):
        apply_assignment(flows, "blurred colour.nope=1")
    with pytest.raises(WorkflowError, match="no node"):
        apply_assignment(flows, "nobody.x=1")


def test_server_bounds_reach_the_spec_and_out_of_range_is_refused_before_submitting(specs, orch):
    from comfy_backend.errors import WorkflowError
    from ryven_comfy_nodes.context import AppContext
    from ryven_comfy_nodes.headless import check_node_values, wait_node_definitions
    from ryven_comfy_nodes.threads import QueueDispatcher
    from ryven_comfy_nodes.workflow_spec import refine_spec

    assert set(wait_node_definitions(orch)) == {"local1", "local2", "local3"}
    infos = list(orch.all_node_definitions().values())  # the core's one cache
    # a spec loaded from a folder has no bounds; a server's definitions give them
    spec = specs["blurred_colour"].model_copy(deep=True)
    radius = next(f for f in settable_fields(spec.prompt) if f.input_name == "blur_radius")
    spec.params.append(radius.model_copy(update={"constraints": type(radius.constraints)()}))  # as saved without a server
    assert spec.param("2.blur_radius").constraints.max is None
    refined = refine_spec(spec, infos)
    assert refined.param("2.blur_radius").constraints.max == 31
    assert refined.param("width").constraints.min == 1
    assert refined.param("2.blur_radius").label == spec.param("2.blur_radius").label  # exposures stay
    # headless check (by the core): one line naming the node and the parameter, before any job
    session, flow, a, b, _ = chain(specs)
    a.set_value(param(a, "2", "blur_radius"), 40)
    with pytest.raises(WorkflowError, match=r"blurred colour: parameter 'Blur blur_radius': 40 is above the maximum 31"):
        check_node_values(orch, [flow])
    # the runner refuses it on the node too (the core checks each request before queueing it)
    disp = QueueDispatcher()
    ctx = AppContext(orch, disp.post, owns_backend=False)
    try:
        run = ctx.runner.run_nodes([a])
        while not run.finished:
            disp.drain(0.1)
        assert a.run.status == "failed"
        assert "above the maximum 31" in a.run.message and "not submitted" in a.run.message
        assert ctx.runner.snapshots == {}  # no job was submitted
    finally:
        ctx.close()


def test_sampler_combos_come_from_the_server(orch):
    from comfy_backend import ParameterError, RunRequest
    from ryven_comfy_nodes.headless import wait_node_definitions
    from ryven_comfy_nodes.workflow_spec import refine_spec, spec_from_prompt

    wait_node_definitions(orch)
    prompt = {"1": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    spec = spec_from_prompt(prompt, "sampler")
    field = next(f for f in settable_fields(prompt) if f.input_name == "sampler_name")
    spec.params = [field]
    spec = refine_spec(spec, list(orch.all_node_definitions().values()))
    choices = spec.params[0].constraints.choices
    assert "euler" in choices and "dpmpp_2m" in choices
    with pytest.raises(ParameterError, match=r"parameter 'Sampler': .*not one of"):
        orch.check(RunRequest(prompt, values={"1.sampler_name": "no_such_sampler"}, labels={"1.sampler_name": "Sampler"}))


def test_run_request_keys_values_by_field_and_leaves_random_seeds_to_the_core(specs):
    _, flow, a, b, _ = chain(specs)
    color = param(a, "1", "color")
    a.set_value(color, 5)
    a.randomize.add(color)
    req = a.run_request(outputs=["3"])
    assert "1.color" in req.random_seeds and "1.color" not in req.values
    assert req.labels["1.color"] == a.spec.param(color).label
    assert req.outputs == ("3",) and req.target.server == "local1" and req.label == "blurred colour"
    a.take_seeds({"1.color": 1234})
    assert a.values[color] == 1234
    # a connected parameter is left out of the check of own values
    text = flow.create_node(TextNode)
    prefix = param(b, "3", "filename_prefix")
    flow.connect_nodes(text.outputs[0], b.inputs[b.param_input_index(prefix)])
    assert "3.filename_prefix" not in b.run_request(own_only=True).values
