"""Small catalogs with known answers for the recommender tests, and homes built from them.

The checkerboard: users u0..u{n/2-1} engage with "a" items (songbirds), the others with
"b" items (sports cars). Right neighbours, clusters and recommendations stay in the group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from roost.data.frames import Catalog
from roost.data.ingest import ingest_table
from roost.embed import get
from roost.index import index_version
from roost.store import Artifacts, open_store
from roost.store.versions import VersionStore

BIRDS = [
    "robin",
    "wren",
    "finch",
    "sparrow",
    "warbler",
    "thrush",
    "lark",
    "swallow",
    "starling",
    "blackbird",
]
CARS = [
    "roadster",
    "coupe",
    "racing car",
    "sports car",
    "supercar",
    "rally car",
    "hot hatch",
    "grand tourer",
    "convertible",
    "muscle car",
]


def board(n_items: int = 40, n_users: int = 30, per_user: int = 8, seed: int = 0) -> Catalog:
    """The checkerboard catalog (see the module docstring); times are days apart."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    ids = [f"a{i}" for i in range(half)] + [f"b{i}" for i in range(half)]
    titles = [f"a small {BIRDS[i % 10]} singing in the garden" for i in range(half)] + [
        f"a fast red {CARS[i % 10]} on the race track" for i in range(half)
    ]
    users, items, ts = [], [], []
    for u in range(n_users):
        group = "a" if u < n_users // 2 else "b"
        for j in rng.choice(half, per_user, replace=False):
            users.append(f"u{u}")
            items.append(f"{group}{j}")
            ts.append(int(10**6 + rng.integers(0, 30 * 86_400)))
    fields = [
        '{"unsafe": true}'
        if i == "a9"
        else ('{"in_stock": false}' if i == "b9" else '{"lang": "en"}')
        for i in ids
    ]
    return Catalog.from_pydict(
        items={
            "id": ids,
            "title": titles,
            "category": ["birds" if i[0] == "a" else "cars" for i in ids],
            "tags": [["nature", "song"] if i[0] == "a" else ["speed", "engine"] for i in ids],
            "author": ["robin" if i in ("a0", "b0") else "wren" for i in ids],
            "created_at": [10**6 + 30 * 86_400 - k * 86_400 for k in range(len(ids))],
            "fields": fields,
        },
        events={
            "user_id": users,
            "item_id": items,
            "kind": ["like"] * len(users),
            "value": [1.0] * len(users),
            "ts": ts,
        },
        follows={"follower": ["u0"], "followee": ["robin"], "ts": [0]},
    )


def make_home(
    path: Path, catalog: Catalog | None = None, *, text: bool = False, index_kind: str = "hnsw"
) -> Path:
    """A real home: the catalog ingested into SQLite, an ALS version (alias ``collab``,
    with users) indexed by ``index_kind``, and optionally a transformer version (``text``)."""
    catalog = catalog or board()
    with open_store(path) as s:
        for kind in ("items", "events", "follows"):
            table: pa.Table = getattr(catalog, kind)
            if kind == "items":
                table = table.drop_columns(["fields"]).append_column(
                    "fields", pa.array(catalog.items.column("fields").to_pylist(), pa.string())
                )
            if table.num_rows:
                ingest_table(s, kind, table, source=kind)
        catalog = s.catalog()
    with VersionStore(path) as vs:
        als = get("als")(factors=8, iterations=10, seed=0, n_threads=1).fit(catalog)
        items = als.embedding_set(catalog)
        info = vs.put(items, users=als.user_embedding_set(catalog), alias="collab")
        index_version(items, info.id, Artifacts(path).index(info.id, index_kind), kind=index_kind)
        if text:
            tr = get("transformer")(onnx_model="packaged").fit(catalog)
            vs.put(tr.embedding_set(catalog), alias="text")
    return path


def served_board(path: Path, aliases: frozenset[str] = frozenset({"collab"})):
    """``(catalog, spaces)`` of a fresh board home at ``path``: the catalog as stored and
    the versions named by ``aliases`` opened for serving (none may fail to open)."""
    from roost.recommend.serving import open_spaces
    from roost.store import Home

    home = Home.at(make_home(path))
    with open_store(home, create=False) as s:
        catalog = s.catalog()
    with VersionStore(home, create=False) as vs:
        spaces, problems = open_spaces(vs, home, set(aliases))
    assert not problems, problems
    return catalog, spaces
