"""The fixed base grid on which the minimum crowd is applied, per stimulus kind.

Suppressing each requested bucket separately leaks: a 5 s bucket minus its four shown 1 s
buckets is the fifth, hidden one (differencing). Instead the crowd is checked once, on base
cells that never change (0.5 s of an ad's timeline; 5 minutes of clock time for displays
and products; per source), and every figure of any bucket size, date window, camera or
segment is aggregated from the base cells that passed only. A union of passed cells can
never reveal a cell that did not pass, whatever is subtracted from what.
"""

from __future__ import annotations

import math

from pipeline.errors import InputError

BASE_OFFSET_S = 0.5  # ads: seconds since the start of the footage
BASE_CLOCK_S = 300.0  # displays and products: clock time


def base_cell_s(by_clock: bool) -> float:
    return BASE_CLOCK_S if by_clock else BASE_OFFSET_S


def check_bucket(bucket_s: float, by_clock: bool) -> float:
    """``bucket_s`` if it is a whole multiple of the base cell, else a one-line InputError.

    Only whole multiples nest exactly onto base cells; anything else would mix passed and
    withheld cells inside one bucket edge.
    """
    base = base_cell_s(by_clock)
    ratio = float(bucket_s) / base
    if not math.isfinite(ratio) or ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
        unit = "5 min (300 s) for displays and products" if by_clock else "0.5 s for ads"
        raise InputError(
            "Unsupported bucket size",
            f"{bucket_s:g} s is not a whole multiple of the base cell ({unit}).",
        )
    return float(bucket_s)
