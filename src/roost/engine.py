"""The Engine: one Roost home assembled for serving recommendations, "more like this" and
search. The CLI, the HTTP service and ``roost demo`` all go through it.

``Engine.open(home)`` reads the catalog into a :class:`~roost.recommend.context.RecContext`,
reads the surfaces (``<home>/surfaces.toml`` or the built-in default), opens the versions
they name with their saved indexes, and loads the trained ranker if there is one. Live
writes (``add_events``, ``put_item``, ``put_follow``) go to the store first, in one
transaction, and only then into the serving state, so what a request sees is durable.

Finished results are kept in a :class:`~roost.recommend.cache.ResultCache` (``cache_ttl``
seconds, 0 turns it off): a write drops the entries it could change before it returns
(a user's events, follows and unfollows: that user's; an item put or deleted, a reload:
all), so the next request after a write always sees it. Returned results are shared with
the cache: read them, do not change them.

Several processes may serve one home (``roost serve --workers N``): after
:meth:`Engine.follow_changes`, each applies the others' writes from the home's change log
(:mod:`roost.store.feed`) to its live state and drops the cached results they touch; on
one machine before its next answer, from other machines within the poll interval.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from roost.monitor.latency import LatencyRegistry
from roost.recommend import surfaces as surfaces_mod
from roost.recommend.cache import ResultCache
from roost.recommend.context import KIND_WEIGHT, RecContext
from roost.recommend.filters import FILTERS, from_spec
from roost.recommend.pipeline import Recommendation, Result
from roost.recommend.serving import (
    build_neighbour_tables,
    build_pipeline,
    open_spaces,
    similar_items,
)
from roost.recommend.spaces import VectorSpace
from roost.recommend.surfaces import Surface
from roost.store import Home, open_store
from roost.store.versions import VersionStore
from roost.types import RoostError, UnknownIdError

SEARCH_MODES = ("semantic", "lexical", "hybrid")
MAX_K = 1000
TEXT = "text"  # the alias of the content version: search, new items, "more like this" fallback


@dataclass
class _State:
    """Everything swapped as one on reload: a request sees the old state or the new one."""

    ctx: RecContext
    spaces: dict[str, VectorSpace]
    pipelines: dict[str, Any]
    searcher: Any
    problems: list[str] = field(default_factory=list)


class Engine:
    """A home opened for serving.

    Examples
    --------
    >>> import tempfile
    >>> from roost.data import datasets
    >>> from roost.store import open_store
    >>> home = tempfile.mkdtemp()
    >>> with open_store(home) as s:
    ...     _ = datasets.load("movietweetings").ingest(s)
    >>> eng = Engine.open(home)
    >>> len(eng.recommend("someone-new", k=3).items)
    3
    """

    def __init__(
        self,
        home: Home,
        surfaces: dict[str, Surface],
        explicit: bool,
        *,
        cache_ttl: float = 30.0,
        cache_entries: int = 10_000,
        origin: str | None = None,
    ):
        self.home = home
        self.surfaces = surfaces
        self.latency = LatencyRegistry()
        self.cache = ResultCache(cache_ttl, cache_entries)
        self._explicit = explicit
        self._write_lock = threading.RLock()
        self._store = open_store(home, create=False)
        if origin:
            self._store.origin = origin
        self.origin = self._store.origin
        self._feed: Any = None
        self._head = 0  # the change log entry the loaded state includes
        self._live_items: dict[str, str] = {}  # item id -> text, re-embedded after reload
        self._live_users: set[str] = set()
        self._state = self._load()

    @classmethod
    def open(
        cls,
        home: Home | str | Path,
        *,
        surfaces: str | Path | None = None,
        cache_ttl: float = 30.0,
        cache_entries: int = 10_000,
        origin: str | None = None,
    ) -> Engine:
        """Open ``home`` for serving (see the module docstring). ``origin`` names this
        engine's writes in the change log (a service shares it with its stores)."""
        home = home if isinstance(home, Home) else Home.at(home)
        if not home.exists():
            raise RoostError(
                f"{home.path}: no Roost home here (run `roost init` or `roost demo` first)"
            )
        path = Path(surfaces) if surfaces is not None else home.artifacts.surfaces
        cache = {"cache_ttl": cache_ttl, "cache_entries": cache_entries, "origin": origin}
        if surfaces is not None or path.exists():
            return cls(home, surfaces_mod.load(path), explicit=True, **cache)
        return cls(home, surfaces_mod.default(), explicit=False, **cache)

    def _load(self) -> _State:
        with self.latency.timed("engine.load"):
            catalog, self._head = self._store.snapshot()
            ctx = RecContext.from_catalog(catalog)
            wanted = set().union(*(s.aliases() for s in self.surfaces.values())) | {TEXT}
            with VersionStore(self.home, create=False) as vs:
                spaces, problems = open_spaces(vs, self.home, wanted)
            missing = sorted(a for a in wanted if a not in spaces)
            if self._explicit and missing:
                problems.append(
                    f"surfaces name version aliases that do not exist: {', '.join(missing)}"
                )
            pipelines = {
                name: build_pipeline(s, ctx, spaces, self.home, self.latency, problems)
                for name, s in self.surfaces.items()
                if s.channels
            }
            for user in self._live_users:
                self._fold_in(spaces, ctx, user)
            searcher = self._open_searcher(catalog, spaces, problems)
            for item_id, text in self._live_items.items():
                if (
                    self._embed_item(spaces, item_id, text)
                    and searcher is not None
                    and text.strip()
                ):
                    searcher.add(item_id, text)  # the new text version predates the item
            self.neighbour_tables = build_neighbour_tables(spaces)
            return _State(ctx, spaces, pipelines, searcher, problems)

    def _open_searcher(
        self, catalog: Any, spaces: dict[str, VectorSpace], problems: list[str]
    ) -> Any:
        try:
            from roost.search.hybrid import Searcher
        except ImportError:  # search is optional: recommendations work without it
            return None
        text = spaces.get(TEXT)
        try:
            searcher = Searcher.from_home(
                self.home,
                text_version=TEXT if text is not None else None,
                catalog=catalog,
                index=text.index if text is not None else None,
            )
        except RoostError as e:
            problems.append(f"search: {e}")
            return None
        semantic = getattr(searcher, "semantic", None)
        if text is not None and semantic is not None:
            text.share_encoder(semantic.encoder)  # one model in memory, not two
        return searcher

    # --- health -------------------------------------------------------------------------
    def ready(self) -> tuple[bool, list[str]]:
        """``(ok, problems)``: the store's integrity check, every served version verified."""
        st = self._state
        problems = list(st.problems)
        with self._write_lock:
            problems += self._store.check()
        with VersionStore(self.home, create=False) as vs:
            for space in st.spaces.values():
                problems += [str(p) for p in vs.verify(space.id)]
        return not problems, problems

    # --- requests -----------------------------------------------------------------------
    def recommend(
        self,
        user: str,
        *,
        surface: str = "home",
        k: int = 10,
        explain: bool = True,
        filters: dict | None = None,
        cache_only: bool = False,
    ) -> Result | None:
        """Recommendations for ``user`` on ``surface``; a user with no history (or none
        known) gets the cold-start channels (popular, fresh, followed).

        ``cache_only``: the cached result, or None without computing one (a server looks
        there first on its event loop and sends only misses to its query thread)."""
        k = _check_k(k)
        if not cache_only:
            self._sync()
        st = self._state
        pipe = st.pipelines.get(surface)
        if pipe is None:
            known = ", ".join(sorted(st.pipelines)) or "none"
            raise RoostError(f"unknown surface {surface!r}; surfaces with channels: {known}")
        extra = from_spec(filters)
        user = str(user)
        key = ("recommend", surface, user, k, bool(explain), _spec_key(filters))
        if cache_only:
            return self._cached("recommend", key, user)
        with self.latency.timed("recommend"):
            return self.cache.get_or_compute(
                key,
                user,
                lambda: pipe.recommend(st.ctx, user, k=k, filters=extra, explain=explain),
            )

    def similar(
        self,
        item: str,
        *,
        k: int = 10,
        version: str | None = None,
        filters: dict | None = None,
        cache_only: bool = False,
    ) -> Result | None:
        """Items like ``item`` ("more like this"): its nearest neighbours in the first of
        the ``similar`` surface's versions that knows it (or in ``version``).
        ``cache_only`` as in :meth:`recommend`."""
        k = _check_k(k)
        if not cache_only:
            self._sync()
        st = self._state
        st.ctx.row(item)  # UnknownIdError names an unknown item
        surface = self.surfaces.get("similar") or surfaces_mod.default()["similar"]
        if version is not None:
            space = st.spaces.get(version) or self._extra_space(version)
            spaces = [space]
        else:
            spaces = [st.spaces[a] for a in surface.versions if a in st.spaces]
        rules = (
            [FILTERS[f]() for f in surface.filters] + from_spec(surface.where) + from_spec(filters)
        )
        key = ("similar", str(item), k, version, _spec_key(filters))
        if cache_only:
            return self._cached("similar", key, None)
        with self.latency.timed("similar"):
            return self.cache.get_or_compute(
                key, None, lambda: similar_items(st.ctx, item, spaces, rules, k)
            )

    def search(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        filters: dict | None = None,
        cache_only: bool = False,
    ) -> Result | None:
        """Semantic, lexical or hybrid search over item text. ``cache_only`` as in
        :meth:`recommend`."""
        k = _check_k(k)
        if mode not in SEARCH_MODES:
            raise RoostError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        if not isinstance(query, str) or not query.strip():
            raise RoostError("search: the query is empty")
        if not cache_only:
            self._sync()
        st = self._state
        if st.searcher is None:
            raise RoostError(
                "search is not available in this home (build it with `roost demo` first)"
            )
        rules = from_spec(filters)
        key = ("search", query, mode, k, _spec_key(filters))
        if cache_only:
            return self._cached(f"search.{mode}", key, None)
        keep = _search_keep(st.ctx, rules)
        with self.latency.timed(f"search.{mode}"):
            return self.cache.get_or_compute(
                key, None, lambda: self._search(st, query, mode, k, keep)
            )

    def _cached(self, name: str, key: tuple, user: str | None) -> Result | None:
        if self._feed is not None and self._feed.pending():
            return None  # another process wrote: the query thread applies it, then answers
        started = time.perf_counter()
        hit = self.cache.get(key, user)
        if hit is not None:
            self.latency.record(name, time.perf_counter() - started)
        return hit

    @staticmethod
    def _search(st: _State, query: str, mode: str, k: int, keep: Any) -> Result:
        hits = st.searcher.search(query, mode, k, keep=keep)
        items = []
        for item_id, score, why in hits:
            row = st.ctx.index.get(item_id)
            title = st.ctx.titles[row] if row is not None else item_id
            items.append(
                Recommendation(
                    item_id, title, round(float(score), 6), [{"channel": mode, **(why or {})}]
                )
            )
        return Result(query, items)

    def history(self, user: str, *, k: int = 20) -> Result:
        """The items ``user`` engaged with most recently (positive events, newest first,
        live events included; deleted items left out)."""
        k = _check_k(k)
        self._sync()
        ctx = self._state.ctx
        rows = [r for r in ctx.liked(str(user), k + 64) if not ctx.deleted[r]][:k]
        return Result(
            str(user),
            [Recommendation(ctx.item_ids[r], ctx.titles[r], 1.0, []) for r in rows],
        )

    def embed(self, texts: list[str], *, version: str | None = None) -> np.ndarray:
        """Vectors for ``texts`` from a content version (default: alias ``text``)."""
        alias = version or TEXT
        space = self._state.spaces.get(alias) or self._extra_space(alias)
        with self.latency.timed("embed"):
            return space.encode([str(t) for t in texts])

    def _extra_space(self, ref: str) -> VectorSpace:
        with VersionStore(self.home, create=False) as vs:
            spaces, problems = open_spaces(vs, self.home, {ref})
        if ref not in spaces:
            raise RoostError(problems[0] if problems else f"no version or alias {ref!r}")
        return spaces[ref]

    # --- live writes --------------------------------------------------------------------
    def add_events(self, events: list[dict]) -> int:
        """Store events (one transaction, validated like ingest), then apply them live.

        Returns how many were new to the store. A bad row raises a RoostError naming the
        row and the field, and nothing is written.
        """
        from roost.recommend.live import events_table, store_rows

        table = events_table(events)
        with self._write_lock, self.latency.timed("add_events"):
            stored = store_rows(self._store, "events", table, "add_events")
            self._apply_events(table.to_pylist())
        return stored

    def _apply_events(self, rows: list[dict]) -> None:
        """Stored events into the live state (counts, channels, user vectors, cache)."""
        with self._write_lock:
            st = self._state
            users = set()
            for e in rows:
                value = 1.0 if e.get("value") in (None, "") else float(e["value"])
                st.ctx.add_event(
                    e["user_id"], e["item_id"], e["kind"].lower(), value, int(float(e["ts"]))
                )
                row = st.ctx.index.get(e["item_id"])
                weight = KIND_WEIGHT.get(e["kind"].lower(), 1.0)
                for pipe in st.pipelines.values():
                    for ch in pipe.channels:
                        ch.observe(st.ctx, e["user_id"], row, weight)
                users.add(e["user_id"])
            for u in users:
                self._fold_in(st.spaces, st.ctx, u)
            self._live_users |= users
            self.cache.invalidate_users(users)

    def _fold_in(self, spaces: dict[str, VectorSpace], ctx: RecContext, user: str) -> None:
        h = ctx.histories.get(user)
        if not h:
            return
        recent = ctx.liked(user, 50)
        ids = [ctx.item_ids[r] for r in recent]
        for space in spaces.values():
            if space.has_users:
                space.set_user(user, space.fold_in(ids))

    def put_item(self, item: dict) -> None:
        """Store (or update) an item, then make it recommendable and searchable at once:
        its content vector from the ``text`` version goes into the live indexes."""
        from roost.recommend.live import item_table, store_rows

        table = item_table(item)
        row = table.to_pylist()[0]
        with self._write_lock, self.latency.timed("put_item"):
            store_rows(self._store, "items", table, "put_item")
            self._apply_item(self._store.get("items", (row["id"],)) or row)

    def _apply_item(self, saved: dict) -> None:
        """A stored item into the live state: recommendable, embedded, searchable."""
        with self._write_lock:
            st = self._state
            st.ctx.add_item(
                saved["id"],
                title=saved.get("title"),
                category=saved.get("category"),
                tags=saved.get("tags"),
                author=saved.get("author"),
                created_at=saved.get("created_at"),
                fields=_fields(saved.get("fields")),
            )
            text = " ".join(
                str(x)
                for x in (saved.get("title"), saved.get("text"), *(saved.get("tags") or []))
                if x
            )
            self._live_items[saved["id"]] = text
            self._embed_item(st.spaces, saved["id"], text)
            if st.searcher is not None and hasattr(st.searcher, "add") and text.strip():
                st.searcher.add(saved["id"], text)
            self.cache.invalidate_all()  # fresh and followed channels, search, similar

    @staticmethod
    def _embed_item(spaces: dict[str, VectorSpace], item_id: str, text: str) -> bool:
        """Give a new item its content vector in the ``text`` space; False when there is no
        content space or its version already holds the item (fitted vectors stay)."""
        space = spaces.get(TEXT)
        if space is None or not space.is_content or space.is_stored(item_id):
            return False
        space.add_item(item_id, space.encode([text or item_id])[0])
        return True

    def delete_item(self, item_id: str) -> None:
        """Remove an item from the store; it is never recommended or found again."""
        with self._write_lock, self.latency.timed("delete_item"):
            self._state.ctx.row(item_id)
            with self._store.transaction() as w:
                w.delete("items", [(item_id,)])
            self._apply_delete_item(item_id)

    def _apply_delete_item(self, item_id: str) -> None:
        with self._write_lock:
            st = self._state
            if st.ctx.index.get(item_id) is None:
                return
            st.ctx.remove_item(item_id)  # every later request drops it, whatever the channel
            self._live_items.pop(item_id, None)
            if st.searcher is not None and hasattr(st.searcher, "remove"):
                st.searcher.remove(item_id)
            self.cache.invalidate_all()

    def put_follow(self, follower: str, followee: str) -> None:
        """Store a follow; the follower's timeline shows the followee's items at once."""
        import pyarrow as pa

        from roost.recommend.live import store_rows

        table = pa.table(
            {
                "follower": [str(follower)],
                "followee": [str(followee)],
                "ts": [str(int(time.time()))],
            }
        )
        with self._write_lock:
            store_rows(self._store, "follows", table, "put_follow")
            # a new set, not a change to the old one: a request may be iterating it
            follows = self._state.ctx.follows
            follows[str(follower)] = follows.get(str(follower), set()) | {str(followee)}
            self.cache.invalidate_users([follower])

    def delete_follow(self, follower: str, followee: str) -> bool:
        """Remove a follow; the follower's timeline stops showing the followee's items at
        once. Returns False when ``follower`` did not follow ``followee``."""
        follower, followee = str(follower), str(followee)
        with self._write_lock:
            with self._store.transaction() as w:
                removed = w.delete("follows", [(follower, followee)])
            follows = self._state.ctx.follows
            follows[follower] = follows.get(follower, set()) - {followee}
            self.cache.invalidate_users([follower])
        return bool(removed)

    # --- lifecycle ----------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the catalog and re-resolve aliases; the new state replaces the old at once."""
        feed = self._feed
        with feed.lock if feed is not None else self._write_lock, self._write_lock:
            self._state = self._load()
            self.cache.invalidate_all()
            if feed is not None:  # what the snapshot holds is not applied again
                feed.seen = max(feed.seen, self._head)

    # --- other processes' writes ----------------------------------------------------------
    def follow_changes(self, *, poll: float = 0.5) -> None:
        """Apply other processes' writes to this engine from now on (see the module
        docstring): checked before every request, and in the background every ``poll``
        seconds (at once on PostgreSQL, which notifies)."""
        from roost.store.feed import FeedHead, Follower

        if self._feed is not None:
            return
        db = self.home.db()
        self._feed = Follower(db.changes(), FeedHead(self.home.artifacts.feed_head), self.origin,
                              self._apply_changes, start_at=self._head, poll=poll)  # fmt: skip
        self._feed.catch_up()  # what was committed while the state loaded
        self._feed.start()

    def _sync(self) -> None:
        if self._feed is not None:
            self._feed.check()

    def _apply_changes(self, changes: list) -> None:
        """Entries of the change log written by other processes, oldest first."""
        if any(c.kind not in ("events", "items", "follows") for c in changes):
            self.reload()  # an alias moved, or a bulk write: read everything again
            return
        for c in changes:
            body = c.body
            if c.kind == "events":
                with self._write_lock:
                    rows = self._store.events_between(body["after"], body["upto"]).to_pylist()
                self._apply_events(rows)
            elif c.kind == "items":
                for item_id in body.get("ids", []):
                    with self._write_lock:
                        saved = self._store.get("items", (item_id,))
                    if saved is not None:
                        self._apply_item(saved)
                for item_id in body.get("deleted", []):
                    self._apply_delete_item(item_id)
            elif c.kind == "follows":
                with self._write_lock:
                    follows = self._state.ctx.follows
                    touched = set()
                    for a, b in body.get("put", []):
                        follows[a] = follows.get(a, set()) | {b}
                        touched.add(a)
                    for a, b in body.get("deleted", []):
                        follows[a] = follows.get(a, set()) - {b}
                        touched.add(a)
                    self.cache.invalidate_users(touched)

    def close(self) -> None:
        if self._feed is not None:
            self._feed.close()
        with self._write_lock:
            self._store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _search_keep(ctx: RecContext, rules: list) -> Any:
    """A mask over candidate ids for search: unknown, withdrawn and unsafe items never
    come back, nor anything the request's filters refuse."""

    def keep(ids) -> np.ndarray:
        # map() over the bound dict.get runs the lookups in C: no generator frame per
        # candidate (hybrid search checks ~200 candidates a mode per query).
        rows = np.fromiter(map(ctx.index.get, ids, repeat(-1)), np.int64, len(ids))
        at = np.maximum(rows, 0)
        ok = (rows >= 0) & ~ctx.deleted[at] & ~ctx.unsafe[at]
        for f in rules:
            live = np.flatnonzero(ok)
            if not len(live):
                break
            ok[live] = np.asarray(f.keep(ctx, "", rows[live].tolist()), bool)
        return ok

    return keep


def _spec_key(filters: dict | None) -> str:
    """A request's filters as part of a cache key (the same filters, the same key)."""
    return json.dumps(filters, sort_keys=True, default=str) if filters else ""


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise RoostError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def _fields(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        import orjson

        return orjson.loads(value)
    return {}


def build_default(home: Home | str | Path, *, progress: bool = False, fast: bool = False) -> dict:
    """Fit the default versions (transformer -> ``text``, ALS -> ``collab``), build their
    indexes, the BM25 index and the ranker; returns a summary (see
    :func:`roost.recommend.training.build_default`)."""
    from roost.recommend.training import build_default as _build

    return _build(home, progress=progress, fast=fast)


__all__ = ["Engine", "UnknownIdError", "build_default"]
