"""Progress reporting protocol. The library reports; only the CLI decides how to show it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of long work: `start`, then `advance` per item, then `finish`."""

    def start(self, total: int, description: str) -> None: ...

    def advance(self, ok: bool = True, note: str | None = None) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Shows nothing (the library default)."""

    def start(self, total: int, description: str) -> None:
        return None

    def advance(self, ok: bool = True, note: str | None = None) -> None:
        return None

    def finish(self) -> None:
        return None
