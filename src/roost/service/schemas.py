"""HTTP request and response models (pydantic, at the edge only).

Types and sizes are checked here; the data rules (known event kinds, times, references to
the catalog) are the ingest rules, applied by the library, so HTTP and files agree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from roost.data.schema import MAX_ID_CHARS, MAX_TEXT_CHARS
from roost.data.validate import MAX_ABS_VALUE, MAX_TS, MIN_TS

# An id holds a non-blank character (ingest trims ids; a blank one is missing).
NON_BLANK = r"\S"
EventKind = Literal["view", "click", "like", "share", "rating", "purchase"]
# Times over HTTP are epoch seconds (files may also use ISO 8601).
Epoch = Annotated[int, Field(ge=MIN_TS, le=MAX_TS, description="epoch seconds")]


def _id() -> Any:
    return Field(min_length=1, max_length=MAX_ID_CHARS, pattern=NON_BLANK)


class Message(BaseModel):
    detail: str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemFields(_Strict):
    title: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    text: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    tags: list[str] | None = Field(None, max_length=1000)
    category: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    author: str | None = Field(None, max_length=MAX_ID_CHARS)
    created_at: Epoch | None = Field(None, description="epoch seconds; default now")
    fields: dict[str, Any] | None = None


class ItemIn(ItemFields):
    id: str = _id()


class Item(BaseModel):
    id: str
    title: str | None = None
    text: str | None = None
    tags: list[str] | None = None
    category: str | None = None
    author: str | None = None
    created_at: int | None = None
    fields: dict[str, Any] | None = None


class UserFields(_Strict):
    name: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    fields: dict[str, Any] | None = None


class UserIn(UserFields):
    id: str = _id()


class User(BaseModel):
    id: str
    name: str | None = None
    fields: dict[str, Any] | None = None


class FollowIn(_Strict):
    follower: str = _id()
    followee: str = _id()


class Follow(BaseModel):
    follower: str
    followee: str
    ts: int | None = None


class Page(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]]


class ItemPage(Page):
    items: list[Item]


class UserPage(Page):
    items: list[User]


class EventIn(_Strict):
    user_id: str = _id()
    item_id: str = _id()
    kind: EventKind
    value: float | None = Field(None, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE, allow_inf_nan=False)
    ts: Epoch | None = Field(None, description="epoch seconds; default now")
    event_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS, pattern=NON_BLANK)


class EventsIn(_Strict):
    events: list[EventIn] = Field(min_length=1)


class EventsOut(BaseModel):
    received: int
    stored: int


class Scored(BaseModel):
    id: str
    title: str | None = None
    score: float
    why: list[dict[str, Any]] = []


class _Results(BaseModel):
    items: list[Scored]
    removed: dict[str, int] = Field({}, description="candidates each filter removed")
    timings_ms: dict[str, float] = Field({}, description="milliseconds per stage")


class Recommendations(_Results):
    user: str = Field(description="whom the items are for")


class SimilarItems(_Results):
    item: str = Field(description="the item the others are like")


class SearchResults(_Results):
    query: str
    mode: Literal["semantic", "lexical", "hybrid"]


class EmbedIn(_Strict):
    texts: list[Annotated[str, Field(min_length=1, max_length=10_000, pattern=NON_BLANK)]] = Field(
        min_length=1
    )
    version: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS)


class EmbedOut(BaseModel):
    version: str | None
    dim: int
    vectors: list[list[float]]


class AliasIn(_Strict):
    version: str = Field(min_length=1, max_length=MAX_ID_CHARS)


class Health(BaseModel):
    ok: bool
    problems: list[str] = []
    worker: int | None = None  # the serving process's id (several behind one port)
