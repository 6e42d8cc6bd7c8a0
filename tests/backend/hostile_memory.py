"""Peak memory of downloading a huge or endless /view body, before and after issue 8.

``python -m tests.backend.hostile_memory`` starts a hostile fake server in a subprocess
and measures each case in a fresh process (peak RSS only grows): "before" reads the body
into memory as the client used to (``resp.read()``), "after" streams it with
``download_output`` within the 2 GiB default limit. Prints one line per case; no asserts.
"""
from __future__ import annotations

import subprocess
import sys

SERVER = """
import asyncio, sys
from comfy_backend.fake_server import FakeComfyServer
async def main():
    srv = FakeComfyServer()
    await srv.start()
    srv.hostile.on("/view", endless=sys.argv[1] == "endless", body_size=int(sys.argv[2]))
    print(srv.url, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

CASE = """
import asyncio, resource, sys, tempfile, time
from pathlib import Path
import aiohttp
from comfy_backend.client import ComfyClient
from comfy_backend.config import parse_servers_config
from comfy_backend.models import OutputRef
from comfy_backend.outputs import download_output
url, how, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
async def main():
    cfg = parse_servers_config({"servers": [{"id": "h", "url": url}], "defaults": {"max_output_bytes": cap}}).servers[0]
    async with aiohttp.ClientSession() as session:
        t = time.monotonic()
        outcome = "ok"
        try:
            if how == "before":
                async with session.get(url + "/view", params={"filename": "x.png", "subfolder": "", "type": "output"},
                                       timeout=aiohttp.ClientTimeout(total=120)) as resp:
                    n = len(await resp.read())
            else:
                client = ComfyClient(cfg, session)
                with tempfile.TemporaryDirectory() as d:
                    ref = OutputRef("h", "9", "x.png", "", "output")
                    p = await download_output(lambda s: client.view_to("x.png", "", "output", s), ref, Path(d))
                    n = p.stat().st_size
        except Exception as exc:
            outcome = type(exc).__name__
            n = -1
        print(f"{how:<6} bytes={n} outcome={outcome} seconds={time.monotonic() - t:.1f} "
              f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
asyncio.run(main())
"""


def run(body: str, size: int, how: str, cap: int) -> str:
    srv = subprocess.Popen([sys.executable, "-c", SERVER, body, str(size)], stdout=subprocess.PIPE, text=True)
    try:
        url = srv.stdout.readline().strip() if srv.stdout else ""
        out = subprocess.run([sys.executable, "-c", CASE, url, how, str(cap)], capture_output=True, text=True, timeout=600)
        return (out.stdout + out.stderr[-300:]).strip()
    finally:
        srv.terminate()
        srv.wait()


def main() -> None:
    mb = 2**20
    for body, size, hows, cap in [("sized", 1000 * mb, ("before", "after"), 2 * 2**30),
                                  ("endless", 0, ("after",), 2 * 2**30)]:
        for how in hows:
            print(f"{body:<8} {run(body, size, how, cap)}", flush=True)


if __name__ == "__main__":
    main()
