"""The executive summary that opens every report: key numbers, verdicts, key moments.

A reader with one minute gets the campaign's answer on the first page: how many people, how
attentive and positive they were, which stimulus beat which (only where the 95 % interval
says so), and the moments each stimulus peaked. Everything is read from the report's already
privacy-applied tables: a moment is a bucket shown at the minimum crowd, never a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.audience.verdicts import METRICS, Metric
from pipeline.privacy import count_column
from pipeline.reports.tables import bucket_label, kpi_cells

if TYPE_CHECKING:
    from pipeline.reports.build import ReportData

_BY_LABEL: dict[str, Metric] = {m.label: m for m in METRICS}
HEADLINE_VERDICTS = 6


@dataclass(frozen=True)
class VerdictSummary:
    """Plain sentences for the clear differences, and counts of the rest."""

    clear: list[str]
    more_clear: int  # clear differences beyond HEADLINE_VERDICTS, left to the verdict table
    unclear: int  # compared, but the interval includes zero
    not_compared: int  # too few people, or the metric was not measured

    def closing(self) -> str:
        """The sentence after the clear verdicts: what the other comparisons said."""
        parts = []
        if self.more_clear:
            parts.append(f"{self.more_clear} more clear differences are in the verdict table")
        if self.unclear:
            parts.append(f"no clear difference in {_count(self.unclear, 'other comparison')}")
        if self.not_compared:
            parts.append(
                f"{_count(self.not_compared, 'comparison')} could not be made "
                "(too few people or not measured)"
            )
        if not parts:
            return ""
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _finite(value: object) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))  # type: ignore[arg-type]


def plain_verdict(row: pd.Series) -> str:
    """A clear verdict as one sentence: winner, metric, difference with its interval, people.

    "Ad A: more positive than Ad B (valence index +0.42, 95 % interval +0.17 to +0.67;
    18 vs 22 people)."
    """
    metric = _BY_LABEL.get(str(row["metric"]))
    if metric is None:
        return str(row["verdict"])
    a_wins = row["winner"] == row["stimulus_a"]
    winner, loser = (
        (row["stimulus_a"], row["stimulus_b"]) if a_wins else (row["stimulus_b"], row["stimulus_a"])
    )
    value, low, high = float(row["difference"]), float(row["low"]), float(row["high"])
    if not a_wins:
        value, low, high = -value, -high, -low
    people = (row["people_a"], row["people_b"]) if a_wins else (row["people_b"], row["people_a"])
    return (
        f"{winner}: {metric.more} than {loser} ({metric.label} {metric.fmt(value)}, "
        f"95 % interval {metric.fmt(low)} to {metric.fmt(high)}; "
        f"{int(people[0])} vs {int(people[1])} people)."
    )


def verdict_summary(verdicts: pd.DataFrame, limit: int = HEADLINE_VERDICTS) -> VerdictSummary:
    """Sentences for up to ``limit`` clear differences (metric order: valence first)."""
    if verdicts is None or verdicts.empty:
        return VerdictSummary([], 0, 0, 0)
    clear_rows = verdicts[verdicts["winner"].astype(str) != ""]
    compared = verdicts["difference"].map(_finite)
    unclear = int((compared & (verdicts["winner"].astype(str) == "")).sum())
    sentences = [plain_verdict(row) for _, row in clear_rows.head(limit).iterrows()]
    return VerdictSummary(
        clear=sentences,
        more_clear=max(0, len(clear_rows) - limit),
        unclear=unclear,
        not_compared=int((~compared).sum()),
    )


def _bucket_span(start: object, bucket_s: float, by_clock: bool) -> str:
    if by_clock:
        begin = pd.Timestamp(start)  # type: ignore[arg-type]
        end = begin + pd.Timedelta(seconds=bucket_s)
        if bucket_s >= 86400:
            return begin.strftime("%a %d %b %Y")
        return f"{begin:%a %d %b}, {begin:%H:%M}-{end:%H:%M}"
    begin_s = float(start)  # type: ignore[arg-type]
    return f"{begin_s:g}-{begin_s + bucket_s:g} s"


def _segment_of(segments: pd.DataFrame | None, start: float, bucket_s: float) -> str:
    """The name of the ad segment holding the middle of a bucket, or ""."""
    if segments is None or segments.empty:
        return ""
    middle = start + bucket_s / 2
    for segment in segments.itertuples(index=False):
        if float(segment.start_s) <= middle < float(segment.end_s):
            return str(segment.name)
    return ""


def key_moment(
    name: str,
    series: pd.DataFrame,
    *,
    by_clock: bool,
    bucket_s: float,
    min_crowd: int,
    segments: pd.DataFrame | None = None,
    time_zone: str = "",
) -> str:
    """One sentence: the most and least positive buckets shown at the minimum crowd.

    ``series`` is privacy-applied (``suppressed`` buckets carry no figures), so a moment is
    always a group of at least ``min_crowd`` people.
    """
    shown = series[~series["suppressed"].astype(bool) & series["valence"].notna()]
    if shown.empty:
        return (
            f"{name}: no moment can be shown, every {bucket_label(bucket_s)} bucket has fewer "
            f"than {min_crowd} people."
        )
    key = "bucket_ts" if by_clock else "bucket_offset_s"
    ordered = shown.sort_values(key, kind="stable")
    peak = ordered.loc[ordered["valence"].idxmax()]
    low = ordered.loc[ordered["valence"].idxmin()]

    def where(row: pd.Series) -> str:
        text = _bucket_span(row[key], bucket_s, by_clock)
        if by_clock:
            # One zone by name; cameras in several zones each read their own local time.
            zone = "local time" if ": " in time_zone else time_zone
            return f"on {text} {zone}".rstrip()
        segment = _segment_of(segments, float(row[key]), bucket_s)
        return f"at {text}, in \u201c{segment}\u201d" if segment else f"at {text}"

    text = (
        f"{name}: most positive {where(peak)} (valence index {float(peak['valence']):+.2f}, "
        f"{int(peak[count_column(ordered)])} people)"
    )
    if len(shown) > 1 and float(low["valence"]) < float(peak["valence"]):
        text += f"; least positive {where(low)} ({float(low['valence']):+.2f})"
    return text + "."


@dataclass(frozen=True)
class ExecutiveSummary:
    """What the first page says, as plain text for both the PDF and the HTML report."""

    kpis: list[tuple[str, str]]
    verdicts: VerdictSummary
    verdict_note: str  # shown when there is no clear verdict to list
    moments: list[str]

    @property
    def verdict_closing(self) -> str:
        """The grey line under the verdicts: what the other comparisons said, or why there
        is no clear verdict to list ("" when nothing needs saying)."""
        return self.verdicts.closing() if self.verdicts.clear else self.verdict_note


def executive_summary(report: ReportData) -> ExecutiveSummary:
    """Key numbers, plain verdicts and one key-moment sentence per stimulus of ``report``."""
    kpis = [
        (label[0].upper() + label[1:], value)
        for label, value in kpi_cells(report.overview, len(report.table))
    ]
    found = verdict_summary(report.verdicts)
    if len(report.table) < 2:
        note = "One stimulus in this report: nothing to compare."
    elif report.verdicts.empty:
        note = "No stimuli could be compared."
    elif not found.clear:
        note = "No clear difference between the stimuli on any measure."
    else:
        note = ""
    moments = [
        key_moment(
            section.name,
            section.series,
            by_clock=section.by_clock,
            bucket_s=section.bucket_s,
            min_crowd=report.min_crowd,
            segments=section.segments,
            time_zone=section.time_zone,
        )
        for section in report.sections
    ]
    return ExecutiveSummary(kpis, found, note, moments)
