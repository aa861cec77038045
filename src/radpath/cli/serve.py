"""`radpath serve`: the local web viewer (radpath.viewer) on a warehouse, served by uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from radpath.cli.common import DbOption, db_path, err_console
from radpath.errors import ConfigError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def network_warning(host: str) -> str | None:
    """The warning printed when `host` is not a loopback address (None for loopback: `localhost`, 127.0.0.0/8
    in any form the resolver accepts, such as `127.1`, and ::1)."""
    from radpath.viewer.hosts import is_loopback

    if is_loopback(host):
        return None
    return (f"warning: binding {host}: the study data (clinical tables, slides) become visible to anyone "
            "who can reach this machine on the network")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def listening_socket(host: str, port: int) -> Any:
    """A bound TCP socket for uvicorn. Its protocol is set to IPPROTO_TCP explicitly: asyncio disables Nagle's
    algorithm (TCP_NODELAY) only on sockets whose `proto` says TCP, and without it every response whose headers
    and body are written separately waits for the client's delayed ACK (about 40 ms per tile)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror} (choose another --port)") from exc
    return sock


def serve(
    db: Path | None = DbOption,
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port to listen on (0: any free port)."),
    host: str = typer.Option(
        "127.0.0.1", "--host",
        help="Address to bind; anything but loopback makes the study visible on the network (a warning is printed).",
    ),
    allow_host: list[str] = typer.Option(
        [], "--allow-host",
        help="Another name the viewer may be reached by (the Host header); by default only the bound address and "
             "localhost are answered, so a web page cannot read the study through DNS rebinding. Repeatable. "
             "[default: none]",
    ),
    tile_cache_mb: int = typer.Option(128, "--tile-cache-mb", min=1, help="Memory for cached tiles, MiB."),
    max_open_slides: int = typer.Option(
        8, "--max-open-slides", min=1,
        help="Slide files kept open between requests (each holds openslide's caches); more are opened as needed.",
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level (debug, info, warning, error)."),
) -> None:
    """Browse the study: cohorts, patients and slides with their TIL maps, read-only, in a web browser.

    The viewer reads a snapshot of the warehouse and never keeps it open, so stages write while it runs; it
    shows their results on the first request after they finish."""
    import time

    from radpath.viewer.app import ViewerConfig, create_app
    from radpath.viewer.hosts import canonical_host
    from radpath.viewer.server import run
    from radpath.viewer.snapshots import WarehouseBusy

    if log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    path = db_path(db)
    bound = canonical_host(host)
    config = ViewerConfig(db=path, tile_cache_mb=tile_cache_mb, max_open_slides=max_open_slides, host=bound,
                          allowed_hosts=tuple(allow_host))
    waiting = False
    while True:   # the warehouse is read (and its errors reported) before anything listens
        try:
            app = create_app(config)
            break
        except WarehouseBusy as exc:
            if not waiting:
                err_console.print(f"{exc} (Ctrl-C gives up)", style="yellow")
                waiting = True
            time.sleep(1.0)
    warning = network_warning(bound)
    if warning:
        err_console.print(warning, style="yellow")
    sock = listening_socket(bound, port)
    shown = f"[{bound}]" if ":" in bound else bound
    typer.echo(f"radpath viewer on {path}: http://{shown}:{sock.getsockname()[1]}/  (Ctrl-C stops it)")
    run(app, sock, log_level=log_level)
