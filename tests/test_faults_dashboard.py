"""Every user-supplied string reaches the browser as text, never as Markdown or HTML.

A campaign, stimulus or file named like a Markdown image and link used to make every browser
showing it fetch a "beacon" and render a phishing link. Each page is driven through AppTest
with such names; every element Streamlit renders as Markdown is parsed with a CommonMark
parser and must hold no link, image or HTML, and no bare URL that GitHub-flavoured Markdown
(which Streamlit uses) would turn into a link.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs
from pipeline.store.database import connect

APP = PROJECT_ROOT / "dashboard" / "app.py"
BEACON = "![b](http://127.0.0.1:8699/beacon.png) [Session expired](http://127.0.0.1:8699/login)"
HTML = '<a href="http://127.0.0.1:8699/login">Session expired</a> <img src=x> www.evil.example'
PAGES = [None, "views/timeline.py", "views/compare.py", "views/upload.py", "views/reports.py"]
_PARSER = MarkdownIt("commonmark")


def _markdown_bodies(node: object) -> list[str]:
    """The Markdown source of every element Streamlit renders as Markdown, recursively."""
    found: list[str] = []
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            found += _markdown_bodies(child)
        return found
    proto = getattr(node, "proto", None)
    kind = getattr(node, "type", "")
    if proto is None or kind in ("text", "code", "dataframe", "arrow_data_frame", "json"):
        return found
    for field in ("body", "label", "text", "help"):
        value = getattr(proto, field, None)
        if isinstance(value, str) and value:
            found.append(value)
    return found


def _unsafe(body: str) -> list[str]:
    tokens = _PARSER.parse(body)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in (t.children or [])}
    bad = sorted(kinds & {"link_open", "image", "html_inline", "html_block", "autolink"})
    for literal in ("http://", "https://", "www."):
        if literal in body:
            bad.append(f"bare {literal}")
    return bad


@pytest.fixture()
def hostile_db(writable_db: Path) -> tuple[Path, list[int]]:
    with connect(writable_db) as con:
        con.execute("UPDATE campaigns SET name = ?", [BEACON])
        con.execute("UPDATE stimuli SET name = ? WHERE name = 'Spring ad'", [BEACON + " ad"])
        con.execute("UPDATE stimuli SET name = ? WHERE name = 'Window display'", [HTML])
        campaign = catalog.get_campaign(con, BEACON)
        stimulus = catalog.get_stimulus(con, campaign, BEACON + " ad")
        source = catalog.ensure_source(con, stimulus, "footage", BEACON)
        failed = jobs.start_job(
            con, jobs.JobKey(source.source_id, "x", "y"), BEACON, "{}", "v", "cv"
        )
        jobs.fail_job(con, failed, f"Unreadable {HTML}", f"{BEACON} has no video stream.")
        con.execute("UPDATE ingest_jobs SET warnings = ? WHERE status = 'done'", [BEACON])
        done = [
            r[0]
            for r in con.execute("SELECT job_id FROM ingest_jobs WHERE status = 'done'").fetchall()
        ]
    return writable_db, [*done, failed]


@pytest.mark.parametrize("page", PAGES)
def test_hostile_names_render_as_text(
    page: str | None, hostile_db, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db, followed = hostile_db
    monkeypatch.setenv("EMOTION_DB_PATH", str(db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "uploads"))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["upload_jobs"] = followed
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    bodies = _markdown_bodies(at._tree)
    if page in (None, "views/upload.py"):  # names in Markdown elements: escaped, yet present
        assert any("beacon" in b for b in bodies) and any("evil" in b for b in bodies)
    problems = {body: _unsafe(body) for body in bodies if _unsafe(body)}
    assert problems == {}
    # Plotly renders <a href>, <b>... in titles, labels and annotations: names are escaped.
    for chart in at.get("plotly_chart"):
        spec = json.dumps(json.loads(chart.proto.spec), ensure_ascii=False)
        assert "<a href" not in spec and "<img" not in spec, chart.key


def test_the_checker_sees_an_unescaped_link() -> None:
    """The parser check itself: the raw names are links, images and HTML."""
    assert "image" in _unsafe(BEACON) and "link_open" in _unsafe(BEACON)
    assert "html_inline" in _unsafe(HTML) or "html_block" in _unsafe(HTML)


def test_a_bad_setting_is_a_message_not_a_traceback(
    analysed_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOTION_DB_PATH", str(analysed_db))
    monkeypatch.setenv("EMOTION_MIN_CROWD", "lots")
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(
        "Invalid setting" in e.value and "EMOTION\\_MIN\\_CROWD" in e.value for e in at.error
    )


def test_with_login_configured_no_page_renders_before_sign_in(
    analysed_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOTION_DB_PATH", str(analysed_db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret-test-cookie-secret",
        "client_id": "dashboard",
        "client_secret": "secret",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")
    assert [t.value for t in at.title] == ["Audience reactions"]
    assert not at.sidebar.selectbox  # not even the campaign names
    at.switch_page("views/reports.py").run()
    assert [b.label for b in at.button] == ["Sign in"] and not at.get("download_button")
