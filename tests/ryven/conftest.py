"""Fixtures for the node package tests: the real servers' config, a headless backend, flows of the examples."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_backend import Orchestrator, example_workflows_dir, load_servers_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "example_projects"
WORKFLOWS = example_workflows_dir()
CPU_PROJECT = EXAMPLES / "cpu_chain.orchestrator.json"


@pytest.fixture(scope="session")
def servers_yaml(real_servers: list[str], real_state_dir: Path) -> Path:
    """servers.yaml of the 3 real local servers (ids local1..local3)."""
    return real_state_dir / "servers.yaml"


@pytest.fixture(scope="session")
def orch(servers_yaml: Path) -> Iterator[Orchestrator]:
    """A started backend over the real servers, shared by the headless tests."""
    o = Orchestrator(load_servers_config(servers_yaml)).start(wait_checked=True)
    yield o
    o.close()


@pytest.fixture(scope="session")
def specs() -> dict:
    from ryven_comfy_nodes.classes import specs_from_folder

    return {s.id: s for s in specs_from_folder(WORKFLOWS)}


@pytest.fixture(scope="session")
def editor(servers_yaml: Path, qapp, tmp_path_factory):
    """The one Ryven main window of the test process (Ryven's Config is a singleton), with the CPU example."""
    import os

    os.environ["QT_API"] = "pyside6"
    os.environ["RYVEN_COMFY_AUTOSAVE_DIR"] = str(tmp_path_factory.mktemp("autosave"))
    from ryven_comfy_nodes.launcher import create_editor

    ed = create_editor(load_servers_config(servers_yaml), CPU_PROJECT, app=qapp)
    ed.resize(1800, 1100)
    ed.show()
    yield ed
    from ryven_comfy_nodes.context import current_context

    ctx = current_context(create=False)
    if ctx is not None:
        ctx.dispatcher.stop()
        ctx.close()
