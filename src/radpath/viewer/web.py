"""What every response of the viewer goes through: the Host check, security headers and the snapshot lease.

* `HostGuard` answers 400 to a request whose Host header names neither the address the viewer is bound to nor
  `localhost` (nor a name given with `--allow-host`): a page on another site that rebinds its DNS name to
  127.0.0.1 sends its own name as Host, so it cannot read the study (DNS rebinding). A viewer bound to every
  interface (`0.0.0.0`, `::`) also answers any IP literal, which no rebinding can send.
* `SecurityHeaders` adds `X-Content-Type-Options: nosniff`, a Content-Security-Policy (only this origin's
  scripts, styles, images and connections; no frames, objects or foreign form targets) and no referrer to
  every response, errors and static files included.
* `SnapshotLease` holds the warehouse snapshot a request reads for as long as the request runs
  (`radpath.viewer.snapshots`) and, at most once a second, swaps in a new one when the warehouse changed.
* `hide_paths` takes file-system paths out of a text shown in an error body (a path becomes its file name).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from radpath.viewer.hosts import canonical_host, header_host
from radpath.viewer.snapshots import Snapshots

# The one inline style allowed: the rule the vendored OpenSeadragon adds to the page as a <style> element
# (openseadragon.min.js, `data-openseadragon-mobile-css`), admitted by the SHA-256 of its exact text.
OSD_STYLE = "@media (hover: none) {    .openseadragon-canvas:focus {        outline: none !important;    }}"
CSP = ("default-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
       f"style-src 'self' 'sha256-{base64.b64encode(hashlib.sha256(OSD_STYLE.encode()).digest()).decode()}'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
WILDCARDS = {"0.0.0.0", "::"}

_QUOTED_PATH = re.compile(r"""(['"])((?:[A-Za-z]:)?[\\/][^'"]*[\\/]([^'"\\/]*))\1""")
_PATH = re.compile(r"""(?<![\w.~-])(?:[A-Za-z]:[\\/]|/|~/)(?:[^\s'"<>|;,()\\/]+[\\/])+([^\s'"<>|;,()\\/]*)""")


def hide_paths(text: str) -> str:
    """`text` with every absolute file-system path replaced by its file name."""
    text = _QUOTED_PATH.sub(lambda m: m.group(1) + m.group(3) + m.group(1), text)
    return _PATH.sub(lambda m: m.group(1) or "…", text)


class HostGuard:
    """Refuse (400) requests whose Host header names another host than the viewer's (see the module docstring)."""

    def __init__(self, app: ASGIApp, bound: str, extra: Iterable[str] = ()):
        self.app = app
        self.bound = canonical_host(bound)
        self.allowed = {self.bound, "localhost", *(canonical_host(h) for h in extra)}
        self.any_ip = self.bound in WILDCARDS

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        host = header_host(header)
        if host in self.allowed:
            return True
        if self.any_ip:
            try:
                ipaddress.ip_address(host)
                return True
            except ValueError:
                return False
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if not self.allows(host):
                body = (f"400: the Host header {host!r} is not this viewer's address; open it as "
                        f"http://localhost:PORT/ or give --allow-host NAME\n").encode()
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Add SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


class SnapshotLease:
    """Hold the current warehouse snapshot for the whole request (`request.state.snapshot`)."""

    def __init__(self, app: ASGIApp, snapshots: Snapshots):
        self.app = app
        self.snapshots = snapshots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.snapshots.due():   # a stat of the warehouse, once a second: the copy runs in a worker thread
            await run_in_threadpool(self.snapshots.refresh)
        snapshot = self.snapshots.acquire()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["snapshot"] = snapshot
        try:
            await self.app(scope, receive, send)
        finally:
            self.snapshots.release(snapshot)
