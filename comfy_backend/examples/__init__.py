"""Example workflows shipped with the package (package data, found through ``importlib.resources``).

``workflows/`` holds small API-format workflows that run on the local CPU servers; the
``demo`` command runs one and the Ryven node package offers each as a node type.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["example_workflow", "example_workflow_names", "example_workflows_dir"]


def example_workflows_dir() -> Path:
    """The folder of the bundled example workflows (``*.json``).

    Raises:
        RuntimeError: the package is installed in a form without a folder on disk (e.g. a
            zip file); ryven-comfy is always installed unpacked, so this is a broken install.
    """
    folder = resources.files(__name__) / "workflows"
    if not isinstance(folder, Path):
        raise RuntimeError(f"the example workflows are not a folder on disk ({folder}); reinstall ryven-comfy unpacked")
    return folder


def example_workflow_names() -> list[str]:
    """File names of the bundled example workflows, sorted (e.g. ``cpu_blur_invert_api.json``)."""
    return sorted(f.name for f in (resources.files(__name__) / "workflows").iterdir() if f.name.endswith(".json"))


def example_workflow(name: str) -> dict[str, Any]:
    """One bundled example workflow, parsed, by file name (``.json`` may be left out).

    Raises:
        FileNotFoundError: no example of that name; the message lists the ones there are.
    """
    file = name if name.endswith(".json") else f"{name}.json"
    if file not in example_workflow_names():
        raise FileNotFoundError(f"no example workflow {file!r}; there are: {', '.join(example_workflow_names())}")
    data: dict[str, Any] = json.loads((resources.files(__name__) / "workflows" / file).read_text(encoding="utf-8"))
    return data
