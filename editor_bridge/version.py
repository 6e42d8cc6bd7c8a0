"""Which ComfyUI frontends the bridge is tested with, and the check made when a page is ready."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: The oldest and newest frontend the bridge's tests run against: 1.32.9 is what ComfyUI 0.3.75
#: ships; 1.58.1 the newest ``comfyui-frontend-package`` (served with ``--front-end-root``).
TESTED_RANGE: tuple[str, str] = ("1.32.9", "1.58.1")


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"1.32.9"`` → ``(1, 32, 9)``; None when it does not start with numbers."""
    m = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


@dataclass(frozen=True)
class FrontendInfo:
    """What a ready page reported: its frontend version and, outside the tested range, why to worry."""

    url: str
    version: str | None
    #: None inside the tested range; else a sentence a user can act on
    warning: str | None = None

    @property
    def tested(self) -> bool:
        return self.warning is None


def check_version(url: str, version: str | None, tested: tuple[str, str] = TESTED_RANGE) -> FrontendInfo:
    """The page's :class:`FrontendInfo`; a warning (also logged) when the version is outside ``tested``."""
    lo, hi = parse_version(tested[0]), parse_version(tested[1])
    v = parse_version(version)
    warning = None
    if v is None:
        warning = (f"the web UI at {url} does not report its frontend version; the bridge is tested with "
                   f"frontends {tested[0]} to {tested[1]}")
    elif lo is not None and hi is not None and not (lo <= v <= hi):
        side = "older" if v < lo else "newer"
        warning = (f"the web UI at {url} runs frontend {version}, {side} than the tested range "
                   f"{tested[0]} to {tested[1]}: pushing and pulling may not work")
    if warning:
        log.warning("%s", warning)
    return FrontendInfo(url=url, version=version, warning=warning)


__all__ = ["TESTED_RANGE", "FrontendInfo", "check_version", "parse_version"]
