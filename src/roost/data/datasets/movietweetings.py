"""MovieTweetings (Dooms et al., 2013): the bundled demo catalog. MIT licence."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa

from roost.data.datasets.base import Dataset, DatasetLoader, split_dat
from roost.data.datasets.social import bird_name, engagement_follows, first_raters
from roost.data.errors import IngestError

_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def bundled_path() -> Path:
    return Path(str(resources.files("roost.data") / "bundled" / "movietweetings-100k"))


class MovieTweetings(DatasetLoader):
    name = "movietweetings"
    description = "MovieTweetings 100K: 100,000 ratings (0-10) of 10,506 movies by 16,554 users"
    licence = "MIT"
    bundled = True

    def load(self, path: str | Path | None = None) -> Dataset:
        """Movies become items (title, genres as tags, first genre as category, year as a
        field; created_at is the first rating's time, when the movie entered the catalog);
        ratings become events of kind ``rating``; users keep their Twitter id as a field.

        The social half is synthetic, derived from the ratings by
        :mod:`roost.data.datasets.social`: each movie's author is the user who rated it
        first, each user follows up to five users whose movies it rated most in the first
        half of the timeline, and users get display names ("Ana Wren")."""
        p = Path(path) if path else bundled_path()
        for f in ("movies.dat", "ratings.dat", "users.dat"):
            if not (p / f).exists():
                raise IngestError(str(p / f), message="missing MovieTweetings file")
        ratings = split_dat(p / "ratings.dat")
        r = np.array(ratings, dtype=object)
        ts = r[:, 3].astype(np.int64)
        first: dict[str, int] = {}
        for item, t in zip(r[:, 1], ts, strict=True):
            if item not in first or t < first[item]:
                first[item] = int(t)
        authors = first_raters(r[:, 0], r[:, 1], ts)
        ids, titles, tags, cats, created, fields = [], [], [], [], [], []
        for row in split_dat(p / "movies.dat"):
            mid, title, genres = row[0], row[1], row[2] if len(row) > 2 else ""
            m = _YEAR.match(title)
            name, year = (m.group(1), m.group(2)) if m else (title, None)
            g = [x for x in genres.split("|") if x]
            ids.append(mid)
            titles.append(name)
            tags.append(g)
            cats.append(g[0] if g else None)
            created.append(first.get(mid))
            fields.append(f'{{"year": {int(year)}}}' if year else None)
        items = pa.table(
            {
                "id": ids, "title": titles, "tags": pa.array(tags, pa.list_(pa.string())),
                "category": cats, "author": [authors.get(m) for m in ids],
                "created_at": pa.array(created, pa.int64()), "fields": fields,
            }
        )
        users = split_dat(p / "users.dat")
        users_t = pa.table(
            {"id": [u[0] for u in users], "name": [bird_name(u[0]) for u in users],
             "fields": [f'{{"twitter_id": "{u[1]}"}}' for u in users]}
        )  # fmt: skip
        events = pa.table(
            {
                "user_id": pa.array(r[:, 0].tolist(), pa.string()),
                "item_id": pa.array(r[:, 1].tolist(), pa.string()),
                "kind": pa.array(["rating"] * len(r), pa.string()),
                "value": pa.array(r[:, 2].astype(np.float64)),
                "ts": pa.array(ts),
            }
        )
        follows = engagement_follows(r[:, 0], r[:, 1], ts, authors)
        return Dataset(self.name, items=items, users=users_t, events=events, follows=follows,
                       extra={"path": str(p)})  # fmt: skip
