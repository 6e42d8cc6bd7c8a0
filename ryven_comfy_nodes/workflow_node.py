"""The workflow node: one ComfyUI workflow as a Ryven node (Qt-free, ryvencore only).

Ports: image inputs, then exposed parameters; one output per output node of
the workflow, then ``status``. The node only *holds* its workflow, values,
target and last run; running is the flow runner's job, so nothing runs merely
because nodes were connected (``update_event`` does nothing).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ryvencore import Data, Node, NodeInputType, NodeOutputType
from ryvencore.Base import Event

from comfy_backend import OutputRef, Progress, RunRequest, Target, Upload

from .run_state import RunState, RunStatus, check_transition
from .values import outputs_value
from .workflow_spec import ObjectInfo, ParamSpec, TargetSpec, WorkflowSpec, refine_spec

log = logging.getLogger(__name__)

STATE_VERSION = 2  # 2: the spec may hold a UI workflow (``ui``); 1 still loads


class WorkflowNode(Node):
    """Base of every generated workflow node class. Not exported itself."""

    title = "ComfyUI workflow"
    version = "1"
    identifier = "wf._base"
    spec_template: WorkflowSpec | None = None
    init_inputs: list[NodeInputType] = []
    init_outputs: list[NodeOutputType] = []

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        assert self.spec_template is not None, "use a generated workflow class"
        self.spec: WorkflowSpec = self.spec_template.model_copy(deep=True)
        self.values: dict[str, Any] = {p.id: p.default for p in self.spec.params}
        self.target = TargetSpec()
        self.randomize: set[str] = set()  # SEED parameters that get a new random value per run
        self.run = RunState()
        self.run_changed = Event()      # the run state changed (GUI listens)
        self.params_changed = Event()   # exposures or values changed
        self.removed = Event(object)    # the node left its flow (the runner cancels its job)
        self.webui_state: dict[str, Any] = {}  # its open web-UI tab: dirty marks, server, last error (GUI only)

    # -- ports -------------------------------------------------------------------------
    @staticmethod
    def ports_for(spec: WorkflowSpec) -> tuple[list[NodeInputType], list[NodeOutputType]]:
        ins = [NodeInputType(label=i.label) for i in spec.image_inputs]
        ins += [NodeInputType(label=p.label, default=Data(p.default)) for p in spec.params]
        outs = [NodeOutputType(label=o.label) for o in spec.outputs] + [NodeOutputType(label="status")]
        return ins, outs

    def image_input_index(self, image_id: str) -> int:
        return next(i for i, s in enumerate(self.spec.image_inputs) if s.id == image_id)

    def param_input_index(self, param_id: str) -> int:
        return len(self.spec.image_inputs) + next(i for i, p in enumerate(self.spec.params) if p.id == param_id)

    @property
    def status_output_index(self) -> int:
        return len(self.spec.outputs)

    def connected(self, index: int) -> bool:
        return self.flow.connected_output(self.inputs[index]) is not None

    # -- values ------------------------------------------------------------------------
    def set_value(self, param_id: str, value: Any) -> None:
        """Set an exposed parameter's own value (used when its port is not connected)."""
        if self.spec.param(param_id) is None:
            raise KeyError(param_id)
        self.values[param_id] = value
        self.inputs[self.param_input_index(param_id)].default = Data(value)
        self.params_changed.emit()

    def value_of(self, param_id: str) -> Any:
        """The value a run uses: the connected upstream value, else the node's own."""
        idx = self.param_input_index(param_id)
        if self.connected(idx):
            data = self.input(idx)
            return None if data is None else data.payload
        return self.values.get(param_id)

    def current_values(self) -> dict[str, Any]:
        return {p.id: self.value_of(p.id) for p in self.spec.params}

    def image_source(self, image_id: str) -> Any:
        """The upstream value connected to an image input (None when unconnected)."""
        idx = self.image_input_index(image_id)
        if not self.connected(idx):
            return None
        data = self.input(idx)
        return None if data is None else data.payload

    def expose(self, field_: ParamSpec) -> None:
        """Add a settable field of the workflow as a parameter port."""
        if self.spec.param(field_.id) is not None:
            return
        self.spec.params.append(field_)
        self.values[field_.id] = field_.default
        self.create_input(label=field_.label, default=Data(field_.default))
        self.params_changed.emit()

    def unexpose(self, param_id: str) -> None:
        """Remove a parameter port; the workflow keeps its original value there."""
        if self.spec.param(param_id) is None:
            return
        idx = self.param_input_index(param_id)
        self.delete_input(idx)
        self.spec.params = [p for p in self.spec.params if p.id != param_id]
        self.values.pop(param_id, None)
        self.params_changed.emit()

    def run_request(self, *, outputs: Iterable[str] = (), uploads: Iterable[Upload] = (),
                    own_only: bool = False) -> RunRequest:
        """What one run of this node asks the core: its workflow, values, random seeds, target.

        Values are keyed ``node_id.input_name`` and labelled for messages; *random* seed
        parameters whose port is not connected are drawn by the core (``JobHandle.seeds``).
        ``outputs`` are output port ids (Run preview); with ``own_only`` connected
        parameters are left out (checked when their upstream values have arrived).
        """
        values: dict[str, Any] = {}
        labels: dict[str, str] = {}
        seeds: list[str] = []
        for p in self.spec.params:
            key = f"{p.node_id}.{p.input_name}"
            connected = self.connected(self.param_input_index(p.id))
            if own_only and connected:
                continue
            labels[key] = p.label
            if p.id in self.randomize and not connected:
                seeds.append(key)
            else:
                values[key] = self.value_of(p.id)
        wanted = set(outputs)
        # The UI workflow when the node has one: the core converts it for the server that runs the job.
        # Outputs come with the job (fetch_outputs): it succeeds only with its files in hand.
        return RunRequest(
            workflow=self.spec.workflow, fetch_outputs=True, values=values, labels=labels, random_seeds=tuple(seeds),
            uploads=tuple(uploads), target=Target(server=self.target.server or None, tags=tuple(self.target.tags)),
            outputs=tuple(o.node_id for o in self.spec.outputs if o.id in wanted), label=self.title)

    def take_seeds(self, seeds: dict[str, int]) -> None:
        """Show the random seeds the core drew for a run (field key → seed) as the parameters' values."""
        for key, seed in seeds.items():
            p = self.spec.param(key)
            if p is not None:
                self.set_value(p.id, seed)

    def refine(self, object_info: ObjectInfo | list[dict[str, Any]]) -> bool:
        """Take parameter types, bounds and choices from servers' node definitions; True if any changed."""
        spec = refine_spec(self.spec, object_info)
        if spec is self.spec:
            return False
        self.spec = spec
        self.params_changed.emit()
        return True

    # -- run state (called by the flow runner, on the flow's thread) -----------------------
    def _enter(self, status: RunStatus) -> RunState:
        run = self.run
        run.status = check_transition(run.status, status, f"node {self.title!r}")
        return run

    def mark_pending(self) -> None:
        """Part of a run, waiting for its upstream nodes."""
        run = self._enter(RunStatus.PENDING)
        run.message, run.server = "", None
        self.run_changed.emit()

    def mark_blocked(self, message: str) -> None:
        """Not run because an upstream node did not succeed."""
        run = self._enter(RunStatus.BLOCKED)
        run.message, run.server = message, None
        self.run_changed.emit()

    def mark_starting(self, uploading: bool) -> None:
        """Values checked; fetching upstream images first when ``uploading``."""
        run = self._enter(RunStatus.UPLOADING if uploading else RunStatus.STARTING)
        run.message, run.server, run.job_id = "", None, None
        self.run_changed.emit()

    def mark_queued(self, job_id: str) -> None:
        """Submitted to the backend as job ``job_id``."""
        self._enter(RunStatus.QUEUED).job_id = job_id
        self.run_changed.emit()

    def mark_progress(self, status: RunStatus, server: str | None, progress: Progress) -> None:
        """The job moved (queued, submitted, running) or reported progress."""
        run = self._enter(status)
        run.server, run.progress = server, progress
        self.run_changed.emit()

    def mark_done(self, server: str | None, progress: Progress, seconds: float | None,
                  refs: list[OutputRef]) -> None:
        """The job succeeded: its files go on the output ports."""
        run = self._enter(RunStatus.DONE)
        run.server, run.progress, run.seconds = server, progress, seconds
        run.message = f"{seconds:.1f}s" if seconds is not None else ""
        self.publish_outputs(refs)
        self.run_changed.emit()

    def mark_failed(self, message: str, server: str | None = None, *, cancelled: bool = False) -> None:
        """The run ended without a result (``cancelled`` by the user, else failed); the status port says why."""
        run = self._enter(RunStatus.CANCELLED if cancelled else RunStatus.FAILED)
        run.message = message
        if server is not None:
            run.server = server
        self.set_output_val(self.status_output_index, Data(self.status_value()))
        self.run_changed.emit()

    def redraw(self) -> None:
        """Something shown with the run state changed (e.g. the target): redraw."""
        self.run_changed.emit()

    def publish_outputs(self, refs: list[OutputRef]) -> None:
        """Put a finished job's files on the output ports (which propagates to Preview nodes)."""
        by_node: dict[str, list[OutputRef]] = {}
        for r in refs:
            by_node.setdefault(r.node_id, []).append(r)
        self.run.outputs = {o.id: by_node.get(o.node_id, []) for o in self.spec.outputs}
        for i, o in enumerate(self.spec.outputs):
            self.set_output_val(i, Data(outputs_value(self.run.outputs[o.id], o.kind)))
        self.set_output_val(self.status_output_index, Data(self.status_value()))

    def status_value(self) -> dict[str, Any]:
        return {"status": self.run.status.value, "server": self.run.server, "message": self.run.message}

    # -- ryvencore hooks ---------------------------------------------------------------------
    def update_event(self, inp: int = -1) -> None:
        """Inputs changed: nothing runs (jobs start only from Run / Run flow)."""

    def remove_event(self) -> None:
        self.removed.emit(self)

    def get_state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "spec": self.spec.model_dump(mode="json"),
            "values": dict(self.values),
            "target": self.target.model_dump(mode="json"),
            "randomize": sorted(self.randomize),
            "last": {
                "status": (RunStatus.IDLE if self.run.busy else self.run.status).value,
                "server": self.run.server,
                "message": self.run.message,
                "outputs": {k: [r.to_dict() for r in v] for k, v in self.run.outputs.items()},
            },
        }

    def set_state(self, data: dict[str, Any], version: Any) -> None:
        if not isinstance(data, dict) or "spec" not in data:
            return
        self.spec = WorkflowSpec.model_validate(data["spec"])
        self.values = dict(data.get("values") or {})
        self.target = TargetSpec.model_validate(data.get("target") or {})
        self.randomize = set(data.get("randomize") or [])
        last = data.get("last") or {}
        self.run = RunState(
            status=RunStatus.parse(last.get("status", "idle")), server=last.get("server"), message=last.get("message", ""),
            outputs={k: [OutputRef(**r) for r in v] for k, v in (last.get("outputs") or {}).items()},
        )
