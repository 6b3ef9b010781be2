"""One error family for everything a user can cause or fix.

Each error carries a short title and a message written for the person at the dashboard or the
CLI; library failures (DuckDB, OpenCV, DeepFace) are wrapped once, at the boundary, with
``raise ... from``.
"""

from __future__ import annotations


class ReactionError(Exception):
    """Base class: ``title`` for a heading, ``message`` for the sentence under it."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message


class ModelError(ReactionError):
    """The expression model is missing, corrupt or does not match its manifest."""


class InputError(ReactionError):
    """A file, folder, URL or argument the user gave cannot be used."""


class UnknownEntityError(ReactionError):
    """A campaign, stimulus, source or job named by the user does not exist."""


class StoreError(ReactionError):
    """The database could not be read or written."""
