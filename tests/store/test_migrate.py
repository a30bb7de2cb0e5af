"""`roost init --database` and `roost migrate`: an embedded home moved onto a PostgreSQL
server keeps everything (catalog, versions and their numbering, alias history, keys)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from roost.cli import main
from roost.data.frames import Catalog
from roost.data.ingest import ingest_table
from roost.service import KeyStore, ServiceSettings
from roost.store import Home, open_store
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet


def es(seed: int) -> EmbeddingSet:
    x = np.random.default_rng(seed).normal(size=(5, 3)).astype(np.float32)
    return EmbeddingSet(ids=np.array([f"i{j}" for j in range(5)], dtype=object), vectors=x,
                        method="als", params={}, fingerprint=f"f{seed}")  # fmt: skip


def test_init_records_the_database_and_every_command_follows_it(tmp_path, pg_server, capsys):
    url = pg_server.new_database()
    home = tmp_path / "home"
    assert main(["--home", str(home), "init", "--database", url, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backend"] == "postgresql" and info["database"] == url
    assert (home / "database.url").read_text().strip() == url
    assert not (home / "roost.db").exists()
    items = tmp_path / "items.csv"
    items.write_text("id,title\na,Alpha\nb,Beta\n")
    assert main(["--home", str(home), "ingest", "items", str(items)]) == 0
    with Home.at(home).db().catalog() as s:  # on the server, not in a file
        assert s.counts()["items"] == 2


def test_migrate_copies_an_embedded_home_whole(tmp_path, pg_server, capsys):
    home = tmp_path / "home"
    with open_store(home) as s:
        cat = Catalog.from_pydict(
            items={"id": ["a", "b"], "title": ["A", "B"], "tags": [["x"], None]},
            events={"user_id": ["u", "v"], "item_id": ["a", "b"], "kind": ["like", "view"],
                    "ts": [1, 2]},
            follows={"follower": ["u"], "followee": ["v"]},
        )  # fmt: skip
        for kind in ("items", "events", "follows"):
            ingest_table(s, kind, getattr(cat, kind))
        before = {k: s.read(k).to_pylist() for k in s.iter_kinds()}
    with VersionStore(home) as vs:
        v1 = vs.put(es(1), alias="production").id
        v2 = vs.put(es(2)).id
        vs.alias("production", v2)
        vs.rollback("production")
        vs.delete(v2)  # numbers are never reused, on the server either
        history = vs.history("production")
    keys = KeyStore(home / "keys.json")
    key, _ = keys.create("admin")

    url = pg_server.new_database()
    assert main(["--home", str(home), "migrate", "--to", url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["copied"]["items"] == 2 and report["copied"]["api_keys"] == 1
    assert Home.at(home).url == url and (home / "roost.db.migrated").exists()
    assert not (home / "roost.db").exists() and not (home / "keys.json").exists()

    with open_store(home) as s:
        assert {k: s.read(k).to_pylist() for k in s.iter_kinds()} == before
    with VersionStore(home) as vs:
        assert vs.aliases() == {"production": v1} and vs.history("production") == history
        np.testing.assert_array_equal(vs.get("production").vectors, es(1).vectors)
        assert vs.put(es(3)).seq == 3
        assert vs.verify() == []
    settings = ServiceSettings.from_env(home)
    assert KeyStore(settings.key_records()).check(key).role == "admin"

    # a second migrate is refused: the home is on the server now, and the target is not empty
    assert main(["--home", str(home), "migrate", "--to", url]) == 1
    assert "already uses" in capsys.readouterr().err


def test_migrate_refuses_a_target_holding_data(tmp_path, pg_server, capsys):
    url = pg_server.new_database()
    other = Home.at(tmp_path / "other").create(url)
    with open_store(other) as s:
        ingest_table(s, "items", Catalog.from_pydict(items={"id": ["z"]}).items)
    open_store(tmp_path / "home").close()
    assert main(["--home", str(tmp_path / "home"), "migrate", "--to", url]) == 1
    assert "already holds Roost data" in capsys.readouterr().err
    assert Home.at(tmp_path / "home").backend == "sqlite"


@pytest.mark.parametrize("bad", ["mysql://h/db", "postgresql://u:hunter2@127.0.0.1:1/db"])
def test_a_bad_database_url_is_one_clear_line(tmp_path, capsys, bad):
    assert main(["--home", str(tmp_path / "h"), "--database", bad, "init"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "hunter2" not in err and "Traceback" not in err
