"""One label and rounding table for every human-facing file: the CSV reads like a report."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from pipeline.audience.verdicts import verdict_table, verdicts
from pipeline.emotion.labels import LABELS
from pipeline.exports import to_csv_bytes
from pipeline.reports.labels import COLUMNS, as_percent, column, human_table, markdown_listing
from pipeline.settings import PROJECT_ROOT
from tests.human_csv import assert_human


def _series() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign": ["Spring", "Spring"],
            "stimulus": ["Café window", "Café window"],
            "stimulus_kind": ["display", "display"],
            "stimulus_id": [4, 4],
            "source_id": [np.nan, np.nan],
            "bucket_s": [3600.0, 3600.0],
            "bucket_ts": [dt.datetime(2026, 3, 2, 9, 0, 0, 123), dt.datetime(2026, 3, 2, 10)],
            "faces": [40, 2],
            "people": [12, 1],
            "mean_attention_s": [12.654545, np.nan],
            "attraction": [0.9011925, np.nan],
            "valence": [0.28888888, np.nan],
            "mean_fear": [9.958840091712773e-05, np.nan],
            "share_happiness": [1 / 3, np.nan],
            "suppressed": [False, True],
            "consented_study": [False, False],
        }
    )


def test_human_table_labels_rounds_and_blanks() -> None:
    table = human_table(_series())
    assert list(table.columns) == [
        "Campaign",
        "Stimulus",
        "Kind",
        "Bucket (s)",
        "Clock time",
        "Faces",
        "People",
        "Attention (s)",
        "Attraction (%)",
        "Valence index",
        "Fear, mean score",
        "Happiness share (%)",
        "Withheld (too few people)",
        "Consented study",
    ]
    first = table.iloc[0]
    assert first["Attention (s)"] == 12.7 and first["Attraction (%)"] == 90.1
    assert first["Valence index"] == 0.29 and first["Happiness share (%)"] == 33.3
    assert first["Fear, mean score"] == 0.0  # not 9.958840091712773e-05
    assert first["Clock time"] == "2026-03-02 09:00" and first["Withheld (too few people)"] == "no"
    assert table.iloc[1]["Withheld (too few people)"] == "yes"
    assert pd.isna(table.iloc[1]["Valence index"])


def test_csv_is_human_and_keeps_missing_values_empty() -> None:
    text = to_csv_bytes(_series()).decode("utf-8-sig")
    assert_human(text)
    assert "Café window" in text and "12.7" in text and "9.95" not in text
    lines = text.splitlines()
    assert lines[2].endswith(",yes,no") and ",," in lines[2]


def test_assert_human_catches_what_the_issue_saw() -> None:
    for bad in (
        "bucket_offset_s,People\n1.0,3\n",
        "Valence index,People\nNone,3\n",
        "Valence index,People\n9.958840091712773e-05,3\n",
    ):
        try:
            assert_human(bad)
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {bad!r}")


def test_verdict_csv_gives_each_difference_its_unit() -> None:
    rng = np.random.default_rng(1)
    people = {
        name: pd.DataFrame(
            {
                "valence": rng.normal(shift, 0.2, 30),
                "share_happiness": rng.uniform(0, 1, 30),
                "dwell_s": rng.normal(10 + shift * 10, 1, 30),
            }
        )
        for name, shift in (("Ad A", 0.5), ("Ad B", 0.0))
    }
    table = human_table(verdict_table(verdicts(people, 5)))
    units = dict(zip(table["Metric"], table["Unit"], strict=True))
    assert units["valence index"] == "index" and units["dwell"] == "seconds"
    assert units["happiness share"] == "percentage points"
    for value in table["Difference (A minus B)"].dropna():
        assert math.isfinite(value) and round(value, 2) == value
    share = table[table["Metric"] == "happiness share"].iloc[0]
    assert abs(share["Difference (A minus B)"]) <= 100  # points, not a 0..1 fraction


def test_every_expression_and_kind_has_a_label_and_dashboard_format() -> None:
    for n in LABELS:
        assert column(f"share_{n}").label == f"{n.capitalize()} share (%)"
        assert column(f"mean_{n}").kind == "score"
    assert column("mean_attention_s").printf == "%.1f"
    assert column("positive_share").printf == "%.0f%%"
    assert column("something_new").label == "something_new"  # never dropped silently
    scaled = as_percent(pd.DataFrame({"share_looking": [0.5], "people": [3]}))
    assert scaled["share_looking"].iloc[0] == 50.0 and scaled["people"].iloc[0] == 3
    assert column("valence").text(0.4444) == "+0.44" and column("attraction").text(0.881) == "88%"
    assert column("people").text(1234.0) == "1,234" and column("valence").text(None) == "-"


def test_readme_lists_the_label_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    listed = readme.split("<!-- labels:start -->\n", 1)[1].split("\n<!-- labels:end -->", 1)[0]
    assert listed == markdown_listing(), "run python -m pipeline.reports.labels, paste in README"
    for name in COLUMNS:
        assert f"`{name}`" in listed or name.split("_")[-1] in LABELS


def test_verdict_numbers_never_read_minus_zero() -> None:
    from pipeline.audience.verdicts import METRICS

    share = next(m for m in METRICS if m.percent)
    assert share.fmt(-0.004) == "+0 pts" and share.fmt(-0.006) == "-1 pts"
    valence = next(m for m in METRICS if m.label == "valence index")
    assert valence.fmt(-0.001) == "+0.00" and valence.fmt(-0.01) == "-0.01"


def test_report_verdict_table_lists_comparisons_and_counts_the_rest() -> None:
    from pipeline.reports.tables import not_compared, verdict_display

    rng = np.random.default_rng(3)
    people = {
        "Ad A": pd.DataFrame({"valence": rng.normal(0.5, 0.2, 20)}),
        "Ad B": pd.DataFrame({"valence": rng.normal(0.0, 0.2, 20), "dwell_s": 3.0}),
    }
    table = verdict_table(verdicts(people, 5))
    shown = verdict_display(table, compared_only=True)
    assert len(shown) == 1 and shown["Verdict"][0].startswith("Ad A: more positive than Ad B")
    assert len(verdict_display(table)) == len(table) == 6
    line = not_compared(table)
    assert line.startswith("5 comparisons could not be made") and "dwell" in line


def test_dashboard_tables_read_the_one_table_of_labels() -> None:
    """Every column a dashboard table shows is in the product's table (no label of its own,
    but a clock naming its zone), with that table's label and number format."""
    from dashboard.labels import JOBS, KEPT_UPLOADS, STIMULUS, VERDICT, readable, series_spec

    specs = (STIMULUS, VERDICT, JOBS, KEPT_UPLOADS, series_spec(False), series_spec(True, "T"))
    for spec in specs:
        names = [item if isinstance(item, str) else item.name for item in spec]
        assert set(names) <= set(COLUMNS), set(names) - set(COLUMNS)
        numbers = pd.DataFrame({n: [0.25] for n in names if column(n).printf})
        texts = pd.DataFrame({n: ["x"] for n in names if not column(n).printf})
        _, config = readable(pd.concat([numbers, texts], axis=1), spec)
        for name in names:
            expected = "T" if name == "bucket_ts" else column(name).label
            assert config[name]["label"] == expected, name
            if column(name).printf:
                assert config[name]["type_config"]["format"] == column(name).printf, name
    shown, _ = readable(pd.DataFrame({"share_looking": [0.25, None]}), STIMULUS)
    assert shown["share_looking"].tolist() == ["25%", "–"]  # a gap: text, percent, a dash
