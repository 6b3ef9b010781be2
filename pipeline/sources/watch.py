"""Watch a folder that a camera or an upload job drops snapshots into.

Polling, not inotify: it works the same on network shares and in containers, where inotify
events are often missing, and needs no extra dependency. A camera writes a snapshot in
several chunks, so a file is only handed on once its size and mtime stop changing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError
from pipeline.sources.frames import check_readable_folder
from pipeline.sources.images import IMAGE_SUFFIXES


@dataclass
class _Pending:
    """A file seen but not yet handed on: its last (size, mtime) and since when it held."""

    signature: tuple[int, int]
    since: float
    initial: bool


def watch_folder(
    folder: Path,
    poll_s: float = 1.0,
    settle_s: float = 0.5,
    stop: Callable[[], bool] | None = None,
    seen: set[Path] | None = None,
) -> Iterator[Path]:
    """Yield each new image file in ``folder`` once, after it has stopped growing.

    A file is yielded when its size (non-zero) and mtime have not changed for ``settle_s``
    seconds, checked every ``poll_s`` seconds (more often while a file is settling). Files
    already there at start come first, sorted by name; later ones in the order they settle
    (ties by name). Paths are ``folder / name``; those in ``seen`` are never yielded, and each
    yielded path is added to ``seen`` so a caller can keep the set across restarts. Identity is
    the path: a camera that overwrites one file name is not re-read. Only image suffixes
    count; hidden files (temp files) are ignored. Runs until ``stop()`` returns True (checked
    before each yield and each poll), forever without one. Raises ``InputError`` when the
    folder is missing or unreadable: at the call, or later while watching.
    """
    folder = Path(folder)
    if poll_s <= 0 or settle_s < 0:
        raise InputError(
            "Invalid polling interval",
            f"poll_s={poll_s:g} and settle_s={settle_s:g}; poll_s must be positive and "
            "settle_s not negative.",
        )
    check_readable_folder(folder)
    return _watch(folder, poll_s, settle_s, stop, seen if seen is not None else set())


def _watch(
    folder: Path,
    poll_s: float,
    settle_s: float,
    stop: Callable[[], bool] | None,
    done: set[Path],
) -> Iterator[Path]:
    pending: dict[Path, _Pending] = {}
    first_poll = True
    while not (stop is not None and stop()):
        now = time.monotonic()
        listed = _list_images(folder)
        for path in pending.keys() - listed.keys():  # deleted before it settled
            del pending[path]
        for path, signature in listed.items():
            if path in done:
                continue
            entry = pending.get(path)
            if entry is None or entry.signature != signature:
                pending[path] = _Pending(
                    signature, now, first_poll if entry is None else entry.initial
                )
        first_poll = False
        ready = sorted(
            (p for p, e in pending.items() if e.signature[0] > 0 and now - e.since >= settle_s),
            key=lambda p: (not pending[p].initial, pending[p].since, p.name),
        )
        for path in ready:
            if stop is not None and stop():
                return
            del pending[path]
            done.add(path)
            yield path
        time.sleep(min(poll_s, settle_s) if pending and settle_s > 0 else poll_s)


def _list_images(folder: Path) -> dict[Path, tuple[int, int]]:
    """Image files in ``folder`` with their (size, mtime_ns); vanished files are left out."""
    found: dict[Path, tuple[int, int]] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    info = entry.stat()
                except FileNotFoundError:  # deleted between listing and stat
                    continue
                found[folder / entry.name] = (info.st_size, info.st_mtime_ns)
    except OSError as e:
        check_readable_folder(folder)  # names the problem (gone, unmounted, permissions)
        raise InputError(
            "Folder not readable", f"{folder} could not be listed ({e.strerror})."
        ) from e
    return found
