"""The ``ryven-comfy`` console script: one parser, one place that maps errors to exit codes."""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import ComfyBackendError, ConfigError, OutputPathError, WorkflowError
from ..safe_text import sanitize_line
from . import demo, local_servers, servers, workflow

EXIT_OK = 0
EXIT_FAILED = 1      # jobs failed, servers unreachable
EXIT_BAD_INPUT = 2   # missing or malformed file, bad config, bad arguments
#: commands registered by other packages (the node package adds ``editor`` and ``run``):
#: each entry point names a function ``register(subparsers)``
COMMANDS_GROUP = "ryven_comfy.commands"


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
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # a broken plugin must not take the core commands down with it
            print(f"warning: command {ep.name!r} is unavailable: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


def _configure_logging(verbose: int) -> None:
    """Console: warnings (more with -v); file: a rotating INFO log for later diagnosis."""
    root = logging.getLogger()
    if any(getattr(h, "_ryven_comfy", False) for h in root.handlers):
        return  # main() called again in one process (tests)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING - 10 * min(verbose, 2))
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console._ryven_comfy = True  # type: ignore[attr-defined]
    root.addHandler(console)
    log_dir = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "ryven-comfy"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(log_dir / "ryven-comfy.log", maxBytes=2_000_000, backupCount=3)
    except OSError:
        return  # a read-only home must not stop the program
    fh.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(fh)


def error_line(exc: BaseException | str) -> str:
    """The one stderr line for an error: server text in it is sanitised and cut to length."""
    return "error: " + sanitize_line(exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, WorkflowError) as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except ComfyBackendError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_FAILED
    except MemoryError:
        print(error_line("out of memory"), file=sys.stderr)
        return EXIT_FAILED
    except RecursionError:
        print(error_line("input nested too deeply"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a local file or folder (output, log) we could not use
        where = f" {exc.filename}" if exc.filename else ""
        print(error_line(OutputPathError(f"cannot use{where}: {exc.strerror or exc}")), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
