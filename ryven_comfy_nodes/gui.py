"""GUI of the node package, imported by Ryven only in GUI mode (``@on_gui_load`` in ``nodes.py``).

Registers the node GUIs; when Ryven loaded the package by itself (File → Import
Nodes, ``~/.ryven/nodes``) rather than through ``ryven-comfy editor``, it also
installs a context factory (default servers config) and our docks and menu.
"""
from __future__ import annotations

import logging

from qtpy.QtCore import QTimer
from ryven.gui_env import node_gui

from comfy_backend import find_servers_file, resolve_servers_config

from . import gui_editor
from .context import AppContext, set_factory
from .gui_node import WorkflowGui
from .gui_utility import register_utility_guis
from .launcher import make_context
from .workflow_node import WorkflowNode

log = logging.getLogger(__name__)

node_gui(WorkflowNode)(WorkflowGui)  # inherited by every generated workflow class
register_utility_guis()


def _context_from_default_config() -> AppContext | None:
    if find_servers_file() is None:
        log.warning("no servers config: set RYVEN_COMFY_SERVERS or start with 'ryven-comfy editor'")
        return None
    return make_context(resolve_servers_config(None))


def _install_later() -> None:
    gui_editor.install(gui_editor.find_main_window())


set_factory(_context_from_default_config)
QTimer.singleShot(0, _install_later)
