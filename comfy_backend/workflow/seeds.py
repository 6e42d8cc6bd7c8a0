"""The one seed rule: which values a seed may take, and how a random one is drawn.

ComfyUI accepts seeds from 0 to 2^64-1 (KSampler's ``seed``, ``noise_seed``). The
official frontend's *randomize* draws below 2^50, because a JavaScript number holds
integers exactly only up to 2^53; we draw the same way, so a seed we pick can be typed
back into the web UI unchanged. A field's own bounds (from ``/object_info``) narrow this.
"""
from __future__ import annotations

import random

#: the largest seed ComfyUI accepts (KSampler's ``seed`` input)
SEED_MAX = 0xFFFFFFFFFFFFFFFF
#: random seeds stay below this, as in the browser
RANDOM_SEED_LIMIT = 1125899906842624  # 2**50


def random_seed(minimum: float | None = None, maximum: float | None = None,
                rng: random.Random | None = None) -> int:
    """A random seed within the field's bounds (``minimum``..``maximum``), below 2^50."""
    low = max(0, int(minimum)) if minimum is not None else 0
    high = int(maximum) if maximum is not None else SEED_MAX
    high = max(low, min(high, RANDOM_SEED_LIMIT - 1))
    return (rng or random).randint(low, high)


def wrap_seed(value: int) -> int:
    """A seed moved past either end comes back in range (as ``increment`` does at 2^64-1)."""
    return value & SEED_MAX
