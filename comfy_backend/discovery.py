"""Where the servers config comes from: an explicit path, the environment, the user's
config, or the config the local CPU servers wrote when they were last started."""
from __future__ import annotations

import os
from pathlib import Path

from .config import ServersConfig, load_servers_config
from .errors import ConfigError
from .local.instances import default_state_dir

#: the user's servers config, used when neither a path nor $RYVEN_COMFY_SERVERS is given
USER_CONFIG = Path("~/.config/ryven-comfy/servers.yaml")
#: the environment variable naming a servers config
SERVERS_ENV = "RYVEN_COMFY_SERVERS"


def local_servers_file() -> Path:
    """The config written by the local CPU servers (``ryven-comfy local-servers up``)."""
    return default_state_dir() / "servers.yaml"


def find_servers_file() -> Path | None:
    """``$RYVEN_COMFY_SERVERS``, else ``~/.config/ryven-comfy/servers.yaml``, else the config
    of the local CPU servers if they were ever started; None when there is none."""
    env = os.environ.get(SERVERS_ENV)
    if env:
        return Path(env)
    p = USER_CONFIG.expanduser()
    if p.is_file():
        return p
    local = local_servers_file()
    return local if local.is_file() else None


def resolve_servers_config(path: str | Path | None) -> ServersConfig:
    """The servers config at ``path``, else the one :func:`find_servers_file` finds.

    Raises ConfigError saying how to configure servers when there is none.
    """
    p = Path(path) if path else find_servers_file()
    if p is None:
        raise ConfigError(
            f"no servers config: pass --servers FILE, set {SERVERS_ENV}, "
            f"or write {USER_CONFIG} (or run 'ryven-comfy local-servers up --count 3' to use local CPU servers)"
        )
    return load_servers_config(p)
