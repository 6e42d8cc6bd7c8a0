"""Small asyncio helpers shared by the backend."""
from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` passes; True if it was set.

    Unlike ``asyncio.wait_for(event.wait(), timeout)`` on Python 3.11, a cancellation
    arriving while the timeout fires is never swallowed, so loops built on this stop
    when their task is cancelled.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
        return bool(done)
    finally:
        waiter.cancel()
