"""MovieLens 100K (GroupLens). Research use only, no redistribution: read from a user's path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from roost.data.datasets.base import Dataset, DatasetLoader, split_dat

GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def read_udata(path: Path) -> pa.Table:
    """A u.data-format file (user, item, rating, time; tab-separated) as canonical events."""
    a = np.loadtxt(path, dtype=np.int64, ndmin=2)
    return pa.table(
        {
            "user_id": pa.array(a[:, 0].astype(str).tolist()),
            "item_id": pa.array(a[:, 1].astype(str).tolist()),
            "kind": pa.array(["rating"] * len(a)),
            "value": pa.array(a[:, 2].astype(np.float64)),
            "ts": pa.array(a[:, 3]),
        }
    )


class MovieLens100K(DatasetLoader):
    name = "ml-100k"
    description = "MovieLens 100K: 100,000 ratings (1-5) of 1,682 movies by 943 users (u1-u5 folds)"
    licence = "GroupLens research licence (not redistributable): pass --path"

    def load(self, path: str | Path | None = None) -> Dataset:
        p = self._need(path, self.name, ("u.data", "u.item", "u.user"))
        ids, titles, tags, cats, fields = [], [], [], [], []
        for row in split_dat(p / "u.item", sep="|", encoding="latin-1"):
            g = [GENRES[j] for j, flag in enumerate(row[5:24]) if flag == "1"]
            ids.append(row[0])
            titles.append(row[1])
            tags.append(g)
            cats.append(g[0] if g else None)
            fields.append(f'{{"release_date": "{row[2]}"}}' if row[2] else None)
        items = pa.table(
            {"id": ids, "title": titles, "tags": pa.array(tags, pa.list_(pa.string())),
             "category": cats, "fields": fields}
        )
        users = split_dat(p / "u.user", sep="|", encoding="latin-1")
        users_t = pa.table(
            {
                "id": [u[0] for u in users],
                "fields": [
                    f'{{"age": {int(u[1])}, "gender": "{u[2]}", "occupation": "{u[3]}", "zip": "{u[4]}"}}'
                    for u in users
                ],
            }
        )
        folds = [f for f in FOLDS if (p / f"{f}.base").exists() and (p / f"{f}.test").exists()]
        return Dataset(
            self.name, items=items, users=users_t, events=read_udata(p / "u.data"),
            extra={"path": str(p), "folds": folds},
        )

    @staticmethod
    def fold(path: str | Path, fold: str) -> tuple[pa.Table, pa.Table]:
        """The official ``fold`` (u1..u5, ua, ub) as (train, test) canonical event tables."""
        p = Path(path)
        if fold not in FOLDS:
            raise ValueError(f"unknown fold {fold!r}; use one of {', '.join(FOLDS)}")
        return read_udata(p / f"{fold}.base"), read_udata(p / f"{fold}.test")
