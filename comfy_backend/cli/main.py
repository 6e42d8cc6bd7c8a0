"""The ``ryven-comfy`` console script: one parser, one place that maps errors to exit codes."""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TextIO

from ..errors import ComfyBackendError, ConfigError, OutputPathError, WorkflowError
from ..safe_text import sanitize, sanitize_line
from . import agent, demo, local_servers, servers, workflow

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
    agent.register(sub)
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # a broken plugin must not take the core commands down with it
            print(f"warning: command {ep.name!r} is unavailable: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


#: log files kept in the log folder (the oldest go first); one file per process
KEEP_LOG_FILES = 20
LOG_FILE_BYTES = 5_000_000


def log_dir() -> Path:
    """Where each ryven-comfy process writes its log file: ``$XDG_STATE_HOME/ryven-comfy/logs``
    (``~/.local/state/ryven-comfy/logs``)."""
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "ryven-comfy" / "logs"


def _prune_logs(folder: Path, keep: int) -> None:
    """Delete the oldest log files beyond ``keep`` (files of running processes are young: kept)."""
    files = sorted(folder.glob("ryven-comfy-*.log*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        try:
            old.unlink()
        except OSError as exc:  # another process pruned it first, or it is not ours to delete
            logging.getLogger(__name__).debug("log %s not pruned: %s", old, exc)


def process_log_file(folder: Path) -> Path:
    """This process's own log file: one per process, so that several processes never rotate
    one file under each other."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"ryven-comfy-{stamp}-{os.getpid()}.log"


class StderrHandler(logging.StreamHandler[TextIO]):
    """A console handler writing to ``sys.stderr`` as it is at each record, not as it was when the
    handler was made: a ``main()`` run in-process (tests capture and then close stderr) must not
    leave a handler bound to a closed stream for later records (a backend thread's) to trip over."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)  # no stream of its own: ``stream`` below resolves it

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


class SafeFormatter(logging.Formatter):
    """Log lines without terminal escape sequences: a message may quote a server's text (an error
    body), which must never drive the user's terminal (titles, clipboard, screen clears), on the
    console or when the log file is shown with ``cat``."""

    def format(self, record: logging.LogRecord) -> str:
        return sanitize(super().format(record), max_chars=None)


def _configure_logging(verbose: int) -> None:
    """Console: warnings (more with -v); file: an INFO log of this process for later diagnosis."""
    root = logging.getLogger()
    if any(getattr(h, "_ryven_comfy", False) for h in root.handlers):
        return  # main() called again in one process (tests)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    console = StderrHandler()
    console.setLevel(logging.WARNING - 10 * min(verbose, 2))
    console.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    console._ryven_comfy = True  # type: ignore[attr-defined]
    root.addHandler(console)
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _prune_logs(folder, KEEP_LOG_FILES - 1)
        # Rotated only by this process (its own file): safe with any number of processes at once.
        fh = logging.handlers.RotatingFileHandler(process_log_file(folder), maxBytes=LOG_FILE_BYTES, backupCount=1)
    except OSError as exc:  # a read-only home must not stop the program
        console.handle(logging.makeLogRecord({"levelno": logging.WARNING, "levelname": "WARNING",
                                              "name": __name__, "msg": f"no log file: {exc}"}))
        return
    fh.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    fh.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
