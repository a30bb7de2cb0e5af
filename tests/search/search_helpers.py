"""A small catalog with known answers for the search tests."""

from __future__ import annotations

from roost.data.frames import Catalog

ITEMS = {
    "owl": ("Night hunter", "A barn owl glides silently over the meadow after dark"),
    "robin": ("Garden singer", "The robin sings its song from the hedge at dawn"),
    "heron": ("Wader", "A grey heron stands still in the river waiting for fish"),
    "truck": ("Heavy haulage", "Diesel trucks carry freight along the motorway"),
    "gearbox": ("Workshop notes", "Replacing the gearbox of a delivery van takes a day"),
    "xq7": ("Part XQ7-Zephyr", "Catalogue entry for the zephyr valve, model number XQ7"),
    "bake": ("Sourdough", "Bread rises overnight before it is baked in a hot oven"),
    "pasta": ("Kitchen", "Boil the noodles in salted water and add tomato sauce"),
}


def catalog() -> Catalog:
    ids = list(ITEMS)
    return Catalog.from_pydict(items={"id": ids, "title": [ITEMS[i][0] for i in ids],
                                      "text": [ITEMS[i][1] for i in ids]})  # fmt: skip
