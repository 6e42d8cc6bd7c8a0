"""The GUI side's only thread bridge: runs callables posted from any thread on the Qt GUI thread."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qtpy.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)


class QtDispatcher(QObject):
    """``post(fn)`` from any thread; ``fn()`` runs on the thread this object was created on (the GUI thread)."""

    _sig = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._stopped = False
        self._sig.connect(self._run, Qt.QueuedConnection)

    def post(self, fn: Callable[[], None]) -> None:
        with self._lock:  # after stop() (app quitting) the Qt object may be gone: drop late callbacks
            if self._stopped:
                return
            try:
                self._sig.emit(fn)
            except RuntimeError as exc:
                log.debug("dropping a callback after shutdown: %s", exc)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("error in a GUI callback")
