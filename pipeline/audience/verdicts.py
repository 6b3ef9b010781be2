"""A/B verdicts in plain language: which stimulus did better on a metric, over people.

Every comparison is a difference of means of per-person values (each viewer counts once,
however many frames they gave) with a Welch 95 % interval. A verdict names a winner only when
the interval excludes zero; otherwise it says "no clear difference". Groups smaller than the
minimum crowd (or than two people) are not compared. Rows made by different detector or model
versions are flagged, because a version change can move the figures by itself.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pandas as pd

from pipeline.audience.intervals import Estimate, difference_interval


@dataclass(frozen=True)
class Metric:
    """A per-person column, how to name it and how to print its differences."""

    column: str
    label: str
    more: str
    pattern: str
    percent: bool = False

    def fmt(self, value: float) -> str:
        text = self.pattern.format(value * 100 if self.percent else value)
        number = text.split(" ", 1)[0]
        if number.startswith("-") and not any(c in number for c in "123456789"):
            return "+" + text[1:]  # -0.3 points rounds to "+0 pts", never "-0 pts"
        return text


METRICS: tuple[Metric, ...] = (
    Metric("valence", "valence index", "more positive", "{:+.2f}"),
    Metric("share_happiness", "happiness share", "more smiles", "{:+.0f} pts", percent=True),
    Metric("expressiveness", "expressiveness", "more expressive", "{:+.0f} pts", percent=True),
    Metric("looked", "share looking", "more people looking", "{:+.0f} pts", percent=True),
    Metric("attention_s", "attention", "longer attention", "{:+.1f} s"),
    Metric("dwell_s", "dwell", "longer dwell", "{:+.1f} s"),
)
VERDICT_COLUMNS = (
    "metric",
    "stimulus_a",
    "stimulus_b",
    "people_a",
    "people_b",
    "difference",
    "low",
    "high",
    "winner",
    "verdict",
)


@dataclass(frozen=True)
class Verdict:
    metric: Metric
    a: str
    b: str
    people_a: int
    people_b: int
    difference: Estimate
    winner: str  # "" when no clear difference or not comparable
    text: str


def _values(people: pd.DataFrame, column: str) -> pd.Series:
    if column not in people.columns:
        return pd.Series(dtype=float)
    return people[column].astype(float).dropna()


def compare(
    metric: Metric, a: str, people_a: pd.DataFrame, b: str, people_b: pd.DataFrame, min_crowd: int
) -> Verdict:
    """The verdict on ``metric`` between stimulus ``a`` and ``b`` (one row per person each)."""
    xa, xb = _values(people_a, metric.column), _values(people_b, metric.column)
    na, nb = len(xa), len(xb)
    counts = f"{na} vs {nb} viewers"
    need = max(2, int(min_crowd))
    if na == 0 and nb == 0 and len(people_a) and len(people_b):
        text = f"{a} vs {b}: {metric.label} not available (not measured for these rows)"
        return Verdict(metric, a, b, na, nb, difference_interval([], []), "", text)
    if na < need or nb < need:
        text = f"{a} vs {b}: too few people to compare {metric.label} ({counts}; need {need})"
        return Verdict(metric, a, b, na, nb, difference_interval([], []), "", text)
    diff = difference_interval(xa.to_numpy(), xb.to_numpy())
    band = f"{metric.fmt(diff.value)} [{metric.fmt(diff.low)}, {metric.fmt(diff.high)}]"
    if math.isfinite(diff.low) and (diff.low > 0 or diff.high < 0):
        if diff.value > 0:
            winner, loser, shown = a, b, diff
        else:
            winner, loser = b, a
            shown = Estimate(-diff.value, -diff.high, -diff.low, diff.people)
            counts = f"{nb} vs {na} viewers"
            band = f"{metric.fmt(shown.value)} [{metric.fmt(shown.low)}, {metric.fmt(shown.high)}]"
        text = f"{winner}: {metric.more} than {loser}, {band}, {counts}"
        return Verdict(metric, a, b, na, nb, diff, winner, text)
    text = f"{a} vs {b}: no clear difference in {metric.label}, {band}, {counts}"
    return Verdict(metric, a, b, na, nb, diff, "", text)


def verdicts(
    people: dict[str, pd.DataFrame], min_crowd: int, metrics: tuple[Metric, ...] = METRICS
) -> list[Verdict]:
    """Every pair of stimuli (in the given order) on every metric."""
    out = []
    for metric in metrics:
        for a, b in itertools.combinations(people, 2):
            out.append(compare(metric, a, people[a], b, people[b], min_crowd))
    return out


def verdict_table(found: list[Verdict]) -> pd.DataFrame:
    """Verdicts as a table (VERDICT_COLUMNS) for screens, exports and reports."""
    rows = [
        (
            v.metric.label,
            v.a,
            v.b,
            v.people_a,
            v.people_b,
            v.difference.value,
            v.difference.low,
            v.difference.high,
            v.winner,
            v.text,
        )
        for v in found
    ]
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def version_note(people: dict[str, pd.DataFrame]) -> str:
    """A warning when the compared rows come from different detector or model versions."""
    seen = {}
    for name, table in people.items():
        if len(table) and {"model_version", "detector"} <= set(table.columns):
            pairs = table[["model_version", "detector"]].drop_duplicates()
            seen[name] = {f"model {m}, detector {d}" for m, d in pairs.itertuples(index=False)}
    versions = set().union(*seen.values()) if seen else set()
    if len(versions) <= 1:
        return ""
    parts = "; ".join(f"{n}: {', '.join(sorted(v))}" for n, v in seen.items())
    return (
        "These figures were made by different detector or model versions, which can move "
        f"them by themselves ({parts})."
    )
