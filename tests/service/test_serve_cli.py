"""`roost serve` and `roost keys`: the bind rule, keys shown once and stored hashed."""

from __future__ import annotations

import json

import pytest

from roost.cli import main
from roost.cli.serve import create_keys, serve_forever
from roost.service import KeyStore
from roost.store import open_store
from roost.types import RoostError


@pytest.fixture
def home(tmp_path):
    open_store(tmp_path / "home").close()
    return tmp_path / "home"


def test_refuses_to_start_without_keys_unless_asked_to_open(home, capsys):
    """No keys and no --open: a clear refusal on any address, loopback included."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with pytest.raises(RoostError, match="no API keys in .*--open"):
            serve_forever(home, host, 8000)
    assert main(["--home", str(home), "serve"]) == 1
    assert "roost keys create --role admin" in capsys.readouterr().err


def test_open_is_loopback_only_and_never_beside_keys(home, capsys, monkeypatch):
    with pytest.raises(RoostError, match="refusing --open on 0.0.0.0"):
        serve_forever(home, "0.0.0.0", 8000, open_access=True)
    assert main(["--home", str(home), "serve", "--host", "0.0.0.0", "--open"]) == 1
    assert "loopback only" in capsys.readouterr().err
    monkeypatch.setenv("ROOST_OPEN", "1")
    assert main(["--home", str(home), "serve", "--host", "::"]) == 1
    assert "refusing --open on ::" in capsys.readouterr().err
    create_keys(home)
    with pytest.raises(RoostError, match="--open with API keys"):
        serve_forever(home, "127.0.0.1", 8000, open_access=True)


def test_keys_cli(home, capsys):
    assert (
        main(["--home", str(home), "keys", "create", "--role", "admin", "--name", "ops", "--json"])
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["key"].startswith(f"roost_{made['id']}_") and made["role"] == "admin"
    assert made["key"] not in (home / "keys.json").read_text()
    assert KeyStore(home / "keys.json").check(made["key"]).role == "admin"
    assert main(["--home", str(home), "keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [
        {"id": made["id"], "role": "admin", "name": "ops", "created": made["created"]}
    ]
    assert main(["--home", str(home), "keys", "create", "--role", "root"]) == 1
    assert "unknown role 'root'" in capsys.readouterr().err
    assert main(["--home", str(home), "keys", "revoke", made["id"]]) == 0
    assert KeyStore(home / "keys.json").check(made["key"]) is None
    assert (home / "keys.json").stat().st_mode & 0o777 == 0o600


def test_create_keys_for_the_demo(home):
    keys = create_keys(home)
    store = KeyStore(home / "keys.json")
    assert {r: store.check(k).role for r, k in keys.items()} == {"read": "read", "admin": "admin"}
