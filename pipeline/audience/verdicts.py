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
from typing import TypeAlias

import pandas as pd

from pipeline.audience.intervals import Estimate, difference_from_moments
from pipeline.audience.totals import Moments


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


@dataclass(frozen=True)
class Audience:
    """What a verdict needs of one stimulus's shown people: how many, the moments of each
    metric over them, and the (model version, detector) pairs that scored them.

    A snapshot camera cannot follow a person from one snapshot to the next, so its rows are
    faces, and ``people`` counts them as the most faces in one snapshot (README "People
    statistics"); ``compare`` never counts more viewers than ``people``.
    """

    people: int
    moments: dict[str, Moments]
    versions: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def from_people(cls, people: pd.DataFrame) -> Audience:
        """From one row per person (``pipeline.audience.raw.stimulus_people``)."""
        found = {}
        for metric in METRICS:
            if metric.column not in people.columns:
                continue
            values = people[metric.column].astype(float).dropna()
            var = float(values.var(ddof=1)) if len(values) > 1 else float("nan")
            mean = float(values.mean()) if len(values) else float("nan")
            found[metric.column] = Moments(len(values), mean, var)
        pairs: frozenset[tuple[str, str]] = frozenset()
        if len(people) and {"model_version", "detector"} <= set(people.columns):
            pairs = frozenset(
                (str(m), str(d))
                for m, d in people[["model_version", "detector"]]
                .drop_duplicates()
                .itertuples(index=False)
            )
        return cls(int(people.attrs.get("people", len(people))), found, pairs)


People: TypeAlias = Audience | pd.DataFrame


def _audience(people: People) -> Audience:
    return people if isinstance(people, Audience) else Audience.from_people(people)


def _at_most(moments: Moments, people: int) -> Moments:
    """``moments`` counted over at most ``people`` viewers: a snapshot camera's faces (the
    same passer-by may be in several snapshots) widen the interval to its people, never
    narrow it as if every face were someone new."""
    if moments.n <= people:
        return moments
    return Moments(people, moments.mean, moments.var if people > 1 else float("nan"))


def compare(
    metric: Metric, a: str, people_a: People, b: str, people_b: People, min_crowd: int
) -> Verdict:
    """The verdict on ``metric`` between stimulus ``a`` and ``b`` (their shown people).

    A clear winner is always the verdict's first stimulus (its ``a``): the difference is
    "winner minus the other", positive, as the sentence says; otherwise the order given."""
    audience_a, audience_b = _audience(people_a), _audience(people_b)
    none = Moments(0, float("nan"), float("nan"))
    xa = _at_most(audience_a.moments.get(metric.column, none), audience_a.people)
    xb = _at_most(audience_b.moments.get(metric.column, none), audience_b.people)
    na, nb = xa.n, xb.n
    counts = f"{na} vs {nb} viewers"
    need = max(2, int(min_crowd))
    empty = difference_from_moments(0, 0.0, 0.0, 0, 0.0, 0.0)
    if na == 0 and nb == 0 and audience_a.people and audience_b.people:
        text = f"{a} vs {b}: {metric.label} not available (not measured for these rows)"
        return Verdict(metric, a, b, na, nb, empty, "", text)
    if na < need or nb < need:
        text = f"{a} vs {b}: too few people to compare {metric.label} ({counts}; need {need})"
        return Verdict(metric, a, b, na, nb, empty, "", text)
    diff = difference_from_moments(na, xa.mean, xa.var, nb, xb.mean, xb.var)
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
        if winner == b:  # the winner comes first, so table, chart and sentence read alike
            return Verdict(metric, b, a, nb, na, shown, winner, text)
        return Verdict(metric, a, b, na, nb, diff, winner, text)
    text = f"{a} vs {b}: no clear difference in {metric.label}, {band}, {counts}"
    return Verdict(metric, a, b, na, nb, diff, "", text)


def verdicts(
    people: dict[str, People], min_crowd: int, metrics: tuple[Metric, ...] = METRICS
) -> list[Verdict]:
    """Every pair of stimuli (in the given order) on every metric."""
    audiences = {name: _audience(table) for name, table in people.items()}
    out = []
    for metric in metrics:
        for a, b in itertools.combinations(audiences, 2):
            out.append(compare(metric, a, audiences[a], b, audiences[b], min_crowd))
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


def version_note(people: dict[str, People]) -> str:
    """A warning when the compared rows come from different detector or model versions."""
    seen = {}
    for name, table in people.items():
        pairs = _audience(table).versions
        if pairs:
            seen[name] = {f"model {m}, detector {d}" for m, d in pairs}
    versions = set().union(*seen.values()) if seen else set()
    if len(versions) <= 1:
        return ""
    parts = "; ".join(f"{n}: {', '.join(sorted(v))}" for n, v in seen.items())
    return (
        "These figures were made by different detector or model versions, which can move "
        f"them by themselves ({parts})."
    )
