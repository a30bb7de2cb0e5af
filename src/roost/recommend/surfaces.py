"""Surfaces (home timeline, "more like this" ...) declared in a TOML file, validated strictly.

A surface lists its channels (each with the embedding version it reads and its weight in
the blend), its rule filters, a ``where`` table of predicates, the ranker and diversity.
Every key is checked: an unknown one is a :class:`~roost.types.RoostError` naming the key
and the file, as is a channel parameter of the wrong type. Example::

    [home]
    ranker = "auto"                 # auto: the learned ranker when trained, else blend
    filters = ["seen", "blocked", "unsafe", "in_stock"]
    where = { max_age_days = 3650, exclude_fields = { adult = true } }

    [[home.channels]]
    kind = "item_to_item"
    version = "collab"
    cutoff = 0.6

    [similar]                       # "more like this": versions searched, in order
    versions = ["collab", "text"]
    filters = ["blocked", "unsafe"]
"""

from __future__ import annotations

import inspect
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roost.recommend.channels import CHANNELS
from roost.recommend.filters import from_spec
from roost.recommend.reserve import Reserve
from roost.recommend.reserve import parse as parse_reserve
from roost.recommend.vector_channels import VECTOR_CHANNELS
from roost.types import RoostError

SURFACE_KEYS = (
    "channels",
    "filters",
    "where",
    "ranker",
    "per_channel",
    "diversity",
    "diversity_version",
    "versions",
    "reserve",
)
RULES = ("seen", "blocked", "unsafe", "in_stock")  # filters that take no parameters
RANKER_CHOICES = ("auto", "blend", "learned")
ALL_CHANNELS = {**CHANNELS, **VECTOR_CHANNELS}

DEFAULT_TOML = """
[home]
ranker = "auto"
per_channel = 30
diversity = 0.85
diversity_version = "text"
filters = ["seen", "blocked", "unsafe", "in_stock"]

[[home.channels]]
kind = "item_to_item"
version = "collab"
cutoff = 0.6

[[home.channels]]
kind = "user_to_item"
version = "collab"

[[home.channels]]
kind = "cluster"
version = "collab"
weight = 0.5

[[home.channels]]
kind = "item_to_item"
version = "text"
cutoff = 0.6
weight = 0.5

[[home.channels]]
kind = "cooccurrence"
weight = 0.5

[[home.channels]]
kind = "followed"

[[home.channels]]
kind = "popular"
weight = 0.3

[[home.channels]]
kind = "fresh"
weight = 0.2

# A followed bird's new flit (or your own) reaches the timeline at once.
[[home.reserve]]
channel = "followed"
slots = 2
max_age_days = 3

[similar]
versions = ["collab", "text"]
filters = ["blocked", "unsafe", "in_stock"]
"""


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of a surface: its kind, the version alias it reads, its blend weight."""

    kind: str
    version: str | None = None
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The channel's name in scores and explanations (kind, plus version when it has
        one, so two item-to-item channels over different versions stay apart)."""
        return self.kind if self.version is None else f"{self.kind}:{self.version}"


@dataclass(frozen=True)
class Surface:
    name: str
    channels: tuple[ChannelSpec, ...] = ()
    filters: tuple[str, ...] = ()
    where: dict[str, Any] = field(default_factory=dict)
    ranker: str = "auto"
    per_channel: int = 30
    diversity: float = 1.0
    diversity_version: str | None = None
    versions: tuple[str, ...] = ()
    reserve: tuple[Reserve, ...] = ()

    def aliases(self) -> set[str]:
        """Every version alias the surface reads."""
        out = {c.version for c in self.channels if c.version} | set(self.versions)
        if self.diversity_version and self.diversity < 1:
            out.add(self.diversity_version)
        return out


def load(path: str | Path) -> dict[str, Surface]:
    """Read and validate a surfaces file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise RoostError(f"{path}: cannot read surfaces file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise RoostError(f"{path}: not valid TOML: {e}") from e
    return parse(doc, str(path))


def default() -> dict[str, Surface]:
    """The built-in surfaces (what ``build_default`` prepares the versions for)."""
    return parse(tomllib.loads(DEFAULT_TOML), "<built-in surfaces>")


def parse(doc: dict[str, Any], source: str) -> dict[str, Surface]:
    """Validate a parsed TOML document into surfaces; errors name the key and ``source``."""
    if not doc:
        raise RoostError(f"{source}: no surfaces declared")
    return {name: _surface(name, body, source) for name, body in doc.items()}


def _surface(name: str, body: Any, source: str) -> Surface:
    at = f"{source}: [{name}]"
    if not isinstance(body, dict):
        raise RoostError(f"{at}: a surface must be a table")
    unknown = sorted(set(body) - set(SURFACE_KEYS))
    if unknown:
        raise RoostError(f"{at}: unknown key {unknown[0]!r}; known: {', '.join(SURFACE_KEYS)}")
    channels = body.get("channels", [])
    if not isinstance(channels, list):
        raise RoostError(f"{at}: channels must be an array of tables ([[{name}.channels]])")
    specs = tuple(_channel(c, f"{at}.channels[{j}]") for j, c in enumerate(channels))
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise RoostError(f"{at}: channel {dup!r} is declared twice")
    filters = _strings(body.get("filters", []), f"{at}.filters")
    for f in filters:
        if f not in RULES:
            raise RoostError(
                f"{at}.filters: unknown filter {f!r}; known: {', '.join(RULES)} "
                "(category, age and field rules go in 'where')"
            )
    where = body.get("where", {})
    from_spec(where, where=f"{at}.where")  # validates now, rebuilt per engine
    ranker = body.get("ranker", "auto")
    if ranker not in RANKER_CHOICES:
        raise RoostError(f"{at}.ranker: {ranker!r} is not one of {', '.join(RANKER_CHOICES)}")
    per_channel = body.get("per_channel", 30)
    if isinstance(per_channel, bool) or not isinstance(per_channel, int) or per_channel < 1:
        raise RoostError(f"{at}.per_channel: expected a positive integer, got {per_channel!r}")
    diversity = body.get("diversity", 1.0)
    if (
        isinstance(diversity, bool)
        or not isinstance(diversity, int | float)
        or not 0 <= diversity <= 1
    ):
        raise RoostError(f"{at}.diversity: expected a number in [0, 1], got {diversity!r}")
    dv = body.get("diversity_version")
    if dv is not None and not isinstance(dv, str):
        raise RoostError(f"{at}.diversity_version: expected a version alias, got {dv!r}")
    versions = _strings(body.get("versions", []), f"{at}.versions")
    if not specs and not versions:
        raise RoostError(f"{at}: declares neither channels nor versions")
    reserve = parse_reserve(body.get("reserve", []), labels, f"{at}.reserve")
    return Surface(
        name,
        specs,
        tuple(filters),
        dict(where),
        ranker,
        per_channel,
        float(diversity),
        dv,
        tuple(versions),
        reserve,
    )


def _channel(body: Any, at: str) -> ChannelSpec:
    if not isinstance(body, dict):
        raise RoostError(f"{at}: a channel must be a table")
    kind = body.get("kind")
    if kind not in ALL_CHANNELS:
        raise RoostError(
            f"{at}.kind: {kind!r} is not a channel; known: {', '.join(sorted(ALL_CHANNELS))}"
        )
    klass = ALL_CHANNELS[kind]
    sig = {
        p.name: p
        for p in inspect.signature(klass.__init__).parameters.values()
        if p.name not in ("self", "space")
    }
    needs_version = kind in VECTOR_CHANNELS
    version = body.get("version")
    if needs_version and not isinstance(version, str):
        raise RoostError(f'{at}: channel {kind!r} reads embeddings: set version = "<alias>"')
    if not needs_version and version is not None:
        raise RoostError(f"{at}: channel {kind!r} reads no embeddings: remove 'version'")
    weight = body.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise RoostError(f"{at}.weight: expected a number, got {weight!r}")
    params = {}
    for key, value in body.items():
        if key in ("kind", "version", "weight"):
            continue
        if key not in sig:
            known = ", ".join(
                ["kind", "weight"] + (["version"] if needs_version else []) + list(sig)
            )
            raise RoostError(f"{at}: unknown key {key!r} for channel {kind!r}; known: {known}")
        _check_type(value, sig[key].default, f"{at}.{key}")
        params[key] = value
    return ChannelSpec(kind, version, float(weight), params)


def _check_type(value: Any, default: Any, at: str) -> None:
    if default is None or default is inspect.Parameter.empty:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise RoostError(f"{at}: expected {type(default).__name__}, got {value!r}")


def _strings(value: Any, at: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise RoostError(f"{at}: expected a list of strings, got {value!r}")
    return value
