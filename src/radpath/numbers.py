"""Numbers as journals print them, used by every manuscript table (and figure annotations).

Conventions (the common ground of the ICMJE / AMA / Radiology style guides):

- P values: three decimals, ``<0.001`` below 0.001 (never ``0.000``); ``>0.99`` above 0.99. In running text
  ``P < 0.001`` / ``P = 0.012`` (:func:`p_text`).
- Estimates with a fixed number of decimals per column, so a column reads evenly (AUC 0.78, HR 1.95).
- Negative numbers with the minus sign (U+2212), not a hyphen.
- Ranges and confidence intervals with an en dash (``0.69–0.86``), or ``to`` when a bound is negative, where
  a dash would read as a minus (``−0.52 to 0.10``).
- Missing or undefined values print as an en dash alone.
- Receptor status with the minus sign too: the warehouse's ``HR+/HER2-`` prints ``HR+/HER2−`` (:func:`receptor`).
"""

from __future__ import annotations

import math
import re

MINUS = "\u2212"
EN_DASH = "\u2013"
MISSING = EN_DASH


RECEPTOR_NEGATIVE = re.compile(r"(?<=[A-Z0-9])-(?=$|[/\s),;])")


def receptor(text: object) -> str:
    """A receptor status or IHC subtype as journals print it: 'HR+/HER2-' -> 'HR+/HER2−', 'ER-/PR-' -> 'ER−/PR−'
    (a hyphen after a marker name becomes the minus sign; hyphenated words are left alone)."""
    return RECEPTOR_NEGATIVE.sub(MINUS, str(text))


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def number(value: object, decimals: int = 2) -> str:
    """``value`` with ``decimals`` places and a true minus sign; an en dash when missing (None / NaN)."""
    if _missing(value):
        return MISSING
    x = float(value)  # type: ignore[arg-type]
    if math.isinf(x):
        return ("" if x > 0 else MINUS) + "∞"
    text = f"{abs(x):.{decimals}f}"
    # -0.00 prints as 0.00: a sign on a number that rounds to zero says nothing
    negative = x < 0 and any(ch not in "0." for ch in text)
    return (MINUS if negative else "") + text


def integer(value: object) -> str:
    """A count (en dash when missing)."""
    return MISSING if _missing(value) else str(int(round(float(value))))  # type: ignore[arg-type]


def p_value(p: object) -> str:
    """A P value for a table cell: ``<0.001``, ``0.012``, ``0.450``, ``>0.99``; en dash when missing."""
    if _missing(p):
        return MISSING
    x = float(p)  # type: ignore[arg-type]
    if x < 0.001:
        return "<0.001"
    if x > 0.99:
        return ">0.99"
    return f"{x:.3f}"


def p_text(p: object) -> str:
    """A P value in running text or on a figure: ``P < 0.001``, ``P = 0.012``, ``P > 0.99``."""
    cell = p_value(p)
    if cell == MISSING:
        return "P not estimable"
    if cell[0] in "<>":
        return f"P {cell[0]} {cell[1:]}"
    return f"P = {cell}"


def interval(low: object, high: object, decimals: int = 2) -> str:
    """``0.69–0.86``; ``−0.52 to 0.10`` when a bound is negative; en dash when a bound is missing."""
    if _missing(low) or _missing(high):
        return MISSING
    a, b = number(low, decimals), number(high, decimals)
    separator = " to " if MINUS in a + b else EN_DASH
    return f"{a}{separator}{b}"


def estimate_ci(value: object, low: object, high: object, decimals: int = 2) -> str:
    """``0.78 (0.69–0.86)``; the estimate alone when the CI is missing; en dash when the estimate is."""
    if _missing(value):
        return MISSING
    if _missing(low) or _missing(high):
        return number(value, decimals)
    return f"{number(value, decimals)} ({interval(low, high, decimals)})"


def percent(value: object, decimals: int = 0) -> str:
    """A percentage ``value`` (already 0-100) as ``12%``."""
    return MISSING if _missing(value) else f"{number(value, decimals)}%"


def ordinal(n: object) -> str:
    """An integer as an English ordinal: ``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``–``13th``, ``21st``, ``93rd``."""
    if _missing(n):
        return MISSING
    k = int(round(float(n)))   # type: ignore[arg-type]
    suffix = "th" if 10 <= abs(k) % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(abs(k) % 10, "th")
    return f"{k}{suffix}"
