"""The interactive HTML report: one self-contained file, plotly.js inline.

Installations are offline, and a client may open the file years later: nothing is fetched
from a CDN, so the report works from a USB stick. plotly.js goes in once, with the first chart.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from pipeline.reports.build import ReportData, StimulusSection
from pipeline.reports.charts import (
    OFFSET_AXIS,
    compare_figure,
    hour_weekday_figure,
    small_multiples_figure,
    timeline_figure,
)
from pipeline.reports.summary import executive_summary
from pipeline.reports.tables import (
    FEW,
    bucket_label,
    display_table,
    not_compared,
    segment_display,
    verdict_display,
)
from pipeline.reports.texts import consent_line, methodology, model_summary, privacy_note

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1d2733; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } .sub { color: #5a6673; margin-top: 0; }
.kpis { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1.2rem 0; }
.kpi { border: 1px solid #d9dee4; border-radius: 8px; padding: 0.6rem 1rem; min-width: 150px; }
.kpi .v { font-size: 1.5rem; font-weight: 600; } .kpi .l { color: #5a6673; font-size: 0.85rem; }
table { border-collapse: collapse; width: 100%; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #e3e7eb; padding: 0.35rem 0.5rem; text-align: left; }
th { background: #f3f5f7; } td.few { color: #8a8f96; font-style: italic; }
.note { background: #f6f8fa; border-left: 4px solid #1a4f8b; padding: 0.6rem 1rem; }
section { margin-top: 2rem; } .exec li { margin: 0.25rem 0; }
"""


def _kpi(label: str, value: str) -> str:
    return (
        f'<div class="kpi"><div class="v">{html.escape(value)}</div>'
        f'<div class="l">{html.escape(label)}</div></div>'
    )


def _table_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for row in table.itertuples(index=False):
        cells = "".join(
            f'<td class="few">{html.escape(str(v))}</td>'
            if v == FEW
            else f"<td>{html.escape(str(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _paragraphs(lines: list[str]) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def _bullets(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def _executive(report: ReportData) -> list[str]:
    """The executive summary: key numbers, plain verdicts, key moments (as in the PDF)."""
    summary = executive_summary(report)
    kpis = "".join(_kpi(label, value) for label, value in summary.kpis)
    parts = ['<section class="exec"><h2>Executive summary</h2>', f'<div class="kpis">{kpis}</div>']
    parts.append("<h3>Verdicts</h3>")
    if summary.verdicts.clear:
        parts.append(_bullets(summary.verdicts.clear))
    if summary.verdict_closing:
        parts.append(f'<p class="sub">{html.escape(summary.verdict_closing)}</p>')
    parts += [
        "<h3>Key moments</h3>",
        _bullets(summary.moments),
        f'<p class="sub">Every figure is a mean over at least {report.min_crowd} people; '
        "moments are buckets of the charts below.</p></section>",
    ]
    return parts


class _Charts:
    """Turns figures into <div>s, inlining plotly.js with the first one only."""

    def __init__(self) -> None:
        self._first = True

    def div(self, fig: go.Figure) -> str:
        out = fig.to_html(
            full_html=False,
            include_plotlyjs=self._first,
            config={"displaylogo": False, "responsive": True},
        )
        self._first = False
        return out


def _section(section: StimulusSection, charts: _Charts, min_crowd: int) -> str:
    unit = (
        f"clock time, {html.escape(section.time_zone)}"
        if section.by_clock
        else "seconds since the start"
    )
    bucket = f"{bucket_label(section.bucket_s)} buckets"
    parts = [
        f"<section><h2>{html.escape(section.name)} "
        f'<span class="sub">({html.escape(section.kind)}, {unit}, {bucket})</span></h2>'
    ]
    if section.suppressed_buckets:
        parts.append(
            f'<p class="sub">{section.suppressed_buckets} of {len(section.series)} buckets have '
            f"fewer than {min_crowd} people and are greyed out.</p>"
        )
    parts.append(
        charts.div(
            timeline_figure(
                section.series,
                by_clock=section.by_clock,
                segments=section.segments,
                title=f"Reaction timeline: {section.name}",
                clock_title=section.clock_title,
            )
        )
    )
    if section.heatmap is not None and not section.heatmap.empty:
        parts.append(charts.div(hour_weekday_figure(section.heatmap)))
    segments = segment_display(section.segment_summary)
    if len(segments):
        parts.append("<h3>Segments</h3>" + _table_html(segments))
    parts.append("</section>")
    return "".join(parts)


def render_html(report: ReportData) -> bytes:
    """The report as one UTF-8 HTML document with every chart interactive and inline."""
    charts = _Charts()
    banner = consent_line(report.consent)
    body = [
        f"<h1>Reaction report: {html.escape(report.campaign)}</h1>",
        f'<p class="sub">Scope: {html.escape(report.scope)} &middot; generated '
        f"{report.generated_at:%Y-%m-%d %H:%M} &middot; minimum crowd {report.min_crowd} people"
        "</p>",
        f'<p class="note">{html.escape(banner)}</p>' if banner else "",
        *_executive(report),
        "<h2>Stimuli compared</h2>",
        _table_html(display_table(report.table)),
    ]
    if len(report.summary) > 1:
        body.append(charts.div(compare_figure(report.summary, title="Stimuli compared")))
        panels = [(s.name, s.by_clock, s.series) for s in report.sections]
        x_titles = [s.clock_title if s.by_clock else OFFSET_AXIS for s in report.sections]
        body.append(charts.div(small_multiples_figure(panels, x_titles=x_titles)))
    if len(report.verdicts):
        body.append("<h2>A/B verdicts</h2>")
        if report.version_note:
            body.append(f'<p class="sub">{html.escape(report.version_note)}</p>')
        body.append(_table_html(verdict_display(report.verdicts, compared_only=True)))
        if not_compared(report.verdicts):
            body.append(f'<p class="sub">{html.escape(not_compared(report.verdicts))}</p>')
    body.extend(_section(s, charts, report.min_crowd) for s in report.sections)
    recall = pd.DataFrame(
        [(n, f"{r:.1%}") for n, r in report.model.per_class_recall.items()],
        columns=["Expression", "Recall (validation)"],
    )
    body += [
        "<section><h2>Methodology</h2>",
        _paragraphs(methodology(report.model)),
        "<h3>Model card</h3>",
        _paragraphs(model_summary(report.model)),
        _table_html(recall),
        "</section>",
        '<section><h2>Privacy</h2><div class="note">',
        _paragraphs(privacy_note(report.min_crowd)),
        "</div></section>",
    ]
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Reaction report: {html.escape(report.campaign)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    return document.encode("utf-8")
