"""How `radpath serve` runs the app: uvicorn's h11 protocol with a deadline for each request head.

uvicorn closes a keep-alive connection `timeout_keep_alive` seconds after a response, but a connection that
never sends a complete request head (opened and left idle, or trickling a few bytes: half-open connections,
slowloris) stays open for ever, each holding a socket and a file descriptor. `protocol(head_timeout)` makes
uvicorn's h11 protocol close such a connection `head_timeout` seconds after it opened, or after its previous
response, unless a whole request head has arrived by then. The h11 implementation is named explicitly, so the
deadline holds whether or not httptools is installed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5


def protocol(head_timeout: float = HEAD_TIMEOUT_S) -> type[H11Protocol]:
    """uvicorn's H11Protocol that closes a connection whose request head does not arrive within `head_timeout`."""

    class HeadTimeoutH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _waiting_for_head(self) -> bool:
            return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._waiting_for_head() and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._waiting_for_head():
                self._arm()          # a head still incomplete: the deadline set when the wait began holds
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()
            if not self.transport.is_closing() and self._waiting_for_head():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeadTimeoutH11Protocol


def run(app: Any, sock: Any, *, log_level: str = "warning", head_timeout: float = HEAD_TIMEOUT_S) -> None:
    """Serve `app` on the bound socket `sock` until Ctrl-C (uvicorn, h11 with the head deadline)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, http=protocol(head_timeout),
                            timeout_keep_alive=KEEP_ALIVE_S)
    uvicorn.Server(config).run(sockets=[sock])
