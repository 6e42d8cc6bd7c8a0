"""Add, edit, enable/disable, remove and test servers from the servers dock.

Each change is applied to the running backend (no restart) and saved to the servers config
file the editor was started with (``ServersFile``: atomic, tokens only as environment
variable or file references). A file that is read-only or was changed on disk meanwhile
gives a clear message; the change stays applied and kept for a later save, so nothing is lost.
"""
from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from comfy_backend import ComfyBackendError, ConfigChanged, ServerConfig, ServersFile, ServerSnapshot

from .context import AppContext
from .threads import when_done

log = logging.getLogger(__name__)
AUTH_KINDS = ("none", "bearer", "basic")
DIALOG_WIDTH = 520  # a url, an env var name or a file path fits without scrolling the field


def config_error_text(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "server"
    return f"{where}: {first.get('msg', 'invalid').removeprefix('Value error, ')}"


class ServerDialog(QDialog):
    """The fields of one server; ``Test connection`` probes it without adding it."""

    def __init__(self, ctx: AppContext, server: ServerConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Edit server" if server else "Add server")
        form = QFormLayout(self)
        self.id_edit = QLineEdit(server.id if server else "")
        self.id_edit.setReadOnly(server is not None)  # the id names the server in jobs and projects
        self.name_edit = QLineEdit(server.name or "" if server else "")
        self.url_edit = QLineEdit(server.url if server else "http://")
        self.tags_edit = QLineEdit(", ".join(server.tags) if server else "")
        self.max_spin = QSpinBox()
        self.max_spin.setRange(1, 64)
        self.max_spin.setValue(server.max_concurrent if server else 2)
        self.enabled_box = QCheckBox("enabled")
        self.enabled_box.setChecked(server.enabled if server else True)
        self.auth_box = QComboBox()
        self.auth_box.addItems(AUTH_KINDS)
        auth = server.auth if server else None
        if auth is not None and auth.kind in AUTH_KINDS:
            self.auth_box.setCurrentText(auth.kind)
        self.secret_env = QLineEdit((auth.token_env or auth.password_env or "") if auth else "")
        self.secret_env.setPlaceholderText("environment variable holding the token / password")
        self.secret_file = QLineEdit(str(auth.token_file or auth.password_file or "") if auth else "")
        self.secret_file.setPlaceholderText("or a file holding it (never the secret itself)")
        self.user_edit = QLineEdit((auth.username or "") if auth else "")
        self._extra_auth = auth if auth is not None and auth.kind == "headers" else None
        for label, w in (("id", self.id_edit), ("name", self.name_edit), ("url", self.url_edit),
                         ("tags", self.tags_edit), ("max concurrent", self.max_spin), ("", self.enabled_box),
                         ("auth", self.auth_box), ("secret env var", self.secret_env),
                         ("secret file", self.secret_file), ("user (basic)", self.user_edit)):
            form.addRow(label, w)
        self.url_edit.setPlaceholderText("http://host:8188")
        self.tags_edit.setPlaceholderText("comma separated, e.g. sdxl, flux")
        self.test_btn = QPushButton("Test connection")
        self.test_btn.clicked.connect(self.test)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_btn)
        test_row.addStretch(1)
        form.addRow(test_row)  # the whole width: in the label column the button made the fields narrow
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form.addRow(self.result)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.setMinimumWidth(DIALOG_WIDTH)
        self.server: ServerConfig | None = None

    def showEvent(self, event: Any) -> None:
        """Centred over the editor's window (not over the dock it was opened from)."""
        super().showEvent(event)
        parent = self.parentWidget()
        if parent is not None:
            self.adjustSize()
            frame = self.frameGeometry()
            frame.moveCenter(parent.window().frameGeometry().center())
            self.move(frame.topLeft())

    def build(self) -> ServerConfig:
        """The server as entered; ValidationError when a field is wrong."""
        kind = self.auth_box.currentText()
        env, file = self.secret_env.text().strip() or None, self.secret_file.text().strip() or None
        auth: dict[str, Any] = {"kind": kind}
        if kind == "bearer":
            auth.update(token_env=env, token_file=file if not env else None)
        elif kind == "basic":
            auth.update(username=self.user_edit.text().strip() or None, password_env=env,
                        password_file=file if not env else None)
        data: dict[str, Any] = {
            "id": self.id_edit.text().strip(), "url": self.url_edit.text().strip(),
            "name": self.name_edit.text().strip() or None, "enabled": self.enabled_box.isChecked(),
            "tags": [t for t in self.tags_edit.text().replace(",", " ").split() if t],
            "max_concurrent": self.max_spin.value(),
            "auth": self._extra_auth.model_dump() if self._extra_auth is not None and kind == "none" else auth,
        }
        return ServerConfig.model_validate(data)

    def test(self) -> None:
        try:
            server = self.build()
        except ValidationError as exc:
            self.result.setText(config_error_text(exc))
            return
        self.result.setText("testing…")
        when_done(self.ctx.orch.test_server(server), self.ctx.post, self._tested,
                  lambda exc: self.result.setText(f"test failed: {exc}"))

    def _tested(self, r: dict[str, Any]) -> None:
        if r["ok"]:
            agent = {True: "agent: yes", False: "agent: no", None: "agent: ?"}[r["agent"]]
            self.result.setText(f"reachable, credentials accepted, ComfyUI {r['version'] or '?'}, "
                                f"{r['latency_ms']:.0f} ms, {agent}")
        else:
            self.result.setText(r["error"] or "not usable")

    def _accept(self) -> None:
        try:
            self.server = self.build()
        except ValidationError as exc:
            QMessageBox.warning(self, "Server", config_error_text(exc))
            return
        self.accept()


class ServerManager:
    """Applies server changes to the backend and saves them to the config file."""

    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        self.ctx = ctx
        self.parent = parent
        source = ctx.orch.config.source
        self.file: ServersFile | None = None
        self.file_error: str | None = None
        if source is None:
            self.file_error = "the editor was started without a servers config file: changes apply until it closes"
        else:
            try:
                self.file = ServersFile(source)
            except (ComfyBackendError, OSError, ValueError) as exc:
                self.file_error = f"{source}: cannot be read for editing: {exc}"
        self.last_message = ""
        self.ask = True  # ask before overwriting a file changed on disk (tests turn the dialogs off)

    def config_of(self, server_id: str) -> ServerConfig | None:
        if self.file is not None:
            try:
                return next((s for s in self.file.config().servers if s.id == server_id), None)
            except ComfyBackendError as exc:
                log.warning("servers file: %s", exc)
        return self.ctx.orch.server_config(server_id)  # as it runs now (servers added at run time too)

    def _say(self, text: str, warn: bool = False) -> None:
        self.last_message = text
        (log.warning if warn else log.info)("%s", text)

    def _save(self, what: str) -> None:
        if self.file is None:
            self._say(f"{what}: applied, not saved ({self.file_error})", warn=True)
            return
        try:
            self.file.save()
        except ConfigChanged as exc:
            self._say(str(exc), warn=True)
            if self.ask and self.parent.isVisible():
                ans = QMessageBox.question(self.parent, "Servers config changed on disk",
                                           f"{exc}\n\nOverwrite the file with the editor's servers?")
                if ans == QMessageBox.Yes:
                    self.file.save(overwrite=True)
                    self._say(f"{what}: saved to {self.file.path} (overwritten)")
            return
        except ComfyBackendError as exc:
            self._say(str(exc), warn=True)
            if self.ask and self.parent.isVisible():
                QMessageBox.warning(self.parent, "Servers config", str(exc))
            return
        self._say(f"{what}: saved to {self.file.path}")

    def _applied(self, what: str, future: Any) -> None:
        when_done(future, self.ctx.post, lambda _: self._say(f"{what}: applied"),
                  lambda exc: self._say(f"{what}: not applied: {exc}", warn=True))

    def add(self, server: ServerConfig) -> None:
        if self.file is not None:
            self.file.upsert(server)
        self._applied(f"server {server.id} added", self.ctx.orch.add_server(server))
        self._save(f"server {server.id} added")

    def edit(self, server: ServerConfig) -> None:
        if self.file is not None:
            self.file.upsert(server)
        self._applied(f"server {server.id} edited", self.ctx.orch.replace_server(server))
        self._save(f"server {server.id} edited")

    def set_enabled(self, server_id: str, enabled: bool) -> None:
        current = self.config_of(server_id)
        if current is None:
            return
        self.edit(current.model_copy(update={"enabled": enabled}))

    def remove(self, server_id: str) -> None:
        if self.file is not None and server_id in self.file.ids():
            self.file.remove(server_id)
        self._applied(f"server {server_id} removed", self.ctx.orch.remove_server(server_id))
        self._save(f"server {server_id} removed")

    # -- dialogs ---------------------------------------------------------------------------
    def add_dialog(self) -> None:
        dlg = ServerDialog(self.ctx, None, self.parent)
        if dlg.exec() and dlg.server is not None:
            self.add(dlg.server)

    def edit_dialog(self, snap: ServerSnapshot) -> None:
        current = self.config_of(snap.id)
        dlg = ServerDialog(self.ctx, current, self.parent)
        if dlg.exec() and dlg.server is not None:
            self.edit(dlg.server)

    def remove_dialog(self, snap: ServerSnapshot) -> None:
        busy = f"\n{snap.in_flight} job(s) running there finish first." if snap.in_flight else ""
        ans = QMessageBox.question(self.parent, "Remove server", f"Remove server '{snap.id}' ({snap.url})?{busy}")
        if ans == QMessageBox.Yes:
            self.remove(snap.id)
