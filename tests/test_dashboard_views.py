"""Dashboard views for marketers on the demo's real pipeline rows: shareable URLs, each
camera's local time on every clock axis, overview charts and verdicts, gaps over closed
nights, a trimmed heatmap, readable tables and the live view. Streamlit AppTest drives the
widgets by key; figures are checked against the same database read through the pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.charts import hour_weekday_heatmap, hour_window
from pipeline.audience import read as audience
from pipeline.audience.clock import with_gaps
from pipeline.demo import DEMO_CAMPAIGN, build_demo
from pipeline.reports.tables import bucket_label, series_view
from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs, zones
from pipeline.store.database import connect
from tests.audience_rows import Person, write_people
from tests.test_dashboard_pages import _chart, _values

APP = PROJECT_ROOT / "dashboard" / "app.py"
TIMELINE = "views/timeline.py"
WINDOW = "Window display"
RAW_NAMES = ("bucket_offset_s", "bucket_ts", "unique_tracks", "mean_dwell_s", "share_looking")


@pytest.fixture()
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "reactions.duckdb"
    build_demo(db)
    return db


@pytest.fixture()
def app(demo_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A fresh AppTest (a new browser tab) on the demo database, optionally with URL params."""
    monkeypatch.setenv("EMOTION_DB_PATH", str(demo_db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "uploads"))

    def open_page(page: str | None = None, **params: str | list[str]) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        if page:
            at.switch_page(page)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def _ids(db: Path) -> dict[str, int]:
    with connect(db, read_only=True) as con:
        campaign = catalog.get_campaign(con, DEMO_CAMPAIGN)
        return {s.name: s.stimulus_id for s in catalog.list_stimuli(con, campaign)}


def _url_value(at: AppTest, key: str) -> str | list[str]:
    """What the browser writes into the URL for a bound widget: its formatted option(s)."""
    widget = at.selectbox(key=key)
    return widget.proto.options[widget.index]


def test_every_view_widget_is_bound_to_the_url(app, demo_db: Path) -> None:
    at = app(TIMELINE, stimulus=f"{WINDOW} (display)")
    bound = {
        w.key: w.proto.query_param_key
        for w in [*at.selectbox, *at.date_input, *at.radio, *at.number_input]
    }
    for key in ("campaign", "stimulus", "source", "bucket", "dates", "expressions", "min_crowd"):
        assert bound[key] == key, bound


def test_a_timeline_view_survives_a_reload_through_its_url(app, demo_db: Path) -> None:
    """Pick a view, write the URL the browser would, open it in a new tab: same view."""
    first = app(TIMELINE)
    first.selectbox(key="stimulus").set_value(_ids(demo_db)[WINDOW]).run()
    first.selectbox(key="bucket").set_value(86400.0).run()
    first.radio(key="expressions").set_value("share").run()
    day_range = first.date_input(key="dates").value
    narrowed = (day_range[0] + dt.timedelta(days=1), day_range[1] - dt.timedelta(days=1))
    first.date_input(key="dates").set_value(narrowed).run()
    assert not first.exception
    url = {
        "stimulus": _url_value(first, "stimulus"),
        "bucket": _url_value(first, "bucket"),
        "expressions": "Stacked share of faces",
        "dates": [d.isoformat() for d in narrowed],
    }
    assert url["bucket"] == bucket_label(86400.0) == "1 day"
    again = app(TIMELINE, **url)
    for key in ("stimulus", "bucket", "source"):
        assert again.selectbox(key=key).value == first.selectbox(key=key).value
    assert again.radio(key="expressions").value == "share"
    assert again.date_input(key="dates").value == narrowed
    assert _values(_chart(again, "timeline_chart")["data"][0]["x"]) == _values(
        _chart(first, "timeline_chart")["data"][0]["x"]
    )


def test_invalid_url_parameters_fall_back_to_the_defaults(app, demo_db: Path) -> None:
    at = app(
        TIMELINE,
        campaign="No such campaign",
        stimulus="Gone (ad)",
        bucket="7 weeks",
        dates=["2001-01-01", "garbage"],
        min_crowd="-3",
        expressions="<script>",
    )
    assert at.selectbox(key="campaign").value == next(iter(_campaign_ids(demo_db)))
    assert at.selectbox(key="stimulus").value == min(_ids(demo_db).items(), key=lambda kv: kv[0])[1]
    assert at.selectbox(key="bucket").value == 1.0
    assert at.radio(key="expressions").value == "lines"
    assert int(at.number_input(key="min_crowd").value) >= 5
    assert "timeline_chart" in [c.key for c in at.get("plotly_chart")]


def _campaign_ids(db: Path) -> list[int]:
    with connect(db, read_only=True) as con:
        return [c.campaign_id for c in catalog.list_campaigns(con)]


def test_a_campaign_link_opens_that_campaign(app, demo_db: Path) -> None:
    with connect(demo_db) as con:
        other = catalog.create_campaign(con, "Autumn: test & <b>bold</b>")
    at = app(None, campaign="Autumn: test & <b>bold</b>")
    assert at.selectbox(key="campaign").value == other.campaign_id
    assert any("no stimulus yet" in i.value for i in at.info)


def _set_window_zone(db: Path, zone: str) -> None:
    with connect(db) as con:
        for source_id, *_ in zones.source_settings(con, _ids(db)[WINDOW]):
            zones.set_source_zone(con, source_id, zone)


def test_clock_axes_say_the_camera_zone_and_read_local_hours(app, demo_db: Path) -> None:
    _set_window_zone(demo_db, "Asia/Tokyo")
    at = app(TIMELINE, stimulus=f"{WINDOW} (display)")
    layout = _chart(at, "timeline_chart")["layout"]
    assert layout["xaxis3"]["title"]["text"] == "Time (Asia/Tokyo)"
    assert at.date_input(key="dates").label == "Dates (Asia/Tokyo)"
    heat = _chart(at, "timeline_heatmap")
    assert heat["layout"]["xaxis"]["title"]["text"] == "Hour of day (Asia/Tokyo)"
    with connect(demo_db, read_only=True) as con:
        stored = con.execute(
            "SELECT DISTINCT hour(ts) FROM face_observations WHERE stimulus_id = ?",
            [_ids(demo_db)[WINDOW]],
        ).fetchall()
    # Tokyo is UTC+9 without daylight saving: the shop's evening runs past local midnight,
    # and the columns wrap round it instead of spanning the whole day.
    local = [(h + 9) % 24 for (h,) in stored]
    hours = heat["data"][1]["x"]
    assert hours == [f"{h:02d}:00" for h in hour_window(local)]
    assert set(hours) == {f"{h:02d}:00" for h in local} and len(hours) < 24
    compare = app("views/compare.py")
    layout = _chart(compare, "compare_multiples")["layout"]
    axes = [v for k, v in layout.items() if k.startswith("xaxis")]
    titles = [a["title"]["text"] for a in axes if "title" in a]
    assert sorted(titles) == ["Seconds since the start"] * 3 + ["Time (Asia/Tokyo)"]
    overview = app()
    clock = _chart(overview, "overview_clock_chart")["layout"]
    assert clock["xaxis2"]["title"]["text"] == "Time (Asia/Tokyo)"


def test_lines_break_over_closed_nights(demo_db: Path) -> None:
    with connect(demo_db, read_only=True) as con:
        raw = audience.series(con, _ids(demo_db)[WINDOW], 3600.0, True, 1)
    view = with_gaps(series_view(raw, 1))
    nights = view[view["people"].isna()]
    assert len(nights) >= 6  # a week of shop days
    stamps = pd.to_datetime(view["bucket_ts"])
    for i in nights.index:
        # a blank row sits right after a bucket, and the next bucket comes later
        assert stamps[i] - stamps[i - 1] == pd.Timedelta(hours=1)
        assert stamps[i + 1] > stamps[i]
    assert not view.drop(index=nights.index)["people"].isna().any()


def test_hour_window_wraps_round_midnight() -> None:
    assert hour_window([10, 12, 19]) == list(range(10, 20))
    assert hour_window([22, 23, 0, 2]) == [22, 23, 0, 1, 2]
    assert hour_window([5]) == [5]
    assert hour_window([]) == []


def test_heatmap_names_weekdays_and_keeps_only_hours_with_footage() -> None:
    table = pd.DataFrame(
        {
            "weekday": [1, 1, 3],
            "hour": [9, 11, 17],
            "people": [6, 7, 2],
            "valence": [0.5, -0.25, np.nan],
            "suppressed": [False, False, True],
        }
    )
    fig = hour_weekday_heatmap(table, "Europe/Berlin")
    grey, valence = fig.data
    assert list(valence.y) == ["Monday", "Wednesday"]
    assert list(valence.x) == [f"{h:02d}:00" for h in range(9, 18)]
    assert valence.z[0][0] == 0.5 and valence.text[0][0] == "6"
    assert grey.z[1][-1] == 0.0 and valence.text[1][-1] == "few"
    assert fig.layout.xaxis.title.text == "Hour of day (Europe/Berlin)"


def test_overview_charts_audience_and_valence_and_leads_with_verdicts(app, demo_db) -> None:
    at = app()
    ads = _chart(at, "overview_ads_chart")
    names = {t["name"] for t in ads["data"] if t.get("showlegend", True)}
    assert names == {"Ad A: family picnic", "Ad B: price shock", "Ad C: new flavour"}
    assert ads["layout"]["legend"]["y"] < 0  # below the plot, not over data
    clock = _chart(at, "overview_clock_chart")
    assert clock["layout"]["xaxis2"]["title"]["text"] == "Time (UTC)"
    verdicts = _chart(at, "overview_verdict_chart")
    assert len(verdicts["data"][0]["y"]) >= 3
    table = next(d for d in at.dataframe if "verdict" in d.value.columns)
    assert table.value["verdict"].str.contains("Ad A: family picnic").any()
    compare = app("views/compare.py")
    assert next(c.key for c in compare.get("plotly_chart")) == "compare_verdict_chart"
    rows = compare.dataframe[0].value.set_index("metric")
    # Each difference in its metric's unit, as its sentence says it.
    assert rows.loc["valence index", "difference"].iloc[0].startswith(("+0.", "-0."))
    assert rows.loc["happiness share", "difference"].iloc[0].endswith(" pts")
    assert rows.loc["dwell", "difference"].iloc[0].endswith(" s")


@pytest.mark.parametrize(
    "page", [None, TIMELINE, "views/compare.py"], ids=["overview", "timeline", "compare"]
)
def test_tables_have_human_labels_and_no_none(app, page: str | None) -> None:
    params = {"stimulus": f"{WINDOW} (display)"} if page == TIMELINE else {}
    at = app(page, **params)
    assert len(at.dataframe)
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        for column in table.value.columns:
            label = config.get(str(column), {}).get("label", str(column))
            assert label not in RAW_NAMES and "_" not in label, (column, label)
        cells = table.value.astype(str).to_numpy().ravel()
        assert not any(c in ("None", "nan", "NaN", "<NA>") for c in cells)
        assert not any("e-0" in c for c in cells)


def _cell(local: dt.datetime) -> str:
    """The 5-minute cell the live view gives for the newest data: never the second, which
    could say when one person of a withheld cell was there."""
    start = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    return f"{start:%H:%M}–{start + dt.timedelta(minutes=5):%H:%M}"


def test_live_view_shows_the_newest_data_in_local_time(app, demo_db: Path) -> None:
    _set_window_zone(demo_db, "Europe/Berlin")
    stimulus_id = _ids(demo_db)[WINDOW]
    with connect(demo_db) as con:
        source_id = zones.source_settings(con, stimulus_id)[0][0]
        job = jobs.start_job(
            con, jobs.JobKey(source_id, "live-cam", "p"), "camera", "{}", "v1", "centerface"
        )
        last = con.execute(
            "SELECT max(ts) FROM face_observations WHERE stimulus_id = ?", [stimulus_id]
        ).fetchone()[0]
    assert job and os.getpid()
    at = app(TIMELINE, stimulus=f"{WINDOW} (display)")
    newest = next(m for m in at.metric if m.label.startswith("Newest data"))
    assert newest.label == "Newest data (Europe/Berlin)"
    assert newest.value == _cell(last + dt.timedelta(hours=1))  # CET in November
    later = last + dt.timedelta(minutes=20)
    write_people(
        demo_db,
        DEMO_CAMPAIGN,
        WINDOW,
        [Person(0.0, 60.0, fps=1.0, start_time=later + dt.timedelta(seconds=i)) for i in range(6)],
        kind="display",
        source="window camera",
    )
    at.run()
    newest = next(m for m in at.metric if m.label.startswith("Newest data"))
    assert newest.value == _cell(later + dt.timedelta(hours=1, seconds=64))
    assert "live_chart" in [c.key for c in at.get("plotly_chart")]


def test_no_live_view_without_a_running_camera(app) -> None:
    at = app(TIMELINE, stimulus=f"{WINDOW} (display)")
    assert not [m for m in at.metric if m.label.startswith("Newest data")]


def test_manage_page_sets_the_campaign_and_camera_time_zones(app, demo_db: Path) -> None:
    at = app("views/manage.py")
    (campaign_id,) = _campaign_ids(demo_db)
    at.selectbox(key=f"manage_campaign_zone_{campaign_id}").set_value("America/New_York")
    at.button(key="manage_campaign_zone_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    window = _ids(demo_db)[WINDOW]
    at.selectbox(key=f"manage_stimulus_{campaign_id}").set_value(window).run()
    with connect(demo_db, read_only=True) as con:
        source_id = zones.source_settings(con, window)[0][0]
    at.selectbox(key=f"manage_source_zone_{source_id}").set_value("Europe/Berlin")
    at.button(key="manage_source_zone_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with connect(demo_db, read_only=True) as con:
        assert zones.campaign_zone(con, campaign_id) == "America/New_York"
        assert zones.source_zones(con, window) == {source_id: "Europe/Berlin"}
        ad = _ids(demo_db)["Ad A: family picnic"]
        assert set(zones.source_zones(con, ad).values()) == {"America/New_York"}
    picker = at.selectbox(key=f"manage_source_zone_{source_id}")
    assert (
        picker.value == "Europe/Berlin"
        and picker.options[0] == "Campaign default (America/New_York)"
    )
    picker.select_index(0)  # back to the campaign's zone
    at.button(key="manage_source_zone_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with connect(demo_db, read_only=True) as con:
        assert zones.source_zones(con, window) == {source_id: "America/New_York"}
