"""The ``roost`` command: thin over the library (parse, call, print).

A user error (:class:`~roost.types.RoostError`) exits 1 with one clear line on stderr and
no traceback; usage errors exit 2.
"""

from __future__ import annotations

import sys

import typer

from roost.cli import data, demo, embed, eval, monitor, recommend, search, serve, versions
from roost.cli.common import state
from roost.settings import resolve
from roost.types import RoostError

app = typer.Typer(
    name="roost",
    help="Roost: an embeddings engine for recommendation and semantic search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    home: str = typer.Option(
        None, "--home", help="Roost home directory [env ROOST_HOME; default ./.roost]", show_default=False
    ),
    database: str = typer.Option(
        None, "--database", help="the home's database URL, sqlite:///... or postgresql://... "
        "[env ROOST_DATABASE; default: the one the home records, else <home>/roost.db]",
        show_default=False,
    ),
) -> None:
    state.home = resolve("home", home)
    state.database = resolve("database", database) or None


data.register(app)
demo.register(app)
versions.register(app)
embed.register(app)
monitor.register(app)
eval.register(app)
serve.register(app)
search.register(app)
recommend.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns Roost errors into one line on stderr."""
    try:
        app(args=argv, standalone_mode=True)  # usage errors: message + SystemExit(2)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except RoostError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
