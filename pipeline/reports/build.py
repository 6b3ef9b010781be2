"""Reaction reports (HTML, PDF) of a campaign or one stimulus: gather once, render twice.

``collect_report`` reads everything a report shows through ``pipeline.store.queries`` and the
export table (so a report and the CSV of the same selection cannot disagree), applies the
minimum-crowd rule, and returns plain tables; ``render_html`` / ``render_pdf`` are pure
functions of that record. The CLI's ``export --format html|pdf`` calls ``build_report``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipeline.audience import read as audience
from pipeline.audience.clock import axis_title, zone_label
from pipeline.audience.verdicts import verdict_table, verdicts, version_note
from pipeline.errors import InputError
from pipeline.exports import audiences_by_name, export_table
from pipeline.privacy import suppress_small_buckets
from pipeline.reports.model_card import ModelFacts, load_model_facts
from pipeline.reports.tables import (
    CampaignOverview,
    campaign_overview,
    stimulus_table,
    suppress_summary,
)
from pipeline.store import catalog, queries
from pipeline.store import people as store_people
from pipeline.store.zones import DEFAULT_ZONE, source_zones

REPORT_FORMATS = ("html", "pdf")
_EXPORT_META = ("campaign", "stimulus", "stimulus_kind", "time_zone")


@dataclass(frozen=True)
class StimulusSection:
    """One stimulus's part of a report; ``series`` is privacy-applied (``suppressed`` column)."""

    name: str
    kind: str
    by_clock: bool
    bucket_s: float
    series: pd.DataFrame
    segments: pd.DataFrame
    heatmap: pd.DataFrame | None
    # Per ad segment: people, valence and peak moment (audience.read.segment_summary).
    segment_summary: pd.DataFrame | None = None
    # Clock series are local wall time of the cameras: their zones, said on every clock axis.
    zones: tuple[str, ...] = (DEFAULT_ZONE,)

    @property
    def time_zone(self) -> str:
        """``Europe/Berlin``, or ``local time of each camera: A, B``."""
        return zone_label(self.zones)

    @property
    def clock_title(self) -> str:
        """``Time (Europe/Berlin)``, or ``Local time (A, B)`` for cameras in several zones."""
        return axis_title(self.zones)

    @property
    def suppressed_buckets(self) -> int:
        return int(self.series["suppressed"].sum())


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, already safe to print."""

    campaign: str
    scope: str
    generated_at: dt.datetime
    min_crowd: int
    overview: CampaignOverview
    summary: pd.DataFrame  # tables.suppress_summary rows of the stimuli in scope
    table: pd.DataFrame  # tables.stimulus_table rows of the stimuli in scope
    sections: list[StimulusSection]
    model: ModelFacts
    # {set_by, set_at, note} when the campaign is a consented study (minimum crowd may be 1).
    consent: dict[str, object] | None = None
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # verdicts.verdict_table
    version_note: str = ""


def collect_report(
    con: duckdb.DuckDBPyConnection,
    campaign_name: str,
    stimulus_name: str | None,
    bucket_s: float | None,
    min_crowd: int | None,
    now: dt.datetime | None = None,
) -> ReportData:
    """Read and privacy-filter a report's tables. Raises ``InputError`` when nothing to show.

    bucket_s: series bucket in seconds for every stimulus, or None for each kind's default
    (1 s for ads, 1 h for displays and products), exactly as the CSV export buckets.
    """
    campaign = catalog.get_campaign(con, campaign_name)
    if stimulus_name is not None:  # as stored (the user may have typed another Unicode form)
        stimulus_name = catalog.get_stimulus(con, campaign, stimulus_name).name
    min_crowd = audience.campaign_min_crowd(con, campaign.campaign_id, min_crowd)
    series = export_table(con, campaign_name, stimulus_name, bucket_s, min_crowd)
    ids = {s.name: s.stimulus_id for s in catalog.list_stimuli(con, campaign)}
    summary = audience.stimulus_summary(con, campaign.campaign_id, min_crowd)
    if stimulus_name is not None:
        summary = summary[summary["name"] == stimulus_name].reset_index(drop=True)
        kpis = {k: v for k, v in summary.iloc[0].items() if k not in ("name", "kind")}
    else:
        kpis = audience.campaign_kpis(con, campaign.campaign_id, min_crowd)
    sections = []
    for (name, kind), rows in series.groupby(["stimulus", "stimulus_kind"], sort=False):
        stimulus_id = ids[str(name)]
        by_clock = bool(rows["bucket_ts"].notna().any())
        heatmap = None
        if by_clock:
            heatmap = suppress_small_buckets(
                audience.hour_weekday(con, stimulus_id, min_crowd), min_crowd
            )
        segments = queries.segments(con, stimulus_id)
        sections.append(
            StimulusSection(
                name=str(name),
                kind=str(kind),
                by_clock=by_clock,
                bucket_s=float(rows["bucket_s"].iloc[0]),
                series=rows.drop(columns=list(_EXPORT_META)).reset_index(drop=True),
                segments=segments,
                heatmap=heatmap,
                segment_summary=(
                    audience.segment_summary(con, stimulus_id, min_crowd)
                    if len(segments) and not by_clock
                    else None
                ),
                zones=tuple(source_zones(con, stimulus_id).values()) or (DEFAULT_ZONE,),
            )
        )
    people = audiences_by_name(con, summary, min_crowd)
    found = verdicts(people, min_crowd) if len(people) > 1 else []
    return ReportData(
        campaign=campaign.name,
        scope=stimulus_name or "all stimuli",
        generated_at=now or dt.datetime.now().replace(microsecond=0),
        min_crowd=min_crowd,
        overview=campaign_overview(kpis, summary, min_crowd),
        summary=suppress_summary(summary, min_crowd),
        table=stimulus_table(summary, min_crowd),
        sections=sections,
        model=load_model_facts(),
        consent=store_people.consent(con, campaign.campaign_id),
        verdicts=verdict_table(found),
        version_note=version_note(people),
    )


def render(report: ReportData, fmt: str) -> bytes:
    """The report as HTML (self-contained, plotly inline) or PDF (static charts) bytes."""
    if fmt == "html":
        from pipeline.reports.html import render_html

        return render_html(report)
    if fmt == "pdf":
        from pipeline.reports.pdf import render_pdf

        return render_pdf(report)
    raise InputError("Unknown report format", f"{fmt!r} is not one of {', '.join(REPORT_FORMATS)}.")


def build_report(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    campaign_name: str,
    stimulus_name: str | None,
    bucket_s: float | None,
    min_crowd: int | None,
) -> bytes:
    """A campaign's (or one stimulus's) reaction report as ``fmt`` ("html" or "pdf") bytes."""
    if fmt not in REPORT_FORMATS:
        raise InputError(
            "Unknown report format", f"{fmt!r} is not one of {', '.join(REPORT_FORMATS)}."
        )
    return render(collect_report(con, campaign_name, stimulus_name, bucket_s, min_crowd), fmt)
