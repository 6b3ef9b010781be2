"""Uploads are stored under safe names inside the upload folder, within the size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.uploads import safe_file_name, store_upload


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("../../etc/cron.d/evil.mp4", "evil.mp4"),
        ("..\\..\\windows\\win.MOV", "win.mov"),
        ("/abs/path/clip.mkv", "clip.mkv"),
        ("my clip (final) é.mp4", "my_clip_final.mp4"),
        (".hidden.mp4", "hidden.mp4"),
        ("___.mp4", "footage.mp4"),
        ("...mp4", "mp4"),  # no suffix left: store_upload refuses it as not a video
    ],
)
def test_safe_file_name_strips_folders_and_odd_characters(original: str, expected: str) -> None:
    assert safe_file_name(original) == expected


def test_upload_lands_inside_the_folder(tmp_path: Path) -> None:
    saved = store_upload(b"\x00\x00\x00\x18ftypmp42", "../../outside.mp4", tmp_path, max_mb=1)
    assert saved.parent == tmp_path.resolve()
    assert saved.name.endswith("_outside.mp4")
    assert not (tmp_path.parent / "outside.mp4").exists()


@pytest.mark.parametrize(
    ("data", "name", "title"),
    [
        (b"x" * (2 * 1024 * 1024 + 1), "big.mp4", "File too large"),
        (b"", "empty.mp4", "Empty file"),
        (b"MZ\x90\x00", "setup.exe", "Unsupported file type"),
    ],
)
def test_refused_uploads_leave_nothing_behind(
    tmp_path: Path, data: bytes, name: str, title: str
) -> None:
    with pytest.raises(InputError) as refused:
        store_upload(data, name, tmp_path / "uploads", max_mb=2)
    assert refused.value.title == title
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


def test_a_refused_queue_creates_no_campaign_or_stimulus(ad_clip, tmp_path: Path) -> None:
    """queue_upload is one transaction: a stimulus name it refuses leaves no new campaign."""
    from pipeline.analysis import AnalysisParams
    from pipeline.store import catalog
    from pipeline.store.database import connect
    from pipeline.uploads import check_upload, queue_upload

    db = tmp_path / "store.duckdb"
    with connect(db):
        pass
    saved = store_upload(ad_clip.path.read_bytes(), "viewers.mp4", tmp_path / "uploads")
    check_upload(saved)  # a whole video passes and stays
    with pytest.raises(InputError, match="stimulus name"):
        queue_upload(
            saved, "New campaign", " ", "ad", AnalysisParams(), db_path=db, model_version="v1"
        )
    with connect(db, read_only=True) as con:
        assert catalog.list_campaigns(con) == []
        assert con.execute("SELECT count(*) FROM ingest_jobs").fetchone() == (0,)
    assert saved.is_file()
    broken = store_upload(b"not a video" * 100, "broken.mp4", tmp_path / "uploads")
    with pytest.raises(InputError):
        check_upload(broken)
    assert not broken.exists()
