"""Charts are pure functions: golden input tables in, figures (plotly) or PNG bytes out.

The golden digests pin what each figure draws; the property tests state the privacy rule in
words: a suppressed bucket or stimulus is drawn grey and carries no expression figure.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from pipeline.emotion.labels import LABELS
from pipeline.reports import charts, static_charts
from pipeline.reports.digest import figure_digest
from pipeline.reports.palette import SUPPRESSED_COLOUR
from pipeline.reports.tables import series_view, suppress_summary
from tests.golden.goldens import check_json, load_series, load_table

AD_MIN_CROWD = 3  # seconds 4-11 of the ad show 2 people: suppressed; 0-3 show 3: shown
DISPLAY_MIN_CROWD = 3  # 20-min buckets of 1-4 people: three buckets shown, nine suppressed


@pytest.fixture()
def ad_view() -> pd.DataFrame:
    return series_view(load_series("series_ad"), AD_MIN_CROWD)


@pytest.fixture()
def display_view() -> pd.DataFrame:
    return series_view(load_series("series_display"), DISPLAY_MIN_CROWD)


def _trace(fig, name: str):
    return next(t for t in fig.data if t.name == name)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_ad_timeline_matches_golden(ad_view: pd.DataFrame) -> None:
    fig = charts.timeline_figure(
        ad_view, by_clock=False, segments=load_table("segments_ad"), title="Spring ad"
    )
    check_json("timeline_ad_lines.json", figure_digest(fig))


def test_display_timeline_share_matches_golden(display_view: pd.DataFrame) -> None:
    fig = charts.timeline_figure(display_view, by_clock=True, mode="share")
    check_json("timeline_display_share.json", figure_digest(fig))


def test_ad_timeline_draws_buckets_at_their_centres_with_segments(ad_view: pd.DataFrame) -> None:
    fig = charts.timeline_figure(ad_view, by_clock=False, segments=load_table("segments_ad"))
    valence = _trace(fig, "valence index")
    assert list(valence.x) == [s + 0.5 for s in range(12)]  # 1 s buckets, centre of each
    assert list(valence.y[:4]) == [1.0, 1.0, 1.0, 1.0]  # happiness planted in the intro
    annotations = [a.text for a in fig.layout.annotations]
    for name in ("intro", "story", "reveal"):
        assert f"<b>{name}</b>" in annotations
    bands = [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"]
    assert (0.0, 4.0) in bands and (8.0, 12.0) in bands  # segments
    assert (4.0, 12.0) in bands  # one grey band over the suppressed run


def test_suppressed_buckets_carry_no_expression_figures(ad_view: pd.DataFrame) -> None:
    fig = charts.timeline_figure(ad_view, by_clock=False)
    hidden = ad_view["suppressed"].to_numpy()
    assert hidden.sum() == 8
    for trace in fig.data:
        if trace.name in (*LABELS, "valence index"):
            values = list(trace.y)
            assert all(_is_blank(values[i]) for i in np.flatnonzero(hidden)), trace.name
            assert not any(_is_blank(values[i]) for i in np.flatnonzero(~hidden)), trace.name
    # The band is drawn as one closed polygon per run of shown buckets: none at a hidden one.
    centres = ad_view["bucket_offset_s"] + ad_view["bucket_s"] / 2
    band_x = {x for x in _trace(fig, "95 % interval").x if x is not None}
    assert band_x == set(centres[~hidden]) and not band_x & set(centres[hidden])
    grey = [(s.x0, s.x1) for s in fig.layout.shapes if s.fillcolor == SUPPRESSED_COLOUR]
    assert grey == [(4.0, 12.0)] * 3  # one band over the run, on each of the three rows
    assert any(t.name == "greyed: too few people" for t in fig.data)


def test_share_mode_stacks_to_one_for_shown_buckets(display_view: pd.DataFrame) -> None:
    fig = charts.timeline_figure(display_view, by_clock=True, mode="share")
    shares = np.array([list(_trace(fig, n).y) for n in LABELS], dtype=float)
    shown = ~display_view["suppressed"].to_numpy()
    assert shown.sum() == 3
    np.testing.assert_allclose(shares[:, shown].sum(axis=0), 1.0)
    assert np.isnan(shares[:, ~shown]).all()
    assert fig.layout.barmode == "stack"


def test_unknown_mode_is_refused(ad_view: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="mode"):
        charts.timeline_figure(ad_view, by_clock=False, mode="pie")


def test_hour_weekday_heatmap_matches_golden() -> None:
    table = series_view(load_table("hour_weekday"), 6)  # 09:00 has 5 faces: suppressed
    fig = charts.hour_weekday_figure(table)
    check_json("hour_weekday.json", figure_digest(fig))
    valence = np.array(_trace(fig, "valence index").z, dtype=float)
    grey = np.array(_trace(fig, "too few people").z, dtype=float)
    saturday = 5
    assert list(_trace(fig, "valence index").x) == ["09:00", "10:00", "11:00", "12:00"]
    assert np.isnan(valence[saturday, 0]) and grey[saturday, 0] == 0.0  # 09:00
    assert valence[saturday, 2] == pytest.approx(2 / 3)  # 11:00
    assert np.isnan(valence[0]).all()  # Monday: no faces at all
    # Numbers and hover count people (the unit), never faces.
    heat = _trace(fig, "valence index")
    assert "people" in heat.hovertemplate and "faces" not in heat.hovertemplate
    assert "faces" not in fig.layout.title.text
    people = {(r.weekday, r.hour): r.people for r in table.itertuples() if not r.suppressed}
    assert heat.text[saturday][2] == str(people[(6, 11)])


def test_band_never_bridges_a_gap(display_view: pd.DataFrame) -> None:
    """Shown buckets separated by withheld ones (or nights without footage) get one closed
    band each: the polygon breaks (None) between runs instead of filling across the gap."""
    fig = charts.timeline_figure(display_view, by_clock=True)
    band = _trace(fig, "95 % interval")
    assert band.fill == "toself"
    xs = list(band.x)
    runs = [[]]
    for x in xs:
        if x is None:
            runs.append([])
        else:
            runs[-1].append(x)
    shown = display_view[~display_view["suppressed"] & display_view["valence_low"].notna()]
    assert sum(len(r) for r in runs) == 2 * len(shown)
    for run in runs:  # each run goes out along the top and back along the bottom
        half = len(run) // 2
        assert run[:half] == run[half:][::-1]


@pytest.mark.parametrize("figure", ["timeline", "compare"])
def test_plotly_legends_sit_outside_the_plot(ad_view: pd.DataFrame, figure: str) -> None:
    if figure == "timeline":
        fig = charts.timeline_figure(ad_view, by_clock=False, segments=load_table("segments_ad"))
    else:
        fig = charts.compare_figure(suppress_summary(load_table("summary"), 3))
    legend = fig.layout.legend
    assert legend.x >= 1.0 and legend.xanchor == "left"  # right of every x domain (0..1)
    for axis in (a for a in dir(fig.layout) if a.startswith("xaxis")):
        assert max(getattr(fig.layout, axis).domain) <= 1.0


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("mode", ["lines", "share"])
@pytest.mark.parametrize("by_clock", [False, True])
def test_static_legends_never_cover_a_plot(
    ad_view: pd.DataFrame, display_view: pd.DataFrame, mode: str, by_clock: bool
) -> None:
    series = display_view if by_clock else ad_view
    fig = static_charts.timeline_chart(
        series, by_clock=by_clock, mode=mode, segments=load_table("segments_ad"), title="t"
    )
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # constrained layout places the legends while drawing
    renderer = canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 2  # expressions, valence
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not _overlaps(box, ax.get_window_extent(renderer)), (legend, ax)
        assert box.x1 <= fig.bbox.x1 + 1  # and it is inside the picture


def test_compare_greys_out_small_stimuli_without_numbers() -> None:
    summary = suppress_summary(load_table("summary"), 5)  # the ad has 4 people
    fig = charts.compare_figure(summary)
    check_json("compare_min5.json", figure_digest(fig))
    valence = _trace(fig, "valence index")
    assert list(valence.x) == ["Window display"]
    assert list(valence.y) == [pytest.approx(0.423077, abs=1e-6)]
    grey = _trace(fig, "too few people")
    assert list(grey.x) == ["Spring ad"] and list(grey.text) == ["too few people"]
    assert {t.name for t in fig.data} == {"valence index", "too few people", "Window display"}


def test_small_multiples_one_panel_per_stimulus(ad_view, display_view) -> None:
    empty = display_view.iloc[0:0]
    fig = charts.small_multiples_figure(
        [
            ("Spring ad", False, ad_view),
            ("Window display", True, display_view),
            ("New", False, empty),
        ]
    )
    check_json("small_multiples.json", figure_digest(fig))
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == ["Spring ad", "Window display", "New"]
    assert _trace(fig, "New: too few people").text == ("too few people",)


def _coloured_fraction(png: bytes) -> tuple[tuple[int, int], float]:
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
        size = image.size
    chroma = pixels.max(axis=2) - pixels.min(axis=2)
    return size, float((chroma > 40).mean())


@pytest.mark.parametrize("mode", ["lines", "share"])
def test_static_timeline_png_has_a_coloured_chart(ad_view: pd.DataFrame, mode: str) -> None:
    png = static_charts.png(
        static_charts.timeline_chart(
            ad_view,
            by_clock=False,
            mode=mode,
            segments=load_table("segments_ad"),
            title="Spring ad",
        )
    )
    size, coloured = _coloured_fraction(png)
    assert size == (1500, 1050)
    assert coloured > 0.02


def test_static_clock_timeline_heatmap_and_compare(display_view: pd.DataFrame) -> None:
    timeline = static_charts.png(static_charts.timeline_chart(display_view, by_clock=True))
    heat = static_charts.png(
        static_charts.heatmap_chart(series_view(load_table("hour_weekday"), 6))
    )
    compare = static_charts.png(
        static_charts.compare_chart(suppress_summary(load_table("summary"), 5))
    )
    for png in (timeline, heat, compare):
        assert png.startswith(b"\x89PNG")
        _, coloured = _coloured_fraction(png)
        assert coloured > 0.01


def test_audience_hover_takes_the_name_from_the_trace() -> None:
    """A stimulus name is HTML-escaped into the trace's name; pasted into the hover template
    it was also read as template syntax ("%{y}" showed a number instead of the name)."""
    from dashboard.charts import audience_figure

    name = "<b>Ad</b> %{y}"
    series = pd.DataFrame(
        {
            "bucket_offset_s": [0.0, 1.0],
            "people": [4, 5],
            "valence": [0.2, -0.1],
            "suppressed": [False, False],
        }
    )
    fig = audience_figure([(name, series)], by_clock=False, axis_title="s", title="t")
    assert {trace.name for trace in fig.data} == {"&lt;b&gt;Ad&lt;/b&gt; %{y}"}
    for trace in fig.data:
        assert trace.hovertemplate.startswith("%{fullData.name}: ")
        assert "Ad" not in trace.hovertemplate


def test_axis_titles_show_zone_names_as_text(display_view: pd.DataFrame) -> None:
    """A clock axis names the cameras' zone; whatever that string holds is shown as text,
    never as Plotly's HTML subset (every chart that names a zone goes through ``plain``)."""
    from dashboard.charts import audience_figure, hour_weekday_heatmap

    zone = "<b>Zone</b>"
    escaped = "&lt;b&gt;Zone&lt;/b&gt;"
    timeline = charts.timeline_figure(display_view, by_clock=True, clock_title=f"Time ({zone})")
    heat = hour_weekday_heatmap(series_view(load_table("hour_weekday"), 6), zone)
    audience = audience_figure(
        [
            (
                "display",
                pd.DataFrame(
                    {
                        "bucket_ts": pd.to_datetime(["2026-03-02 10:00", "2026-03-02 11:00"]),
                        "people": [4, 5],
                        "valence": [0.2, -0.1],
                        "suppressed": [False, False],
                    }
                ),
            )
        ],
        by_clock=True,
        axis_title=f"Time ({zone})",
        title="",
    )
    multiples = charts.small_multiples_figure(
        [("display", True, display_view)], x_titles=[f"Time ({zone})"]
    )
    titles = [
        fig.layout[name].title.text
        for fig in (timeline, heat, audience, multiples)
        for name in fig.layout
        if name.startswith("xaxis") and fig.layout[name].title.text
    ]
    assert len(titles) == 4
    assert all(escaped in title and "<b>" not in title for title in titles)
