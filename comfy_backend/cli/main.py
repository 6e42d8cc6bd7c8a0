"""The ``ryven-comfy`` console script: one parser, one place that maps errors to exit codes."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from ..errors import ComfyBackendError, ConfigError, WorkflowError
from . import demo, local_servers, servers, workflow

EXIT_OK = 0
EXIT_FAILED = 1      # jobs failed, servers unreachable
EXIT_BAD_INPUT = 2   # missing or malformed file, bad config, bad arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ryven-comfy",
        description="Run ComfyUI workflows across several ComfyUI servers.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    demo.register(sub)
    servers.register(sub)
    workflow.register(sub)
    local_servers.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, WorkflowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ComfyBackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
