import json

import pytest

from comfy_backend.config import auth_headers, load_servers_config, parse_servers_config
from comfy_backend.errors import ConfigError


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_minimal_yaml(tmp_path):
    p = write(tmp_path, "s.yaml", "servers:\n  - id: pc1\n    url: http://127.0.0.1:8188/\n    tags: [sdxl]\n")
    cfg = load_servers_config(p)
    s = cfg.servers[0]
    assert (s.id, s.url, s.tags, s.enabled, s.max_concurrent) == ("pc1", "http://127.0.0.1:8188", ["sdxl"], True, 2)
    assert s.ws_url == "ws://127.0.0.1:8188/ws"


def test_json_and_https(tmp_path):
    p = write(tmp_path, "s.json", json.dumps({"servers": [{"id": "a", "url": "https://gpu.example:8443/comfy", "max_concurrent": 2}]}))
    s = load_servers_config(p).servers[0]
    assert s.ws_url == "wss://gpu.example:8443/comfy/ws"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("servers:\n  - id: pc1\n    url: ftp://x\n", "servers[0] (id pc1).url"),
        ("servers:\n  - id: pc1\n    url: http://a:1\n  - id: pc1\n    url: http://b:1\n", "duplicate server id 'pc1'"),
        ("servers:\n  - id: pc1\n    url: http://a:1\n    colour: red\n", "colour"),
        ("servers: []\n", "empty"),
        ("servers:\n  - id: pc1\n    url: [\n", "malformed YAML at line"),
        ("servers:\n  - id: pc1\n    url: http://a:1\n    auth: {kind: bearer}\n", "token_env or token_file"),
        ("42\n", "expected a mapping"),
    ],
)
def test_bad_config_names_file_and_entry(tmp_path, text, expected):
    p = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as ei:
        load_servers_config(p)
    assert str(p) in str(ei.value)
    assert expected in str(ei.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_servers_config(tmp_path / "nope.yaml")


def test_malformed_json(tmp_path):
    p = write(tmp_path, "s.json", '{"servers": [}')
    with pytest.raises(ConfigError, match="malformed JSON at line 1"):
        load_servers_config(p)


def test_auth_from_env_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PC1_TOKEN", "sekret")
    pwfile = write(tmp_path, "pw", "hunter2\n")
    cfg = parse_servers_config({"servers": [
        {"id": "a", "url": "http://a:1", "auth": {"kind": "bearer", "token_env": "PC1_TOKEN"}},
        {"id": "b", "url": "http://b:1", "auth": {"kind": "basic", "username": "u", "password_file": str(pwfile)}},
        {"id": "c", "url": "http://c:1", "auth": {"kind": "headers", "headers": {"X-A": "1"}, "headers_env": {"X-Key": "PC1_TOKEN"}}},
    ]})
    assert auth_headers(cfg.servers[0]) == {"Authorization": "Bearer sekret"}
    assert auth_headers(cfg.servers[1])["Authorization"].startswith("Basic ")
    assert auth_headers(cfg.servers[2]) == {"X-A": "1", "X-Key": "sekret"}
    # the secret never shows in the model's repr or dump
    assert "sekret" not in repr(cfg) and "hunter2" not in cfg.model_dump_json()


def test_missing_secret_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    cfg = parse_servers_config([{"id": "a", "url": "http://a:1", "auth": {"kind": "bearer", "token_env": "NOPE_TOKEN"}}])
    with pytest.raises(ConfigError, match="NOPE_TOKEN is not set"):
        auth_headers(cfg.servers[0])
