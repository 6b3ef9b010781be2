"""Test footage helpers (the generator lives in the pipeline so the demo can use it too)."""

from pipeline.synthetic_footage import ClipTruth, planted_clip, snapshot_folder

__all__ = ["ClipTruth", "planted_clip", "snapshot_folder"]
