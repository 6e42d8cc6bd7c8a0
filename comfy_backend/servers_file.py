"""Editing the servers config file the app was started with: add, edit, enable, remove a server.

Edits are saved atomically. A file changed on disk since it was read is never overwritten
(``ConfigChanged``), a file that cannot be written is one clear ``ConfigError``; in both
cases nothing is lost: the edit stays in ``ServersFile.data`` and can be saved again (or
elsewhere) once the reason is gone. Secrets never enter the file: ``ServerConfig`` keeps
only where they live (``token_env``, ``token_file``…). Comments of a YAML file are not kept.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from .config import ServerConfig, ServersConfig, parse_servers_config
from .errors import ConfigError
from .files import atomic_write_text


class ConfigChanged(ConfigError):
    """The file was changed by someone else since it was read; it was not overwritten."""


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def server_entry(server: ServerConfig) -> dict[str, Any]:
    """A server as it is written in the file: only what differs from the defaults."""
    d = server.model_dump(mode="json", exclude_defaults=True)
    d["id"], d["url"] = server.id, server.url
    return d


class ServersFile:
    """One servers config file, read once and edited in memory, saved on request."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.data: dict[str, Any] = {"servers": []}
        self._seen: str | None = None
        self.reload()

    def reload(self) -> ServersConfig:
        """Read the file again (dropping unsaved edits); its validated config."""
        text = self.path.read_text(encoding="utf-8") if self.path.is_file() else "servers: []\n"
        raw = json.loads(text) if self.path.suffix.lower() == ".json" else yaml.safe_load(text)
        if isinstance(raw, list):
            raw = {"servers": raw}
        if not isinstance(raw, dict) or not isinstance(raw.get("servers", []), list):
            raise ConfigError(f"{self.path}: expected a mapping with a 'servers' list")
        raw.setdefault("servers", [])
        self.data = raw
        self._seen = _fingerprint(self.path)
        return self.config()

    def config(self) -> ServersConfig:
        """The edited config, validated (ConfigError naming the entry otherwise)."""
        return parse_servers_config(self.data, str(self.path))

    def ids(self) -> list[str]:
        return [str(s.get("id")) for s in self.data["servers"] if isinstance(s, dict)]

    def _index(self, server_id: str) -> int:
        for i, s in enumerate(self.data["servers"]):
            if isinstance(s, dict) and s.get("id") == server_id:
                return i
        raise ConfigError(f"{self.path}: no server with id '{server_id}'")

    def upsert(self, server: ServerConfig) -> None:
        """Add ``server``, or replace the entry with its id."""
        entry = server_entry(server)
        try:
            self.data["servers"][self._index(server.id)] = entry
        except ConfigError:
            self.data["servers"].append(entry)

    def set_enabled(self, server_id: str, enabled: bool) -> None:
        self.data["servers"][self._index(server_id)]["enabled"] = enabled

    def remove(self, server_id: str) -> None:
        del self.data["servers"][self._index(server_id)]

    def changed_on_disk(self) -> bool:
        """Has someone else written the file since we read or saved it?"""
        return _fingerprint(self.path) != self._seen

    def save(self, *, overwrite: bool = False) -> None:
        """Write the edits atomically. ConfigChanged if the file changed on disk meanwhile (unless
        ``overwrite``), ConfigError if it cannot be written; the edits are kept either way."""
        if self.data["servers"]:
            self.config()  # never write a file we could not read back
        if not overwrite and self.changed_on_disk():
            raise ConfigChanged(
                f"{self.path} was changed on disk since it was read; not overwritten "
                "(your edit is applied to the running editor; reload the file or save over it)")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            # A rename would replace it anyway: respect the file's read-only mode instead.
            raise ConfigError(f"{self.path}: the file is read-only; not saved "
                              "(your edit is applied to the running editor until it closes)")
        if self.path.suffix.lower() == ".json":
            text = json.dumps(self.data, indent=2) + "\n"
        else:
            text = yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)
        try:
            atomic_write_text(self.path, text)
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot save: {exc.strerror or exc} "
                "(your edit is applied to the running editor until it closes, but not saved)") from None
        self._seen = _fingerprint(self.path)
