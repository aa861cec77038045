"""Walking the files of a folder the way a study is laid out on disk.

Case folders are often symbolic links into a shared archive (or hold links to series folders), so the
walk follows links to folders and to files. A link that points back to a folder already being walked
(a loop) is skipped; each real folder and file is taken once, so a folder reached by two links is not read twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path


def walk_files(root: str | Path, *, keep: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Every regular file below `root` (links followed, loops guarded), in sorted order per folder.

    Paths are given as reached from `root` (through the links), not as their resolved targets;
    broken links are skipped. `keep(path)` filters the files yielded.
    """
    root = Path(root)
    seen: set[str] = set()
    seen_files: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        # prune sub-folders whose real path was walked already (loops, and the same folder linked twice)
        dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(folder, d)) not in seen)
        for name in sorted(files):
            path = Path(folder) / name
            if not path.is_file():      # a broken link
                continue
            target = os.path.realpath(path)
            if target in seen_files:    # the same file reached twice through links
                continue
            seen_files.add(target)
            if keep is None or keep(path):
                yield path
