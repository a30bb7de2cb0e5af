"""``roost serve`` (the HTTP service and web app under uvicorn) and ``roost keys``."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import typer

from roost.cli.common import JSON, emit_json, home, table
from roost.settings import resolve
from roost.store.home import Home
from roost.types import RoostError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_access(settings, host: str) -> None:
    """Refuse to start a service that would be open by accident: no keys and no ``--open``,
    ``--open`` on an address other than loopback, or ``--open`` beside configured keys."""
    from roost.service import KeyStore

    has_keys = bool(KeyStore(settings.key_records()))
    if settings.open_access:
        if not _is_loopback(host):
            raise RoostError(
                f"refusing --open on {host}: an API without keys serves loopback only "
                "(bind 127.0.0.1, or create a key with `roost keys create --role admin`)"
            )
        if has_keys:
            raise RoostError(
                f"--open with API keys in {settings.keys_path}: drop --open to require them, "
                "or revoke them to serve openly"
            )
    elif not has_keys:
        raise RoostError(
            f"no API keys in {settings.keys_path}: create one with "
            "`roost keys create --role admin`, or start with --open to serve without keys "
            "(loopback only)"
        )


def create_keys(
    home_path: str | Path, roles: tuple[str, ...] = ("read", "admin"), name: str = "demo"
) -> dict[str, str]:
    """Make one key per role in the home's keys file; returns ``{role: key}`` (shown once)."""
    from roost.service import KeyStore, ServiceSettings

    keys = KeyStore(ServiceSettings.from_env(home_path).key_records())
    return {role: keys.create(role, name=name)[0] for role in roles}


def serve_forever(
    home_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    keys: dict[str, str] | None = None,
    *,
    surfaces: str | Path | None = None,
    open_access: bool | None = None,
    workers: int = 1,
    database: str | None = None,
) -> None:
    """Serve ``home_path`` until interrupted; prints the address, the web sign-in link and
    ``keys`` (``{role: key}``, e.g. those :func:`create_keys` made).

    Open or closed is decided here, once: with no API key configured the service starts
    only when ``open_access`` (``--open``) asks for an open API, and only on loopback; an
    open API must not face a network, and a closed one never opens later (revoking every
    key while it runs refuses every protected request).

    ``workers`` > 1 runs that many serving processes behind the one port (uvicorn's
    supervisor restarts one that dies); each opens the engine and follows the home's change
    log, so a write accepted by one is in the others' next answer (docs/service.md).
    """
    import uvicorn

    from roost.service import ServiceSettings, create_app

    settings = ServiceSettings.from_env(
        home_path, surfaces=Path(surfaces) if surfaces else None, open_access=open_access,
        database=database,
    )  # fmt: skip
    check_access(settings, host)
    if workers < 1:
        raise RoostError(f"--workers {workers}: at least 1")
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    lines = [f"Roost is serving {settings.home} on {base}", f"  API docs: {base}/docs"]
    if settings.open_access:
        lines.append(f"  web app:  {base}/  (--open: no API keys, every caller is admin)")
    else:
        lines.append(f"  web app:  {base}/signin?token={settings.web_token}")
    for role, key in (keys or {}).items():
        lines.append(f"  {role} key: {key}")
    if workers > 1:
        lines.append(f"  workers:  {workers} processes on {settings.home_().describe_database()}")
    typer.echo("\n".join(lines))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # uvicorn's own access log prints query strings (a sign-in token); ours does not.
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="info")
        return
    import os

    from roost.service.app import SETTINGS_ENV

    os.environ[SETTINGS_ENV] = settings.to_json()  # the workers' settings, resolved once
    uvicorn.run("roost.service.app:app_from_env", factory=True, workers=workers, host=host,
                port=port, access_log=False, log_level="info")  # fmt: skip


def serve(
    host: str = typer.Option(
        None,
        "--host",
        help="address to bind [env ROOST_HOST; default 127.0.0.1]",
        show_default=False,
    ),
    port: int = typer.Option(
        None, "--port", help="port [env ROOST_PORT; default 8000]", show_default=False
    ),
    surfaces: Path = typer.Option(
        None, "--surfaces", help="surfaces TOML (default <home>/surfaces.toml)"
    ),
    workers: int = typer.Option(
        None, "--workers", help="serving processes sharing the home behind one port "
        "[env ROOST_WORKERS; default 1]", show_default=False,
    ),
    open_access: bool = typer.Option(
        None,
        "--open",
        help="serve without API keys, every caller admin: loopback only, and only when no "
        "key exists [env ROOST_OPEN]",
        show_default=False,
    ),
) -> None:
    """Serve the HTTP API and the Flutter web app for this home (needs an API key, or --open)."""
    h = home()
    if not h.exists():
        raise RoostError(f"{h.path}: no Roost home here (run `roost init` or `roost demo` first)")
    serve_forever(
        h.path, resolve("host", host), resolve("port", port), surfaces=surfaces,
        open_access=resolve("open", open_access), workers=resolve("workers", workers),
        database=h.database,
    )  # fmt: skip


keys_app = typer.Typer(help="API keys of the service: create, list, revoke.", no_args_is_help=True)


def _keystore():
    from roost.service import KeyStore, ServiceSettings

    h: Home = home()
    return KeyStore(ServiceSettings.from_env(h.path, database=h.database).key_records())


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(
        ..., "--role", help="read (queries) or admin (also writes and aliases)"
    ),
    name: str = typer.Option("", "--name", help="a label shown by `roost keys list`"),
    json_out: bool = JSON,
) -> None:
    """Create a key; it is printed once and only its salted hash is stored."""
    key, record = _keystore().create(role, name=name)
    if json_out:
        emit_json({"key": key, **record.public()})
    else:
        typer.echo(key)
        typer.echo(f"(role {record.role}, id {record.id}; store it now: it is not kept)", err=True)


@keys_app.command("list")
def keys_list(json_out: bool = JSON) -> None:
    """List keys: id, role, name, created (never the keys)."""
    rows = [r.public() for r in _keystore().list()]
    if json_out:
        emit_json(rows)
    else:
        table(
            "API keys",
            ["id", "role", "name", "created"],
            [[r[c] for c in ("id", "role", "name", "created")] for r in rows],
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="the key's id (see `roost keys list`)"),
) -> None:
    """Revoke a key by id; running services refuse it from their next request."""
    gone = _keystore().revoke(key_id)
    typer.echo(f"revoked {gone.id} ({gone.role})")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
