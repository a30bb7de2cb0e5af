"""Query parameters read in one step: documented as FastAPI documents them, validated by
one pydantic call.

FastAPI solves each declared query parameter on its own on every request: it works out
again whether the parameter's type is a list, looks the value up, and runs a validator per
parameter. For the ten parameters of ``/recommend`` that was about half of the app's own
time per request in a profile (more than routing, auth and JSON encoding together). A
:class:`QueryParser` takes the request, reads only the names it declares, and validates
them all at once against a model built from the same declarations; with none of them
given it answers a ready-made default.

What a client sees does not change: the OpenAPI parameters are the ones FastAPI generates
for the same declarations (from a throwaway app at start), and a bad value is a 422 in
FastAPI's own shape (``{"detail": [{"type", "loc": ["query", NAME, ...], "msg", "input"}]}``).
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

# FastAPI's own 422 entry (its HTTPValidationError schema is in the components of any app
# with a route that has parameters, as ours do).
_INVALID = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True)


def _is_list(annotation: Any) -> bool:
    """``list[X]`` or ``list[X] | None``: read with ``getlist`` (as FastAPI does)."""
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(a) is list for a in typing.get_args(annotation))


class QueryParser:
    """A dependency returning a route's query parameters as one validated model.

    Parameters
    ----------
    name : the model's name (shows in nothing a client sees).
    params : ``(name, annotation, default)`` per query parameter, in documentation order;
        ``default`` is a ``fastapi.Query(...)`` or a plain default value, as it would be
        in an endpoint's signature.

    Call ``await parser(request)`` in the endpoint (or declare ``Depends(parser)``) and
    put ``openapi_extra=parser.openapi`` on the route, so the schema lists the parameters
    FastAPI no longer sees.

    Examples
    --------
    >>> from fastapi import Query
    >>> parser = QueryParser("Paging", [("k", int, Query(10, ge=1, le=100))])
    >>> parser.validate({"k": "5"}).k, parser.openapi["parameters"][0]["schema"]["maximum"]
    (5, 100)
    """

    def __init__(self, name: str, params: list[tuple[str, Any, Any]]):
        fields: dict[str, Any] = {}
        for pname, annotation, default in params:
            info = default if isinstance(default, FieldInfo) else FieldInfo(default=default)
            # A plain FieldInfo copy: the model validates with the same constraints and
            # default as FastAPI's parameter, without FastAPI's Param subclass.
            fields[pname] = (annotation, FieldInfo.merge_field_infos(FieldInfo(), info))
        self.model: type[_Params] = create_model(name, __base__=_Params, **fields)
        self.names = tuple(p[0] for p in params)
        self.lists = frozenset(p[0] for p in params if _is_list(p[1]))
        required = any(f.is_required() for f in self.model.model_fields.values())
        self.default = None if required else self.model()
        # FastAPI documents a 422 only for routes with parameters it sees; these can fail too.
        self.openapi = {"parameters": _documented(params), "responses": {"422": _INVALID}}

    def validate(self, values: dict[str, Any]) -> _Params:
        """The model for ``values`` (strings, lists of strings for list parameters), or
        :class:`~fastapi.exceptions.RequestValidationError` located as FastAPI locates it."""
        try:
            return self.model.model_validate(values)
        except ValidationError as e:
            errors = []
            for err in e.errors(include_url=False):
                err = {**err, "loc": ("query", *err["loc"])}
                if err["type"] == "missing":
                    err["input"] = None  # FastAPI's missing-parameter error carries no input
                errors.append(err)
            raise RequestValidationError(errors) from None

    # async although it never awaits: FastAPI runs a plain function on the thread pool,
    # and that hop costs more than the parsing.
    async def __call__(self, request: Request) -> _Params:
        query = request.query_params
        if self.default is not None and not any(n in query for n in self.names):
            return self.default  # the common case: none given, nothing to validate
        values: dict[str, Any] = {}
        for n in self.names:
            if n in self.lists:
                got = query.getlist(n)
                if got:
                    values[n] = got
            else:
                v = query.get(n)
                if v is not None:
                    values[n] = v
        return self.validate(values)


def _documented(params: list[tuple[str, Any, Any]]) -> list[dict[str, Any]]:
    """The OpenAPI parameters FastAPI writes for these declarations (from a throwaway app
    with one route declaring them the usual way)."""

    def doc(**kwargs: Any) -> None:
        return None

    doc.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
            for n, a, d in params
        ]
    )
    probe = FastAPI()

    @probe.get("/")
    def _route(_=Depends(doc)) -> None:
        return None

    return probe.openapi()["paths"]["/"]["get"].get("parameters", [])
