"""The ``ryven-comfy`` console script's commands, and the terminal toolkit a front's commands share.

A front that registers commands (``ryven_comfy.commands`` entry points) takes what it needs
for the terminal from here, not from the modules below.
"""
from .progress import ProgressDisplay

__all__ = ["ProgressDisplay"]
