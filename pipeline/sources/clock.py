"""Which capture times a camera's clock can plausibly have written.

A camera whose clock was reset (1970, 2000) or runs far ahead still writes a time into EXIF,
its file names or its files' mtimes. Counted at that time, one snapshot stretches every chart
and export of its campaign over decades of empty buckets, so every reader of capture times
(snapshot folders, ``watch``, the HTTP push) refuses times outside one window.
"""

from __future__ import annotations

import datetime as dt

# The earliest capture time taken as real. Cameras reset to their epoch write 1970-01-01 or
# 2000-01-01 and run on from there, for days or years unnoticed; snapshots from before 2010
# are not this product's data (it reads cameras and study footage of today).
EARLIEST_CAPTURE = dt.datetime(2010, 1, 1)
# How far ahead of this machine's clock a camera may run (time zones set wrong, drift).
CLOCK_SLACK = dt.timedelta(days=1)


def utc_now() -> dt.datetime:
    """Now as naive UTC, the store's convention."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def plausible_capture(value: dt.datetime) -> bool:
    """Whether a naive-UTC capture time lies in [EARLIEST_CAPTURE, now + CLOCK_SLACK]."""
    return EARLIEST_CAPTURE <= value <= utc_now() + CLOCK_SLACK


def capture_window_text() -> str:
    """The window, as the errors that refuse a time state it."""
    return f"between {EARLIEST_CAPTURE:%Y-%m-%d} and a day from now (UTC)"
