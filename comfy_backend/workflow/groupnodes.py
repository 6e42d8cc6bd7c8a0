"""Legacy group nodes (``workflow>Name`` / ``workflow/Name``, defined in ``extra.groupNodes``)."""
from __future__ import annotations

from ..errors import WorkflowError
from .graph import Workflow


def expand_group_nodes(wf: Workflow) -> Workflow:
    for node in wf.root.nodes.values():
        if node.type.startswith(("workflow>", "workflow/")):
            raise WorkflowError(f"{node.where}: legacy group node {node.type!r} is not supported; "
                                "convert it to a subgraph in the ComfyUI editor")
    return wf
