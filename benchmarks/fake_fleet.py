"""Run N fake ComfyUI servers in their own process (so a benchmark measures only its client).

Prints one JSON line ``{"urls": [...]}`` when ready, then serves until stdin closes.
``python -m benchmarks.fake_fleet --speeds 1,2,4 --models checkpoints=fake.safetensors``
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from comfy_backend.fake_server import FakeComfyServer


async def main_async(speeds: list[float], models: dict[str, list[str]], history_delay: float) -> None:
    servers = [FakeComfyServer(speed=s, models=models, history_delay=history_delay) for s in speeds]
    for s in servers:
        await s.start()
    print(json.dumps({"urls": [s.url for s in servers]}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    for s in servers:
        await s.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speeds", default="1,1,1,1,1,1,1,1,1,1")
    ap.add_argument("--models", action="append", default=[], help="FOLDER=FILE[,FILE...]")
    ap.add_argument("--history-delay", type=float, default=0.01)
    a = ap.parse_args()
    models = {}
    for m in a.models:
        folder, files = m.split("=", 1)
        models[folder] = files.split(",")
    asyncio.run(main_async([float(x) for x in a.speeds.split(",")], models, a.history_delay))


if __name__ == "__main__":
    main()
