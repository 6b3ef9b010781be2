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


def test_every_setting_read_as_a_whole_number_is_checked_as_one_up_front(monkeypatch) -> None:
    """``validate_settings`` runs before any work; a setting that the code reads with
    ``get_int`` but that it checks only as a number passed it with 2.5 and then stopped the
    command later (EMOTION_API_SHUTDOWN_S did, in ``serve``)."""
    import re

    import pytest

    from pipeline.errors import InputError
    from pipeline.settings import validate_settings

    root = README.parent / "pipeline"
    read_whole = {
        name
        for path in root.rglob("*.py")
        for name in re.findall(r'get_int\(\s*"(EMOTION_[A-Z0-9_]+)"', path.read_text())
    }
    assert "EMOTION_API_SHUTDOWN_S" in read_whole  # the search finds what it must
    low = {s.name: s.low or 0.0 for s in SETTINGS}
    for name in sorted(read_whole):
        monkeypatch.setenv(name, str(low[name] + 0.5))  # in range, not whole
        with pytest.raises(InputError, match="whole number"):
            validate_settings()
        monkeypatch.delenv(name)
