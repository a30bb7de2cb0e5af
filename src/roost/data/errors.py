"""Errors that say where: file, line (or row group and row) and field."""

from __future__ import annotations

from dataclasses import dataclass

from roost.types import RoostError

MAX_SHOWN = 20


@dataclass(frozen=True)
class RowError:
    """One refused row: where it is, which field, and why."""

    where: str  # "line 17" or "row group 0, row 5"
    field: str | None
    message: str

    def __str__(self) -> str:
        at = f"{self.where}, field {self.field!r}" if self.field else self.where
        return f"{at}: {self.message}"


class IngestError(RoostError):
    """A file (or part of it) could not be ingested; nothing of it was stored."""

    def __init__(self, path: str, errors: list[RowError] | None = None, message: str = ""):
        self.path = path
        self.errors = errors or []
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.message:
            return f"{self.path}: {self.message}"
        shown = [f"{self.path}: {e}" for e in self.errors[:MAX_SHOWN]]
        more = len(self.errors) - MAX_SHOWN
        if more > 0:
            shown.append(f"... and {more} more bad rows (use --on-error skip to keep good rows)")
        return "\n".join(shown)
