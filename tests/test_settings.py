"""Settings are data: every one is documented in the README, and defaults are sane."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import SETTINGS, get_setting

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert missing == []


def test_environment_overrides_default(monkeypatch) -> None:
    monkeypatch.setenv("EMOTION_MIN_CROWD", "9")
    assert get_setting("EMOTION_MIN_CROWD") == "9"
    monkeypatch.delenv("EMOTION_MIN_CROWD")
    assert get_setting("EMOTION_MIN_CROWD") == "5"
