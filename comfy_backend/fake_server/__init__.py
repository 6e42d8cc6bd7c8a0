"""A faithful fake ComfyUI 0.3.75 server for tests and benchmarks.

    async with FakeComfyServer(speed=10, history_delay=0.01) as fake:
        ...  # talk to fake.url over HTTP / WebSocket; flip faults with fake.hang(), fake.kill(), ...

See `FakeComfyServer` for the fault controls and counters.
"""
from .nodes import NodeCost, PromptCost, default_node_cost
from .server import FakeComfyServer

__all__ = ["FakeComfyServer", "NodeCost", "PromptCost", "default_node_cost"]
