"""Reports: golden report tables, honest wording, a self-contained HTML file, a PDF whose
pages really carry their charts (rendered with pdftoppm), and the CLI's build_report path."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.audience.verdicts import verdict_table, verdicts
from pipeline.errors import InputError
from pipeline.reports.build import ReportData, StimulusSection, build_report, collect_report
from pipeline.reports.html import render_html
from pipeline.reports.model_card import load_model_facts, model_card_markdown
from pipeline.reports.pdf import render_pdf
from pipeline.reports.tables import (
    bucket_label,
    campaign_overview,
    display_table,
    series_view,
    stimulus_table,
    suppress_summary,
)
from pipeline.reports.texts import (
    CONTACT_PLACEHOLDER,
    methodology,
    model_summary,
    notice_text,
    privacy_note,
)
from pipeline.settings import PROJECT_ROOT
from tests.golden.goldens import check_csv, check_json, load_kpis, load_series, load_table

MANIFEST = PROJECT_ROOT / "pipeline" / "models" / "emotion.json"
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="pdftoppm/pdftotext missing: apt-get install poppler-utils (.ci/run does)",
)


def _verdicts(min_crowd: int) -> pd.DataFrame:
    """Verdicts of two simulated audiences: the ad clearly more positive, dwell alike."""
    rng = np.random.default_rng(7)
    people = {
        name: pd.DataFrame(
            {"valence": rng.normal(shift, 0.2, 25), "dwell_s": rng.normal(12, 2, 25)}
        )
        for name, shift in (("Spring ad", 0.6), ("Window display", 0.1))
    }
    return verdict_table(verdicts(people, min_crowd))


def golden_report(min_crowd: int = 3, with_verdicts: bool = False) -> ReportData:
    """A report record built from the golden input tables only (no database)."""
    summary = load_table("summary")
    sections = [
        StimulusSection(
            "Spring ad",
            "ad",
            False,
            1.0,
            series_view(load_series("series_ad"), min_crowd),
            load_table("segments_ad"),
            None,
        ),
        StimulusSection(
            "Window display",
            "display",
            True,
            1200.0,
            series_view(load_series("series_display"), min_crowd),
            load_table("segments_ad").iloc[0:0],
            series_view(load_table("hour_weekday"), min_crowd),
        ),
    ]
    return ReportData(
        campaign="Spring launch",
        scope="all stimuli",
        generated_at=dt.datetime(2026, 3, 15, 8, 0),
        min_crowd=min_crowd,
        overview=campaign_overview(load_kpis(), summary, min_crowd),
        summary=suppress_summary(summary, min_crowd),
        table=stimulus_table(summary, min_crowd),
        sections=sections,
        model=load_model_facts(),
        verdicts=_verdicts(min_crowd) if with_verdicts else pd.DataFrame(),
    )


@pytest.mark.parametrize("min_crowd", [5, 30])
def test_stimulus_table_matches_golden(min_crowd: int) -> None:
    table = stimulus_table(load_table("summary"), min_crowd)
    check_csv(f"stimulus_table_min{min_crowd}.csv", table)
    check_csv(f"display_table_min{min_crowd}.csv", display_table(table))


def test_small_stimulus_shows_its_face_count_and_nothing_else() -> None:
    shown = display_table(stimulus_table(load_table("summary"), 5))
    spring = shown[shown["Stimulus"] == "Spring ad"].iloc[0]
    assert (spring["Faces"], spring["People"]) == ("140", "4")  # counts explain the gap
    assert set(spring.drop(["Stimulus", "Kind", "Faces", "People"])) == {"too few people"}
    window = shown[shown["Stimulus"] == "Window display"].iloc[0]
    assert window["Valence (95 % interval)"] == "+0.42 [+0.18, +0.67]"
    assert window["Positive share"] == "50%"
    assert window["Watchers"] == window["Attention (s)"] == "not available"  # no head pose
    summary = suppress_summary(load_table("summary"), 5)
    assert math.isnan(summary.loc[0, "positive_share"])  # summary-only column blanked too


def test_campaign_overview_ranks_only_stimuli_meeting_the_minimum_crowd() -> None:
    summary, kpis = load_table("summary"), load_kpis()
    both = campaign_overview(kpis, summary, 4)
    assert (both.faces, both.people) == (166, 30)
    assert both.top_stimulus == "Spring ad" and both.bottom_stimulus == "Window display"
    assert both.positive_share == pytest.approx(0.4397590, abs=1e-6)
    one = campaign_overview(kpis, summary, 5)  # the ad has 4 people
    assert one.top_stimulus == one.bottom_stimulus == "Window display"
    assert (one.eligible_stimuli, one.suppressed_stimuli) == (1, 1)
    none = campaign_overview(kpis, summary, 500)
    assert none.top_stimulus == "" and math.isnan(none.positive_share)
    check_json("overview_min5.json", one.__dict__)


def test_bucket_labels() -> None:
    assert [bucket_label(s) for s in (0.5, 1, 300, 1200, 3600, 86400, 172800)] == [
        "0.5 s",
        "1 s",
        "5 min",
        "20 min",
        "1 h",
        "1 day",
        "2 days",
    ]


def test_texts_say_expression_never_feeling() -> None:
    model = load_model_facts()
    texts = [*methodology(model), *model_summary(model), *privacy_note(7), notice_text(90)]
    joined = " ".join(texts).lower()
    assert "feeling" not in joined and "emotion felt" not in joined
    assert "expression" in joined
    assert "at least 7 people" in " ".join(privacy_note(7))
    assert "no pixels stored" in joined


def test_notice_names_retention_and_contact() -> None:
    text = notice_text(90, "Store 12, Main St, privacy@example.org")
    assert "after 90 days" in text
    assert "privacy@example.org" in text
    assert "Art. 50(3)" in text and "GDPR" in text
    assert "not sold" in text
    assert CONTACT_PLACEHOLDER in notice_text(90, "  ")


def test_model_facts_come_from_the_manifest() -> None:
    raw = json.loads(MANIFEST.read_text())
    facts = load_model_facts()
    assert facts.version == raw["version"]
    assert facts.accuracy == raw["validation"]["accuracy"]
    assert facts.ece == raw["validation"]["ece"]
    assert facts.per_class_recall == raw["validation"]["per_class_recall"]
    assert facts.labels == tuple(raw["labels"])
    assert "Model card" in model_card_markdown()


def test_html_report_is_self_contained_and_interactive() -> None:
    page = render_html(golden_report()).decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert not re.search(r"<script[^>]+src=", page), "no external script: offline installs"
    assert "<link" not in page
    assert page.count("Plotly.newPlot") == 5  # compare, multiples, 2 timelines, heatmap
    # The small multiples (two panels side by side, the first at domain 0-0.47) name each
    # panel's axis as the stimulus's own timeline does: the ad's offset, the display's clock.
    multiples = re.search(
        r'"xaxis":\{"anchor":"y","domain":\[0\.0,0\.47\].*?"xaxis2":\{.*?\}', page
    )
    assert multiples is not None
    assert '"title":{"text":"seconds since the start of the footage"}' in multiples.group(0)
    assert '"title":{"text":"Time (UTC)"}' in multiples.group(0)
    assert len(page) > 3_000_000  # plotly.js itself is inline
    for text in (
        "Spring ad",
        "Window display",
        "Methodology",
        "Model card",
        "Privacy",
        "fewer than 3 people",
        f"{load_model_facts().accuracy:.1%}",  # the shipped model's validation accuracy
        "intro",
    ):
        assert text in page
    assert "feeling" not in page.split("<script")[0].lower()
    text = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # plotly.js and chart data aside
    assert text.index("Executive summary") < text.index("Stimuli compared")
    assert "Key moments" in text and "Spring ad: most positive at" in text
    assert_readable(re.sub(r"<[^>]+>", " ", text))


def _ink(png: Path) -> tuple[float, float, int, int]:
    """(non-white share, coloured share, height and width of the coloured pixels' bounding
    box) of a rendered page; "coloured" means saturated, unlike black text or grey bands."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    coloured = (pixels.max(axis=2) - pixels.min(axis=2)) > 40
    ink = float((pixels.min(axis=2) < 235).mean())
    if not coloured.any():
        return ink, 0.0, 0, 0
    rows, cols = np.flatnonzero(coloured.any(axis=1)), np.flatnonzero(coloured.any(axis=0))
    return ink, float(coloured.mean()), int(rows[-1] - rows[0]), int(cols[-1] - cols[0])


def _render_pages(pdf: bytes, folder: Path) -> list[Path]:
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(source), str(folder / "page")], check=True, timeout=120
    )
    return sorted(folder.glob("page-*.png"))


def _pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run(
        ["pdftotext", "-layout", *pages, str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


# What the issue saw in exports: raw column names, None, unrounded and exponent numbers.
_RAW = re.compile(
    r"\b(bucket_offset_s|bucket_ts|unique_tracks|mean_dwell_s|mean_attention_s|"
    r"people_shown|share_looking|valence_low|valence_high|(mean|share)_[a-z]+)\b"
)
_UNREADABLE = re.compile(r"\bNone\b|\bnan\b|\bNaN\b|\d[eE][-+]\d|\d\.\d{4,}")


def assert_readable(text: str) -> None:
    """No raw machine name, None/nan, exponent or 4+ decimals in text a person reads."""
    assert not _RAW.search(text), _RAW.search(text)
    assert not _UNREADABLE.search(text), _UNREADABLE.search(text)


@needs_poppler
def test_pdf_report_pages_carry_their_charts(tmp_path: Path) -> None:
    pdf = render_pdf(golden_report())
    assert pdf.startswith(b"%PDF-")
    assert b"/Subtype /Image" in pdf
    pages = _render_pages(pdf, tmp_path)
    # executive summary with the compare chart and the stimuli table, ad, display, then
    # method/model/privacy (two pages of text)
    assert len(pages) == 5
    with Image.open(pages[0]) as first:
        width, height = first.size
    for page in pages[1:3]:  # one page per stimulus: a timeline chart fills most of it
        ink, coloured, box_h, box_w = _ink(page)
        assert ink > 0.2 and coloured > 0.01, page.name
        assert box_h > 0.3 * height and box_w > 0.4 * width, page.name
    for page in pages[3:]:  # method, model card, privacy: text only
        ink, coloured, _, _ = _ink(page)
        assert ink < 0.2 and coloured == 0.0, page.name
    _, coloured, _, _ = _ink(pages[0])  # the compare chart's bars
    assert coloured > 0.005
    text = _pdf_text(tmp_path / "report.pdf")
    for words in (
        "Reaction report: Spring launch",
        "Executive summary",
        "Stimuli compared",
        "Methodology",
        "Model card",
        "Privacy",
        f"{load_model_facts().accuracy:.1%}",  # the shipped model's validation accuracy
        "fewer than 3 people",
    ):
        assert words in text
    assert "feeling" not in text.lower()
    assert_readable(text)


def test_names_with_dollar_signs_are_drawn_as_typed() -> None:
    """Matplotlib reads text between two ``$`` as math: a stimulus "$5 off, now $4" came out
    in italics, and a segment named like a broken formula failed the whole PDF."""
    from pipeline.reports.static_charts import compare_chart, png, timeline_chart

    report = golden_report()
    odd, offer = "$\\frac$ deal", "$5 off, now $4"
    ad = report.sections[0]
    segments = ad.segments.assign(name=[odd, *ad.segments["name"].iloc[1:]])
    sections = [dataclasses.replace(ad, name=offer, segments=segments), *report.sections[1:]]
    summary = report.summary.replace({"name": {"Spring ad": offer}})
    report = dataclasses.replace(report, sections=sections, summary=summary)
    assert render_pdf(report).startswith(b"%PDF-")
    timeline = timeline_chart(
        sections[0].series, by_clock=False, segments=sections[0].segments, title=offer
    )
    compare = compare_chart(summary, title=odd)
    png(timeline), png(compare)
    texts = [*timeline.texts, *timeline.axes[0].texts, *compare.axes[0].get_yticklabels()]
    assert {odd, offer} <= {t.get_text() for t in texts}
    assert not any(t.get_parse_math() for t in texts)


@needs_poppler
def test_pdf_first_page_is_an_executive_summary(tmp_path: Path) -> None:
    """Page 1 holds the key numbers, the clear verdicts in plain words and the key moments,
    each moment a bucket shown at the minimum crowd; the page is well filled, not empty."""
    report = golden_report(with_verdicts=True)
    pages = _render_pages(render_pdf(report), tmp_path)
    first = " ".join(_pdf_text(tmp_path / "report.pdf", 1, 1).split())
    for words in (
        "Executive summary",
        "People",
        "Watchers",
        "Mean attention",
        "Positive share",
        "Verdicts",
        "Spring ad: more positive than Window display (valence index +",
        "95 % interval",
        "25 vs 25 people",
        "No clear difference in 1 other comparison; 4 comparisons could not be made",
        "Key moments",
        "Spring ad: most positive at",
        "Window display: most positive on Sat 14 Mar, 12:20-12:40 UTC (valence index +0.75",
    ):
        assert words in first, words
    assert_readable(first)
    # The ad's seconds 4-11 are withheld at 3 people: no moment may point there.
    moment = re.search(r"Spring ad: most positive at (\d+)-", first)
    assert moment and int(moment.group(1)) < 4
    with Image.open(pages[0]) as image:  # a full page, not a title on white
        pixels = np.asarray(image.convert("L"))
    body = pixels[: int(pixels.shape[0] * 0.92)]  # above the running footer
    assert np.flatnonzero((body < 235).any(axis=1))[-1] > 0.75 * pixels.shape[0]
    assert "Stimuli compared" in first  # a short table follows on the same page


@needs_poppler
def test_one_stimulus_pdf_fills_its_first_page_with_the_timeline(tmp_path: Path) -> None:
    full = golden_report()
    one = dataclasses.replace(
        full,
        scope="Spring ad",
        sections=full.sections[:1],
        summary=full.summary.iloc[:1],
        table=full.table.iloc[:1],
    )
    pages = _render_pages(render_pdf(one), tmp_path)
    first = " ".join(_pdf_text(tmp_path / "report.pdf", 1, 1).split())
    assert "nothing to compare" in first and "Summary" in first
    assert "Spring ad (ad)" in first  # the stimulus follows on page 1
    _, coloured, box_h, _ = _ink(pages[0])
    with Image.open(pages[0]) as image:
        assert coloured > 0.01 and box_h > 0.2 * image.size[1]  # its timeline chart


@needs_poppler
def test_pdf_without_enough_people_says_so_on_page_one(tmp_path: Path) -> None:
    report = golden_report(min_crowd=30)
    _render_pages(render_pdf(report), tmp_path)
    first = " ".join(_pdf_text(tmp_path / "report.pdf", 1, 1).split())
    assert "no moment can be shown, every 1 s bucket has fewer than 30 people" in first
    assert "No stimuli could be compared" in first
    assert_readable(first)


@needs_poppler
def test_build_report_from_the_analysed_database(analysed_db: Path, tmp_path: Path) -> None:
    from pipeline.store.database import connect

    with connect(analysed_db, read_only=True) as con:
        report = collect_report(con, "Spring launch", None, None, 5)
        pdf = build_report(con, "pdf", "Spring launch", None, None, 5)
        html_doc = build_report(con, "html", "Spring launch", "Spring ad", 2.0, 5)
        with pytest.raises(InputError, match="Unknown report format"):
            build_report(con, "docx", "Spring launch", None, None, 5)
    assert [s.name for s in report.sections] == ["Spring ad", "Window display"]
    assert report.sections[0].bucket_s == 1.0 and report.sections[1].bucket_s == 3600.0
    assert report.sections[1].heatmap is not None
    assert report.overview.faces == int(report.table["faces"].sum())
    assert b"/Subtype /Image" in pdf
    assert len(_render_pages(pdf, tmp_path)) >= 3
    page = html_doc.decode()
    assert "Reaction report: Spring launch" in page and "Scope: Spring ad" in page
    assert "2 s buckets" in page and "Window display" not in page


def test_cli_export_writes_html_and_pdf(analysed_db: Path, tmp_path: Path) -> None:
    from pipeline.exports import export_to_file

    html_path = export_to_file(
        "html", tmp_path / "r.html", "Spring launch", None, None, db_path=analysed_db, min_crowd=5
    )
    pdf_path = export_to_file(
        "pdf",
        tmp_path / "r.pdf",
        "Spring launch",
        "Window display",
        None,
        db_path=analysed_db,
        min_crowd=5,
    )
    assert html_path.read_bytes().startswith(b"<!DOCTYPE html>")
    assert pdf_path.read_bytes().startswith(b"%PDF-")


def test_a_stimulus_typed_in_another_unicode_form_gets_its_report(writable_db: Path) -> None:
    """A stimulus stored with a combining accent (NFD, a row from before names were
    normalised) and typed precomposed (NFC) is found, and its report is the stored one's
    (the summary row used to be looked up by the typed spelling: an IndexError)."""
    from pipeline.store.database import connect

    stored, typed = "Spring cafe\u0301", "Spring caf\u00e9"
    with connect(writable_db) as con:
        con.execute("UPDATE stimuli SET name = ? WHERE name = 'Spring ad'", [stored])
        report = collect_report(con, "Spring launch", typed, 2.0, 5)
    assert [s.name for s in report.sections] == [stored]
    assert report.scope == stored


def test_report_of_a_campaign_without_faces_says_so(writable_db: Path) -> None:
    from pipeline.store import catalog
    from pipeline.store.database import connect

    with connect(writable_db) as con:
        catalog.create_campaign(con, "Empty")
        with pytest.raises(InputError) as raised:
            build_report(con, "pdf", "Empty", None, None, 5)
    assert raised.value.title == "Nothing to export"


def test_report_tables_are_numbers_not_objects() -> None:
    table = stimulus_table(load_table("summary"), 5)
    assert table["faces"].dtype == np.int64
    assert pd.api.types.is_float_dtype(table["valence"])
    assert io.StringIO(table.to_csv(index=False)).getvalue().startswith("stimulus,kind,faces")
