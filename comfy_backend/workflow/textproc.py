"""Browser-side value transforms of the frontend, reproduced headless.

- Dynamic prompts: widgets flagged ``dynamicPrompts`` (CLIPTextEncode ``text`` …) have
  ``/* */`` and ``//`` comments stripped and each ``{a|b|c}`` replaced by one random
  option when queued. The frontend writes the resolved text back into the workflow it
  saves, so a saved pair already holds the resolved text; a fresh workflow does not.
- Save-node text replacement: ``filename_prefix`` of Save* nodes has ``%date:FORMAT%``
  replaced by the current time and ``%Node.widget%`` by that widget's value.
"""
from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any

_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")
_REPLACE = re.compile(r"%([^%]+)%")

#: Node classes whose ``filename_prefix`` the frontend runs through text replacement.
SAVE_NODE_TYPES = frozenset({
    "SaveImage", "SaveAnimatedWEBP", "SaveAnimatedPNG", "SaveWEBM", "SaveVideo", "SaveAudio",
    "SaveAudioMP3", "SaveAudioOpus", "SaveGLB", "Save3D", "SaveLatent", "CheckpointSave",
    "CLIPSave", "VAESave", "ModelSave", "LoraSave", "ImageAndMaskPreview",
})


def strip_comments(text: str) -> str:
    return _COMMENTS.sub("", text)


def resolve_dynamic_prompt(text: str, rng: random.Random | None = None) -> str:
    """Strip comments and resolve ``{a|b}`` choices (innermost first), as the frontend does."""
    r = rng or random.Random()
    out = strip_comments(text)
    pattern = re.compile(r"(?<!\\)\{([^{}]*?)(?<!\\)\}")
    for _ in range(10_000):  # bounded: each pass removes one pair of braces
        m = pattern.search(out)
        if not m:
            break
        options = m.group(1).split("|")
        out = out[: m.start()] + r.choice(options) + out[m.end():]
    return out


def format_date(fmt: str, now: time.struct_time | None = None) -> str:
    t = now or time.localtime()
    parts = {
        "yyyy": f"{t.tm_year:04d}", "yy": f"{t.tm_year % 100:02d}",
        "MM": f"{t.tm_mon:02d}", "M": str(t.tm_mon), "dd": f"{t.tm_mday:02d}", "d": str(t.tm_mday),
        "hh": f"{t.tm_hour:02d}", "h": str(t.tm_hour), "mm": f"{t.tm_min:02d}", "m": str(t.tm_min),
        "ss": f"{t.tm_sec:02d}", "s": str(t.tm_sec),
    }
    return re.sub(r"yyyy|yy|MM|M|dd|d|hh|h|mm|m|ss|s", lambda m: parts[m.group(0)], fmt)


def apply_text_replacements(value: str, lookup: Callable[[str, str], Any | None],
                            now: time.struct_time | None = None) -> str:
    """Replace ``%date:FMT%`` and ``%Node.widget%``; unknown patterns stay as they are.

    ``lookup(node_name, widget)`` returns the widget's value or None when no node/widget matches.
    """
    def repl(m: re.Match[str]) -> str:
        text = m.group(1)
        split = text.split(".")
        if len(split) != 2:
            if split[0].startswith("date:"):
                return format_date(split[0][5:], now)
            return m.group(0)
        v = lookup(split[0], split[1])
        if v is None:
            return m.group(0)
        return re.sub(r"[/\\]", "_", str(v))

    return _REPLACE.sub(repl, value)
