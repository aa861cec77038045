"""SimpleITK's errors as one line, and reads that print no ITK warning block.

A SimpleITK exception carries the C++ source line it was thrown at and, on its own line, ITK's reason
("Exception thrown in SimpleITK ImageSeriesReader_Execute: /…/itkGDCMImageIO.cxx:468:\\nITK ERROR:
GDCMImageIO(0x…): Cannot read requested file"); cutting it at a fixed width left messages ending at
`reader for "`. `itk_reason` keeps the reason alone. ITK also prints warnings straight to stderr (a block of
lines per file); `quiet_itk` switches that off while radpath reads, since the error says what went wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_UNREADABLE = ("Unable to determine ImageIO reader", "Cannot read requested file")
_REASON = re.compile(r"(?:ITK ERROR:\s*\w+\(0x[0-9a-fA-F]+\):|sitk::ERROR:)\s*(.*)", re.DOTALL)


def itk_reason(exc: BaseException, files: Sequence[str | Path] = ()) -> str:
    """The reason inside a SimpleITK exception, on one line: the source location dropped, the paths of `files`
    shortened to their names (the caller names the file), whitespace collapsed."""
    text = str(exc).strip()
    match = _REASON.search(text)
    reason = match.group(1) if match else (text.splitlines()[-1] if text else "")
    for file in sorted((str(f) for f in files), key=len, reverse=True):
        reason = reason.replace(file, Path(file).name)
    reason = " ".join(reason.split())
    if any(phrase in reason for phrase in _UNREADABLE):
        reason += " (the file is cut short or is not an image)"
    return reason or "unreadable"


@contextmanager
def quiet_itk() -> Iterator[None]:
    """No ITK warning printed to stderr inside the block (errors still raise)."""
    import SimpleITK as sitk

    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
