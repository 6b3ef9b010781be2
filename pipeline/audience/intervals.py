"""95 % intervals over people: the person is the sampling unit, never the frame.

A person filmed at 5 frames/s for 20 s gives 100 strongly correlated face rows; treating them
as 100 independent observations gives a band of width zero around one person's face. Here each
person first becomes one value (their mean over their own face rows), and the interval is a
Student-t interval over those per-person values: with fewer than two people there is no band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two-sided 95 % Student-t quantiles by degrees of freedom (1-30); 1.96 beyond.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
TOO_FEW_PEOPLE = "too few people"


def t_quantile(df: float) -> float:
    """The 97.5 % quantile of Student's t (df rounded down; normal beyond 30)."""
    if not math.isfinite(df) or df < 1:
        return float("nan")
    whole = int(df)
    if whole > len(_T975):
        # Between 30 and infinity: interpolate in 1/df towards the normal quantile.
        return 1.96 + (_T975[-1] - 1.96) * len(_T975) / df
    return _T975[whole - 1]


@dataclass(frozen=True)
class Estimate:
    """A mean over people with its 95 % interval (NaN bounds when fewer than two people)."""

    value: float
    low: float
    high: float
    people: int

    @property
    def has_band(self) -> bool:
        return self.people >= 2 and math.isfinite(self.low)


def mean_interval(per_person: np.ndarray | list[float]) -> Estimate:
    """Mean of per-person values with a t interval over people."""
    values = np.asarray(per_person, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = t_quantile(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def difference_interval(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> Estimate:
    """Mean of ``a`` minus mean of ``b`` (people of two stimuli) with a Welch t interval.

    ``people`` is the smaller group's size; no band when either group has fewer than two.
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    var_x = float(x.var(ddof=1)) if len(x) > 1 else math.nan
    var_y = float(y.var(ddof=1)) if len(y) > 1 else math.nan
    mean_x = float(x.mean()) if len(x) else math.nan
    mean_y = float(y.mean()) if len(y) else math.nan
    return difference_from_moments(len(x), mean_x, var_x, len(y), mean_y, var_y)


def difference_from_moments(
    na: int, mean_a: float, var_a: float, nb: int, mean_b: float, var_b: float
) -> Estimate:
    """``difference_interval`` from each group's count, mean and sample variance (what the
    rollups keep: sums and sums of squares over people)."""
    if na == 0 or nb == 0:
        return Estimate(math.nan, math.nan, math.nan, min(na, nb))
    diff = float(mean_a - mean_b)
    if na < 2 or nb < 2:
        return Estimate(diff, math.nan, math.nan, min(na, nb))
    va, vb = var_a / na, var_b / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(diff, diff, diff, min(na, nb))
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = t_quantile(df) * se
    return Estimate(diff, diff - half, diff + half, min(na, nb))


def band_over_people(
    valence: np.ndarray, high: np.ndarray, rows: np.ndarray, people: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The valence band (low, high) of groups whose ``rows`` (values averaged) outnumber
    their ``people``: a snapshot camera's faces, where one passer-by may be in several
    snapshots. The spread of the rows stays; the interval is taken over the people, so it
    widens (no band below two people) instead of narrowing as if every face were someone new.
    Groups with as many rows as people keep ``high``'s band."""
    valence, high = np.asarray(valence, float), np.asarray(high, float)
    rows, people = np.asarray(rows, float), np.asarray(people, float)
    fewer = people < rows
    t_rows = np.array([t_quantile(k - 1) for k in rows])
    t_people = np.array([t_quantile(n - 1) for n in people])
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (high - valence) / t_rows * np.sqrt(rows)
        half = np.where(fewer, t_people * spread / np.sqrt(people), high - valence)
    return valence - half, valence + half
