"""A small Flutter home with known answers: birds, flits in three topics, likes, follows,
a transformer version (the packaged MiniLM) as ``text`` and an ALS version as ``collab``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from fastapi.testclient import TestClient

from roost.data.frames import Catalog
from roost.embed.mf import ALS
from roost.embed.transformer import Transformer
from roost.service import KeyStore, ServiceSettings, create_app
from roost.store import open_store
from roost.store.versions import VersionStore

BIRDS = ["wren", "robin", "owl", "heron", "finch", "crow"]
TOPICS = {
    "song": [
        "dawn chorus from the hedge",
        "a new melody at sunrise",
        "trilling in the rain",
        "the blackbird's evening song",
        "humming a tune on the fence",
        "singing lessons for fledglings",
    ],
    "fish": [
        "caught a silver trout in the river",
        "the pond is full of minnows",
        "waiting for fish by the weir",
        "eels in the muddy estuary",
        "salmon leaping upstream",
        "diving for sprats at the harbour",
    ],
    "travel": [
        "flying south for the winter",
        "crossed the sea to Africa",
        "migration starts next week",
        "long flight over the mountains",
        "resting on a ship's mast mid-ocean",
        "back home after the journey",
    ],
}
T0 = 1_700_000_000


def catalog() -> Catalog:
    ids, titles, texts, cats, authors, created, tags = [], [], [], [], [], [], []
    n = 0
    for cat, lines in TOPICS.items():
        for j, line in enumerate(lines):
            ids.append(f"{cat}-{j}")
            titles.append(line.capitalize())
            texts.append(f"{line}; a flit about {cat}")
            cats.append(cat)
            authors.append(BIRDS[n % len(BIRDS)])
            created.append(T0 + 3600 * n)
            tags.append([cat, "flutter"])
            n += 1
    likes = {
        "wren": "song",
        "robin": "song",
        "owl": "fish",
        "heron": "fish",
        "finch": "travel",
        "crow": "travel",
    }
    users, items, ts = [], [], []
    for b, (u, cat) in enumerate(likes.items()):
        for j in range(4):  # each bird likes 4 of its topic's 6 flits; 4 and 5 stay unseen
            users.append(u)
            items.append(f"{cat}-{(j + b) % 6 if b % 2 else j}")
            ts.append(T0 + 100_000 + 60 * len(ts))
    return Catalog.from_pydict(
        items={"id": ids, "title": titles, "text": texts, "category": cats, "author": authors,
               "created_at": created, "tags": tags},
        users={"id": BIRDS, "name": [b.capitalize() for b in BIRDS]},
        events={"user_id": users, "item_id": items, "kind": ["like"] * len(users),
                "value": [1.0] * len(users), "ts": ts},
        follows={"follower": ["wren", "owl"], "followee": ["robin", "heron"], "ts": [T0, T0]},
    )  # fmt: skip


def build(home: Path) -> Path:
    cat = catalog()
    with open_store(home) as s, s.transaction() as w:
        for kind in ("items", "users", "events", "follows"):
            w.write(kind, getattr(cat, kind))
    text = Transformer(onnx_model="packaged").fit(cat)
    als = ALS(factors=8, iterations=5, n_threads=1).fit(cat)
    with VersionStore(home) as vs:
        vs.put(text.embedding_set(cat), alias="text")
        vs.put(als.embedding_set(cat), users=als.user_embedding_set(cat), alias="collab")
    return home


def copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def make_keys(home: Path) -> dict[str, str]:
    keys = KeyStore(ServiceSettings(home=home).keys_path)
    return {role: keys.create(role, name=f"test {role}")[0] for role in ("read", "admin")}


def wait_ready(client: TestClient, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/health/ready")
        if r.status_code == 200:
            return
        if not client.app.state.runtime.loading:
            r = client.get("/health/ready")  # it may have finished since the first answer
            if r.status_code == 200:
                return
            raise AssertionError(f"engine failed to load: {r.json()}")
        time.sleep(0.05)
    raise AssertionError("engine still loading")


def client(home: Path, **settings) -> TestClient:
    """A started TestClient (use as a context manager) with the engine loaded."""
    app = create_app(ServiceSettings(home=home, **settings))
    return TestClient(app)
