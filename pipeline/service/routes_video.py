"""Video recognition as an operation (``recognizeinvideo``): not served yet."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

router = APIRouter()


def sweep_spools(db_path: Path | None) -> None:
    """Delete spooled uploads of ended jobs (none yet)."""
