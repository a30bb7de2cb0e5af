"""Surfaces config: strict validation (errors name the key and the file) and filter specs."""

from __future__ import annotations

import pytest

from roost.recommend import surfaces
from roost.recommend.filters import from_spec
from roost.types import RoostError

GOOD = """
[home]
ranker = "blend"
diversity = 0.9
diversity_version = "text"
filters = ["seen", "unsafe"]
where = { max_age_days = 30, fields = { lang = ["en", "fr"] }, exclude_fields = { adult = true } }

[[home.channels]]
kind = "item_to_item"
version = "collab"
cutoff = 0.5
weight = 2

[[home.channels]]
kind = "popular"

[similar]
versions = ["text"]
"""


def write(tmp_path, text):
    p = tmp_path / "surfaces.toml"
    p.write_text(text)
    return p


def test_default_is_valid_and_reads_collab_and_text():
    d = surfaces.default()
    assert set(d) == {"home", "similar"}
    assert d["home"].aliases() == {"collab", "text"}
    assert [c.label for c in d["home"].channels][:2] == [
        "item_to_item:collab",
        "user_to_item:collab",
    ]


def test_a_good_file_parses(tmp_path):
    s = surfaces.load(write(tmp_path, GOOD))
    home = s["home"]
    assert home.ranker == "blend" and home.diversity == 0.9
    assert home.channels[0].params == {"cutoff": 0.5} and home.channels[0].weight == 2.0
    assert [f.name for f in from_spec(home.where)] == ["max_age", "field", "field"]
    assert s["similar"].versions == ("text",)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[home]\nrankr = 'blend'\n[[home.channels]]\nkind = 'popular'\n", "unknown key 'rankr'"),
        ("[home]\n[[home.channels]]\nkind = 'popular'\nhalf_life = 3\n", "unknown key 'half_life'"),
        (
            "[home]\n[[home.channels]]\nkind = 'item_to_item'\nversion = 'c'\ncutoff = 'high'\n",
            "cutoff",
        ),
        ("[home]\n[[home.channels]]\nkind = 'item_to_item'\n", "set version"),
        ("[home]\n[[home.channels]]\nkind = 'popular'\nversion = 'x'\n", "remove 'version'"),
        ("[home]\n[[home.channels]]\nkind = 'telepathy'\n", "'telepathy' is not a channel"),
        (
            "[home]\nfilters = ['seen', 'rude']\n[[home.channels]]\nkind = 'popular'\n",
            "unknown filter 'rude'",
        ),
        (
            "[home]\nwhere = { colour = ['red'] }\n[[home.channels]]\nkind = 'popular'\n",
            "unknown filter 'colour'",
        ),
        ("[home]\nranker = 'magic'\n[[home.channels]]\nkind = 'popular'\n", "ranker"),
        ("[home]\ndiversity = 2\n[[home.channels]]\nkind = 'popular'\n", "diversity"),
        ("[home]\nper_channel = 0\n[[home.channels]]\nkind = 'popular'\n", "per_channel"),
        ("[home]\n", "neither channels nor versions"),
        (
            "[home]\n[[home.channels]]\nkind = 'popular'\n[[home.channels]]\nkind = 'popular'\n",
            "twice",
        ),
        ("home = 3\n", "must be a table"),
        ("[home\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key_and_the_file(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(RoostError) as e:
        surfaces.load(path)
    assert needle in str(e.value)
    assert str(path) in str(e.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RoostError, match="cannot read surfaces file"):
        surfaces.load(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"colour": "red"}, "unknown filter 'colour'"),
        ({"category": 3}, "filters.category"),
        ({"max_age_days": -1}, "max_age_days"),
        ({"max_age_days": True}, "max_age_days"),
        ({"fields": ["lang"]}, "filters.fields"),
        ({"fields": {"lang": {"nested": 1}}}, "filters.fields.lang"),
        (["category"], "expected a table"),
    ],
)
def test_filter_spec_errors(spec, needle):
    with pytest.raises(RoostError, match=needle):
        from_spec(spec)


def test_empty_specs_are_no_filters():
    assert from_spec(None) == [] and from_spec({}) == []
