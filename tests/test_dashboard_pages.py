"""Every dashboard page driven through AppTest on a real DuckDB file made by the pipeline.

Widgets are driven by key; expected numbers are read from the same database through
pipeline.store, so each assertion checks that the page shows the store's figures (with the
minimum-crowd rule applied), not merely that it rendered.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import md_text
from pipeline.audience import read as audience
from pipeline.audience.clock import with_gaps
from pipeline.reports.tables import series_view
from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs
from pipeline.store.database import connect

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
CAMPAIGN = "Spring launch"


@pytest.fixture()
def make_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """AppTest of the whole app on database ``db`` (settings come from the environment)."""

    def make(db: Path, **settings: str) -> AppTest:
        monkeypatch.setenv("EMOTION_DB_PATH", str(db))
        monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "uploads"))
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return AppTest.from_file(str(APP), default_timeout=90)

    return make


def _open(at: AppTest, page: str | None = None) -> AppTest:
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return found[0]


def _chart(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if element.key == key:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no plotly chart with key {key!r}")


def _values(encoded: object) -> list:
    """A trace's data as a list: plotly sends numeric arrays as base64 typed arrays;
    NaN (a suppressed bucket) comes back as None."""
    if isinstance(encoded, dict) and "bdata" in encoded:
        array = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        if "shape" in encoded:
            array = array.reshape([int(n) for n in str(encoded["shape"]).split(",")])
        return [None if isinstance(v, float) and np.isnan(v) else v for v in array.tolist()]
    return list(encoded)  # type: ignore[call-overload]


def _frame(at: AppTest, index: int = 0) -> pd.DataFrame:
    return at.dataframe[index].value


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with this (machine) column."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with {column!r}"
    return found[0]


def _ids(db: Path) -> tuple[int, int, int]:
    with connect(db, read_only=True) as con:
        campaign = catalog.get_campaign(con, CAMPAIGN)
        ad = catalog.get_stimulus(con, campaign, "Spring ad")
        display = catalog.get_stimulus(con, campaign, "Window display")
    return campaign.campaign_id, ad.stimulus_id, display.stimulus_id


def test_overview_shows_the_campaign_kpis_stimuli_and_jobs(analysed_db: Path, make_app) -> None:
    campaign_id, _, _ = _ids(analysed_db)
    with connect(analysed_db, read_only=True) as con:
        kpis = audience.campaign_kpis(con, campaign_id, 2)
        summary = audience.stimulus_summary(con, campaign_id, 2)
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="2"))
    assert at.title[0].value == "Audience reactions"
    assert at.selectbox(key="campaign").value == campaign_id
    assert _metric(at, "Faces analysed") == f"{kpis['faces']:,}"
    assert _metric(at, "People") == f"{kpis['people']:,}"
    assert _metric(at, "Mean dwell") == f"{kpis['mean_dwell_s']:.1f} s"
    assert _metric(at, "Positive share") == f"{kpis['share_happiness']:.0%}"
    watchers = kpis["watchers"]  # NaN while no head pose is known: never guessed
    assert _metric(at, "Watchers") == ("not available" if pd.isna(watchers) else f"{watchers:,.0f}")
    ranked = summary.sort_values("valence", ascending=False)
    assert _metric(at, "Top stimulus") == ranked["name"].iloc[0]
    assert _metric(at, "Bottom stimulus") == ranked["name"].iloc[-1]
    stimuli = _table(at, "stimulus")
    assert list(stimuli["stimulus"]) == ["Spring ad", "Window display"]
    assert list(stimuli["faces"]) == list(summary["faces"])
    assert list(stimuli["people"]) == list(summary["people"])
    assert list(stimuli["status"]) == ["ok", "ok"]
    recent = _table(at, "job_id")
    assert set(recent["status"]) == {"done"} and len(recent) == 2
    assert not at.error


def test_raising_the_minimum_crowd_greys_out_the_small_stimulus(
    analysed_db: Path, make_app
) -> None:
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="2"))
    assert at.number_input(key="min_crowd").min == 2  # the configured floor
    at.number_input(key="min_crowd").set_value(4).run()
    stimuli = _table(at, "stimulus")
    window = stimuli[stimuli["stimulus"] == "Window display"].iloc[0]
    assert window["status"] == "too few people"
    assert window["valence"] == window["positive_share"] == "–"  # withheld, never "None"
    assert window["faces"] > 0  # the face count stays: it explains the gap
    assert list(stimuli["status"]) == ["too few people", "too few people"]
    assert _metric(at, "Top stimulus") == _metric(at, "Bottom stimulus") == "-"


def test_switching_campaign_in_the_sidebar(writable_db: Path, make_app) -> None:
    with connect(writable_db) as con:
        autumn = catalog.create_campaign(con, "Autumn", "no footage yet")
    at = _open(make_app(writable_db))
    assert at.selectbox(key="campaign").options == ["Autumn", CAMPAIGN]
    at.selectbox(key="campaign").set_value(autumn.campaign_id).run()
    assert _metric(at, "Faces analysed") == "0"
    assert _metric(at, "Top stimulus") == "-"
    assert any("no stimulus yet" in i.value for i in at.info)
    at.switch_page("views/timeline.py").run()
    assert at.selectbox(key="campaign").value == autumn.campaign_id  # kept across pages
    assert any("no stimulus yet" in i.value for i in at.info)


def test_the_configured_minimum_crowd_is_a_floor(analysed_db: Path, make_app) -> None:
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="3"))
    assert at.number_input(key="min_crowd").min == 3
    assert at.number_input(key="min_crowd").value == 3
    stimuli = _table(at, "stimulus")
    assert list(stimuli["status"]) == ["ok", "ok"]  # 3 people in the ad's first seconds
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="40"))
    assert list(_table(at, "stimulus")["status"]) == ["too few people", "too few people"]


def test_overview_shows_a_failed_job_as_title_and_message(writable_db: Path, make_app) -> None:
    with connect(writable_db) as con:
        campaign = catalog.get_campaign(con, CAMPAIGN)
        stimulus = catalog.get_stimulus(con, campaign, "Spring ad")
        source = catalog.ensure_source(con, stimulus, "footage", "broken.mp4")
        job_id = jobs.start_job(
            con, jobs.JobKey(source.source_id, "x", "y"), "broken.mp4", "{}", "v", "opencv"
        )
        jobs.fail_job(con, job_id, "Unreadable video", "broken.mp4 has no video stream.")
    at = _open(make_app(writable_db))
    errors = [e.value for e in at.error]
    shown = md_text("broken.mp4 has no video stream.")  # names are escaped, never Markdown
    assert any("Unreadable video" in e and shown in e for e in errors)
    assert not any("Traceback" in e for e in errors)
    recent = _table(at, "job_id")
    assert recent.iloc[0]["status"] == "failed"
    assert recent.iloc[0]["problem"] == "Unreadable video: broken.mp4 has no video stream."


def test_timeline_of_an_ad_by_offset_with_segments(analysed_db: Path, make_app) -> None:
    _, ad_id, _ = _ids(analysed_db)
    with connect(analysed_db, read_only=True) as con:
        one_s = audience.series(con, ad_id, 1.0, False, 3)
        two_s = audience.series(con, ad_id, 2.0, False, 3)
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="3"), "views/timeline.py")
    at.selectbox(key="stimulus").set_value(ad_id).run()
    assert _metric(at, "Faces in view") == f"{int(one_s['faces'].sum()):,}"
    assert _metric(at, "Buckets") == str(len(one_s))
    assert _metric(at, "Greyed: too few people") == str(int(one_s["suppressed"].sum()))
    # Over the people in view, each once: the same at any bucket size (the mean of the
    # buckets weighed a person by the buckets they stood in).
    with connect(analysed_db, read_only=True) as con:
        people = audience.selection(con, ad_id, False, 3)
    assert _metric(at, "Valence (people in view)") == f"{people['valence'].iloc[0]:+.2f}"
    spec = _chart(at, "timeline_chart")
    texts = [a.get("text") for a in spec["layout"]["annotations"]]
    assert {"<b>intro</b>", "<b>story</b>", "<b>reveal</b>"} <= set(texts)
    valence = next(t for t in spec["data"] if t["name"] == "valence index")
    shown = [None if pd.isna(v) else v for v in one_s["valence"]]
    assert _values(valence["y"]) == pytest.approx(shown)
    assert "seconds since the start" in spec["layout"]["xaxis3"]["title"]["text"]
    segments = _table(at, "Segment")
    assert list(segments["Segment"]) == ["intro", "story", "reveal"]
    at.selectbox(key="bucket").set_value(2.0).run()
    assert _metric(at, "Buckets") == str(len(two_s))
    assert _metric(at, "Valence (people in view)") == f"{people['valence'].iloc[0]:+.2f}"
    at.radio(key="expressions").set_value("share").run()
    spec = _chart(at, "timeline_chart")
    assert spec["layout"]["barmode"] == "stack"
    assert next(t for t in spec["data"] if t["name"] == "happiness")["type"] == "bar"
    table = _table(at, "bucket_offset_s")
    assert list(table["faces"]) == list(two_s["faces"])
    assert list(table["people"]) == list(two_s["people"])


def test_timeline_greys_small_buckets_when_the_crowd_is_raised(analysed_db: Path, make_app) -> None:
    _, _, display_id = _ids(analysed_db)
    with connect(analysed_db, read_only=True) as con:
        everyone = audience.series(con, display_id, 900.0, True, 1)
    # Raising the crowd to the largest snapshot's people keeps only the buckets that reach it.
    raised = int(everyone["people"].max())
    with connect(analysed_db, read_only=True) as con:
        series = audience.series(con, display_id, 900.0, True, raised)
    assert not everyone["suppressed"].any() and not series["suppressed"].all()
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="1"), "views/timeline.py")
    at.selectbox(key="stimulus").set_value(display_id).run()
    at.selectbox(key="bucket").set_value(900.0).run()
    assert _metric(at, "Greyed: too few people") == "0"
    at.number_input(key="min_crowd").set_value(raised).run()
    assert _metric(at, "Greyed: too few people") == str(int(series["suppressed"].sum()))
    spec = _chart(at, "timeline_chart")
    valence = _values(next(t for t in spec["data"] if t["name"] == "valence index")["y"])
    drawn = with_gaps(series_view(series, raised))  # blank rows where there was no footage
    for value, hidden in zip(valence, drawn["suppressed"] | drawn["people"].isna(), strict=True):
        assert (value is None) == bool(hidden)
    table = _table(at, "bucket_ts")
    hidden = table["suppressed"] == "yes"
    assert hidden.sum() == series["suppressed"].sum()
    assert (table.loc[hidden, "valence"] == "–").all()
    assert (table.loc[~hidden, "valence"] != "–").all()
    at.number_input(key="min_crowd").set_value(raised + 1).run()
    assert _metric(at, "Greyed: too few people") == str(len(series))
    spec = _chart(at, "timeline_chart")
    valence = _values(next(t for t in spec["data"] if t["name"] == "valence index")["y"])
    assert all(v is None for v in valence)
    assert any(t["name"] == "greyed: too few people" for t in spec["data"])


def test_timeline_of_a_display_by_clock_with_heatmap(analysed_db: Path, make_app) -> None:
    _, _, display_id = _ids(analysed_db)
    with connect(analysed_db, read_only=True) as con:
        hourly = audience.series(con, display_id, 3600.0, True, 2)
        quarter = audience.series(con, display_id, 900.0, True, 2)
        heat = audience.hour_weekday(con, display_id, 2)
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="2"), "views/timeline.py")
    at.selectbox(key="stimulus").set_value(display_id).run()
    assert at.selectbox(key="source").options == [
        "All sources",
        "window_cam",
    ]
    assert at.date_input(key="dates").value is not None
    assert _metric(at, "Buckets") == str(len(hourly))
    spec = _chart(at, "timeline_chart")
    assert spec["layout"]["xaxis3"]["title"]["text"] == "Time (UTC)"
    heatmap = _chart(at, "timeline_heatmap")
    trace = next(t for t in heatmap["data"] if t["name"] == "valence index")
    cells = _values(trace["z"])
    assert trace["y"] == ["Saturday"]  # only the weekdays and hours with footage
    assert trace["x"] == [f"{h:02d}:00" for h in sorted(set(heat["hour"]))]
    for row in heat.itertuples():
        expected = None if row.suppressed else pytest.approx(row.valence)
        assert cells[0][trace["x"].index(f"{int(row.hour):02d}:00")] == expected
    at.selectbox(key="bucket").set_value(900.0).run()
    assert _metric(at, "Buckets") == str(len(quarter))
    assert _metric(at, "Greyed: too few people") == str(int(quarter["suppressed"].sum()))
    at.selectbox(key="source").set_value(None).run()
    assert not at.exception


def test_compare_page_shows_stimuli_side_by_side(analysed_db: Path, make_app) -> None:
    campaign_id, _, _ = _ids(analysed_db)
    with connect(analysed_db, read_only=True) as con:
        summary = audience.stimulus_summary(con, campaign_id, 2)
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="2"), "views/compare.py")
    bars = _chart(at, "compare_bars")
    valence = next(t for t in bars["data"] if t["name"] == "valence index")
    assert valence["x"] == ["Spring ad", "Window display"]
    assert _values(valence["y"]) == pytest.approx(list(summary["valence"]))
    multiples = _chart(at, "compare_multiples")
    titles = [a["text"] for a in multiples["layout"]["annotations"]]
    assert titles[:2] == ["Spring ad", "Window display"]
    assert list(_table(at, "status")["status"]) == ["ok", "ok"]
    verdicts = _frame(at, 0)  # the page leads with the verdicts
    assert len(verdicts) == 6  # one pair, six metrics
    assert all(v.startswith(("Spring ad", "Window display")) for v in verdicts["verdict"])
    segments = _table(at, "Segment")  # the ad's segments: people, valence band, peak moment
    assert list(segments["Segment"]) == ["intro", "story", "reveal"]
    at.number_input(key="min_crowd").set_value(4).run()
    bars = _chart(at, "compare_bars")
    grey = next(t for t in bars["data"] if t["name"] == "too few people")
    assert grey["x"] == ["Spring ad", "Window display"]
    window_value = f"{summary.loc[1, 'valence']:.6f}"
    assert window_value not in json.dumps(bars)
    assert any("too few people" in c.value for c in at.caption)
    assert any("Window display" in t.value for t in at.text)
    at.multiselect(key="stimuli").set_value([]).run()
    assert any("Pick at least one" in i.value for i in at.info)


def test_reports_page_offers_every_download(analysed_db: Path, make_app) -> None:
    campaign_id, ad_id, _ = _ids(analysed_db)
    at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="2"), "views/reports.py")
    at.selectbox(key=f"report_stimulus_{campaign_id}").set_value(ad_id).run()
    at.selectbox(key=f"report_bucket_{campaign_id}_{ad_id}").set_value(2.0).run()
    preview = _frame(at)
    assert set(preview["stimulus"]) == {"Spring ad"} and set(preview["bucket_s"]) == {2.0}
    # Read with the CSV's human labels and rounding; the internal ids are not shown.
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["mean_attention_s"]["label"] == "Attention (s)"
    assert config["valence"]["label"] == "Valence index"
    assert config["share_happiness"]["type_config"]["format"] == "%.0f%%"
    order = list(at.dataframe[0].proto.column_order)
    assert "stimulus_id" not in order and "valence" in order
    assert at.dataframe[0].proto.placeholder == "-"  # empty cells never read "None"
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("CSV (") for label in labels)
    assert any(label.startswith("Parquet (") for label in labels)
    assert any(label.startswith("Emotion-API JSON (") for label in labels)
    at.button(key="report_build").click().run()
    built = at.session_state["report_files"]
    assert built["html"].startswith(b"<!DOCTYPE html>") and b"Scope: Spring ad" in built["html"]
    assert built["pdf"].startswith(b"%PDF-") and b"/Subtype /Image" in built["pdf"]
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("HTML report (") for label in labels)
    assert any(label.startswith("PDF report (") for label in labels)
    at.selectbox(key=f"report_stimulus_{campaign_id}").set_value(None).run()
    assert any("build the reports again" in c.value for c in at.caption)
    preview = _frame(at)
    assert set(preview["stimulus"]) == {"Spring ad", "Window display"}
    verdicts = next(b for b in at.get("download_button") if b.label.startswith("A/B verdicts"))
    assert verdicts.proto.label.startswith("A/B verdicts CSV (")


def test_about_page_model_card_and_printable_notice(analysed_db: Path, make_app) -> None:
    raw = json.loads((PROJECT_ROOT / "pipeline" / "models" / "emotion.json").read_text())
    at = _open(make_app(analysed_db, EMOTION_RETENTION_DAYS="30"), "views/about.py")
    assert _metric(at, "Validation accuracy") == f"{raw['validation']['accuracy']:.1%}"
    assert _metric(at, "Calibration error (ECE)") == f"{raw['validation']['ece']:.3f}"
    recall = _frame(at)
    assert dict(zip(recall["expression"], recall["recall"], strict=True)) == pytest.approx(
        {k: 100 * v for k, v in raw["validation"]["per_class_recall"].items()}  # percent
    )
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["expression"]["label"] == "Expression"
    contact = "[Shop 4](http://evil.example) privacy@shop.example"  # typed: text, not a link
    at.text_input(key="notice_contact").input(contact).run()
    first = next(i for i, m in enumerate(at.markdown) if m.value.startswith("NOTICE"))
    notice = " ".join(m.value for m in at.markdown[first:])
    assert "after 30 days" in notice and "Art\\. 50\\(3\\)" in notice
    assert "\\[Shop 4\\]\\(http\\:" in notice and "[Shop 4](" not in notice
    page_text = " ".join(m.value for m in at.markdown if not m.value.startswith("# Model card"))
    assert "feeling" not in page_text.lower()


def test_an_empty_database_points_to_the_upload_page(tmp_path: Path, make_app) -> None:
    db = tmp_path / "empty.duckdb"
    with connect(db):
        pass
    for page in (None, "views/timeline.py", "views/compare.py", "views/reports.py"):
        at = _open(make_app(db), page)
        assert any("No campaign yet" in i.value for i in at.info), page


def test_first_run_loads_the_demo_campaign(tmp_path: Path, make_app) -> None:
    db = tmp_path / "first-run.duckdb"
    at = _open(make_app(db))
    assert db.is_file()
    from pipeline.demo import DEMO_CAMPAIGN

    assert at.selectbox(key="campaign").options == [DEMO_CAMPAIGN]
    assert int(_metric(at, "Faces analysed").replace(",", "")) > 0


def test_first_run_without_demo_rows_still_opens(
    tmp_path: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipeline.demo.DEMO_DIR", tmp_path / "no-demo-here")
    db = tmp_path / "first-run.duckdb"
    at = _open(make_app(db))
    assert any(w.value.startswith("**Demo campaign not loaded**") for w in at.warning)
    assert any("No campaign yet" in i.value for i in at.info)
    at.run()  # the second run finds the (empty) database and does not try again
    assert not at.warning


def test_upload_errors_are_shown_as_title_and_message(writable_db: Path, make_app) -> None:
    at = _open(make_app(writable_db, EMOTION_UPLOAD_MAX_MB="1"), "views/upload.py")
    at.file_uploader(key="upload_file").upload("big.mp4", b"\0" * (2 * 2**20), "video/mp4")
    campaign_id, _, _ = _ids(writable_db)
    at.selectbox(key=f"upload_stimulus_{campaign_id}").set_value(-1).run()
    at.text_input(key="upload_stimulus_name").input("Too big").run()
    at.button(key="upload_start").click().run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("**File too large**") and "the limit is 1 MB" in e for e in errors)
    assert "upload_jobs" not in at.session_state or not at.session_state["upload_jobs"]


def test_a_reloaded_upload_page_still_shows_running_jobs(writable_db: Path, make_app) -> None:
    """A new session (a reload, another tab) finds running jobs in DuckDB, not its state."""
    with connect(writable_db) as con:
        campaign = catalog.get_campaign(con, CAMPAIGN)
        stimulus = catalog.get_stimulus(con, campaign, "Spring ad")
        source = catalog.ensure_source(con, stimulus, "footage", "session2.mp4")
        job_id = jobs.start_job(
            con, jobs.JobKey(source.source_id, "c", "p"), "session2.mp4", "{}", "v", "opencv"
        )
        jobs.set_progress(con, job_id, 0.4, frames=12, faces=30)
    at = _open(make_app(writable_db), "views/upload.py")
    texts = [p.proto.text for p in at.get("progress")]
    assert texts == ["running: 40% - 12 frames, 30 faces"]
    assert at.session_state["upload_jobs"] == [job_id]  # followed until it ends
    with connect(writable_db) as con:
        jobs.fail_job(con, job_id, "Interrupted", "The worker was stopped.")
    at.run()
    assert f"**Interrupted**\n\n{md_text('The worker was stopped.')}" in [e.value for e in at.error]
    assert not at.get("progress")


def _wait_for_job(at: AppTest, timeout_s: float = 150.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if not any(
            p for p in at.get("progress") if "running" in p.proto.text or "queued" in p.proto.text
        ):
            return
    raise AssertionError("the upload job did not finish in time")


def test_upload_runs_a_real_job_and_opens_its_timeline(
    writable_db: Path, make_app, ferplus_valid, tmp_path: Path
) -> None:
    from tests.media import planted_clip

    clip = planted_clip(
        tmp_path / "viewers.mp4",
        ferplus_valid,
        people=2,
        segments=[(0.0, 2.0, "happiness"), (2.0, 4.0, "surprise")],
        seed=11,
    )
    campaign_id, _, _ = _ids(writable_db)
    at = _open(make_app(writable_db), "views/upload.py")
    at.file_uploader(key="upload_file").upload("viewers.mp4", clip.path.read_bytes(), "video/mp4")
    at.selectbox(key="upload_campaign").set_value(campaign_id)
    at.selectbox(key=f"upload_stimulus_{campaign_id}").set_value(-1).run()
    at.text_input(key="upload_stimulus_name").input("Test ad").run()
    at.selectbox(key="upload_kind").set_value("ad")
    at.number_input(key="upload_duration").set_value(4.0).run()
    at.button(key="upload_start").click().run()
    assert not at.error, [e.value for e in at.error]
    job_id = at.session_state["upload_jobs"][-1]
    _wait_for_job(at)
    with connect(writable_db, read_only=True) as con:
        job = jobs.get_job(con, job_id)
        stimulus = catalog.get_stimulus(con, catalog.get_campaign(con, CAMPAIGN), "Test ad")
    assert job is not None and job.status == "done", job
    assert stimulus.duration_s == 4.0 and job.faces > 0
    done = [p.proto.text for p in at.get("progress")]
    assert f"done: {job.faces} faces, {job.tracks} tracked faces" in done
    # The form is empty again for the next file, and a shareable link opens the timeline.
    assert at.file_uploader(key="upload_file_1").value in (None, [])
    assert at.text_input(key="upload_stimulus_name").value == ""
    link = next(x for x in at.get("page_link") if "Link to this timeline" in x.proto.label)
    query = parse_qs(link.proto.query_string)
    assert query == {"campaign": [CAMPAIGN], "stimulus": ["Test ad (ad)"]}
    at.button(key=f"open_timeline_{job_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Reaction timeline"
    assert at.selectbox(key="stimulus").value == stimulus.stimulus_id
    assert _metric(at, "Faces in view") == f"{job.faces:,}"
    assert _chart(at, "timeline_chart")["layout"]["title"]["text"].startswith("Test ad")


def test_a_broken_upload_is_refused_and_leaves_nothing_behind(
    writable_db: Path, make_app, tmp_path: Path
) -> None:
    """A file that is no video: its error on the page, and no campaign, stimulus, source,
    job or stored file created for it."""
    from pipeline.errors import InputError
    from pipeline.sources.video import probe_video

    broken = b"not a video" * 100
    sample = tmp_path / "broken.mp4"
    sample.write_bytes(broken)
    with pytest.raises(InputError) as expected:
        probe_video(sample)

    def snapshot() -> dict[str, int]:
        with connect(writable_db, read_only=True) as con:
            return {
                t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in ("campaigns", "stimuli", "sources", "ingest_jobs")
            }

    before = snapshot()
    at = _open(make_app(writable_db), "views/upload.py")
    at.file_uploader(key="upload_file").upload("broken.mp4", broken, "video/mp4")
    at.selectbox(key="upload_campaign").set_value(-1).run()
    at.text_input(key="upload_campaign_name").input("Broken campaign").run()
    at.selectbox(key="upload_stimulus_-1").set_value(-1).run()
    at.text_input(key="upload_stimulus_name").input("Broken").run()
    at.button(key="upload_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(f"**{md_text(expected.value.title)}**" in e for e in errors), errors
    assert not any("Traceback" in e for e in errors)
    assert "upload_jobs" not in at.session_state or not at.session_state["upload_jobs"]
    assert snapshot() == before
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_compare_and_overview_tables_read_as_people_would(analysed_db: Path, make_app) -> None:
    """Machine names stay in the data (exports use them); people read labels and percents."""
    for page in (None, "views/compare.py"):
        at = _open(make_app(analysed_db, EMOTION_MIN_CROWD="2"), page)
        table = next(d for d in at.dataframe if "mean_attention_s" in d.value.columns)
        config = json.loads(table.proto.columns)
        assert config["mean_attention_s"]["label"] == "Attention (s)"
        assert config["share_looking"]["type_config"]["format"] == "%.0f%%"
        shares = table.value["share_looking"].dropna()
        assert len(shares) and shares.between(0, 100).all() and shares.max() > 1
