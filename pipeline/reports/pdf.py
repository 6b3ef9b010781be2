"""The PDF report for clients: fpdf2 pages with matplotlib charts as PNG images.

Static charts, because a PDF cannot run plotly.js and kaleido would need a Chrome at run time.
DejaVu Sans is used when the system has it (Debian's fonts-dejavu-core) so campaign names in
any script print; otherwise the core Helvetica font with text reduced to Latin-1.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import FontFace

from pipeline.reports.build import ReportData, StimulusSection
from pipeline.reports.charts import OFFSET_AXIS
from pipeline.reports.static_charts import compare_chart, heatmap_chart, png, timeline_chart
from pipeline.reports.summary import executive_summary
from pipeline.reports.tables import (
    bucket_label,
    display_table,
    not_compared,
    segment_display,
    verdict_display,
)
from pipeline.reports.texts import consent_line, methodology, model_summary, privacy_note

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_ASCII = str.maketrans(
    {"–": "-", "—": "-", "−": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "·": "-"}
)
_GREY = (110, 110, 110)
_INTERVAL = re.compile(r"\[[^\]]*\]")


class _Report(FPDF):
    """A4 portrait pages with a running footer naming the campaign and the page."""

    def __init__(self, campaign: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.campaign = campaign
        self.family = "helvetica"
        regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            self.add_font("dejavu", "", str(regular))
            self.add_font("dejavu", "B", str(bold))
            self.family = "dejavu"
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(15, 15, 15)
        self.set_title(f"Reaction report: {campaign}")
        self.set_creator("audience-reactions")

    def text_safe(self, text: str) -> str:
        text = str(text).translate(_ASCII)
        if self.family == "helvetica":
            return text.encode("latin-1", errors="replace").decode("latin-1")
        return text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.set_text_color(*_GREY)
        self.cell(
            0,
            6,
            self.text_safe(f"Reaction report: {self.campaign} - page {self.page_no()}"),
            align="C",
        )
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: int = 14) -> None:
        self.set_font(self.family, "B", size)
        self.multi_cell(0, size * 0.5, self.text_safe(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1.5)

    def paragraph(self, text: str, size: float = 9.5, grey: bool = False) -> None:
        self.set_font(self.family, "", size)
        if grey:
            self.set_text_color(*_GREY)
        self.multi_cell(0, size * 0.5, self.text_safe(text), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(1.5)

    def bullets(self, lines: list[str], size: float = 9.5) -> None:
        """A bulleted list, each item wrapped under its own text."""
        self.set_font(self.family, "", size)
        bullet = "\u2022" if self.family != "helvetica" else "-"
        for line in lines:
            self.set_x(self.l_margin)
            self.cell(5, size * 0.5, bullet)
            self.multi_cell(0, size * 0.5, self.text_safe(line), new_x="LMARGIN", new_y="NEXT")
            self.ln(0.8)
        self.ln(1.5)

    def room_for(self, png: bytes) -> bool:
        """Whether ``png`` at full text width fits on the current page."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            width_px, height_px = image.size
        return self.get_y() + self.epw * height_px / width_px <= self.page_break_trigger

    def picture(self, png: bytes, title: str) -> None:
        """A chart at full text width, on a new page when it would not fit."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            width_px, height_px = image.size
        height = self.epw * height_px / width_px
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()
        self.image(io.BytesIO(png), x=self.l_margin, w=self.epw, h=height, alt_text=title)
        self.ln(3)

    def cell_text(self, value: object) -> str:
        """A table cell as printable text; an interval "[+0.22, +0.66]" never splits."""
        text = _INTERVAL.sub(lambda m: m.group(0).replace(" ", "\u00a0"), str(value))
        return self.text_safe(text)

    def fitted_widths(self, table: pd.DataFrame, width: float) -> tuple[float, ...]:
        """Column widths (mm) in which no word is broken: each column gets its longest word
        (header in bold) plus padding, and the rest of ``width`` goes to the columns whose
        text is longest, so wrapping happens between words, never inside "People"."""
        pad = 2.6
        words, texts = [], []
        for name in table.columns:
            cells = [self.cell_text(v) for v in table[name]]
            self.set_font(self.family, "B", self.font_size_pt)
            head = [self.get_string_width(w) for w in self.text_safe(str(name)).split(" ")]
            self.set_font(self.family, "", self.font_size_pt)
            body = [self.get_string_width(w) for c in cells for w in c.split(" ")]
            words.append(max([*head, *body, 1.0]) + pad)
            texts.append(max([self.get_string_width(c) for c in cells] + [0.0]))
        spare = width - sum(words)
        if spare <= 0:
            return tuple(words)
        wants = [max(0.0, t + pad - w) for t, w in zip(texts, words, strict=True)]
        total = sum(wants)
        if total <= spare:  # everything fits on one line: share the rest evenly
            return tuple(
                w + want + (spare - total) / len(words)
                for w, want in zip(words, wants, strict=True)
            )
        return tuple(w + spare * want / total for w, want in zip(words, wants, strict=True))

    def grid(
        self, table: pd.DataFrame, widths: tuple[float, ...] | None = None, width: float = 0
    ) -> None:
        """A table of text cells; ``widths`` are relative column widths (fitted to the words
        when not given), ``width`` in mm (the text width when 0)."""
        size = 8.0
        self.set_font(self.family, "", size)
        total = width or self.epw
        if widths is None:
            widths = self.fitted_widths(table, total)
            if sum(widths) > total + 0.01:  # too wide at 8 pt: a smaller font, then wrap
                size = 7.0
                self.set_font(self.family, "", size)
                widths = self.fitted_widths(table, total)
        heading = FontFace(emphasis="BOLD", fill_color=(235, 239, 243))
        with self.table(
            col_widths=widths,
            width=total,
            headings_style=heading,
            line_height=size * 0.6,
            text_align="LEFT",
            first_row_as_headings=True,
        ) as grid:
            grid.row([self.text_safe(str(c)) for c in table.columns])
            for values in table.itertuples(index=False):
                grid.row([self.cell_text(v) for v in values])
        self.ln(3)


def _kpis(pdf: _Report, cells: list[tuple[str, str]]) -> None:
    half = (len(cells) + 1) // 2
    for part in (cells[:half], cells[half:]):
        pdf.grid(pd.DataFrame([[v for _, v in part]], columns=[k for k, _ in part]))


def _executive_page(pdf: _Report, report: ReportData) -> bool:
    """Page 1: key numbers, verdicts, key moments, and the valence chart when it fits.
    Returns whether the chart was placed here."""
    summary = executive_summary(report)
    pdf.heading("Executive summary", size=14)
    _kpis(pdf, summary.kpis)
    pdf.heading("Verdicts", size=12)
    if summary.verdicts.clear:
        pdf.bullets(summary.verdicts.clear)
    if summary.verdict_closing:
        pdf.paragraph(summary.verdict_closing, grey=True)
    pdf.heading("Key moments", size=12)
    pdf.bullets(summary.moments)
    pdf.paragraph(
        f"Every figure is a mean over at least {report.min_crowd} people; moments are "
        "buckets of the charts in this report.",
        grey=True,
    )
    if len(report.summary) > 1:
        chart = png(compare_chart(report.summary))
        if pdf.room_for(chart):
            pdf.picture(chart, "Valence index per stimulus")
            return True
    return False


def _section(pdf: _Report, section: StimulusSection, min_crowd: int, own_page: bool) -> None:
    """A stimulus's part: heading, notes, timeline, heatmap, segments. ``own_page`` False:
    it follows on the current page when its heading and timeline fit there (a one-stimulus
    report then fills its first page)."""
    unit = f"clock time, {section.time_zone}" if section.by_clock else OFFSET_AXIS
    timeline = png(
        timeline_chart(
            section.series,
            by_clock=section.by_clock,
            segments=section.segments,
            title=f"Reaction timeline: {section.name}",
            clock_title=section.clock_title,
        )
    )
    with pdf.offset_rendering() as trial:
        _section_heading(trial, section, unit, min_crowd)  # type: ignore[arg-type]
        fits = trial.room_for(timeline)  # type: ignore[attr-defined]
    if own_page or not fits:
        pdf.add_page()
    _section_heading(pdf, section, unit, min_crowd)
    pdf.picture(timeline, f"Reaction timeline of {section.name}")
    if section.heatmap is not None and not section.heatmap.empty:
        pdf.picture(
            png(heatmap_chart(section.heatmap)), f"Valence by hour and weekday, {section.name}"
        )
    segments = segment_display(section.segment_summary)
    if len(segments):
        pdf.heading("Segments", size=12)
        pdf.grid(segments)


def _section_heading(pdf: _Report, section: StimulusSection, unit: str, min_crowd: int) -> None:
    pdf.heading(f"{section.name} ({section.kind})")
    pdf.paragraph(f"{unit}; {bucket_label(section.bucket_s)} buckets.", grey=True)
    if section.suppressed_buckets:
        pdf.paragraph(
            f"{section.suppressed_buckets} of {len(section.series)} buckets have fewer than "
            f"{min_crowd} people: greyed out, figures withheld.",
            grey=True,
        )


def render_pdf(report: ReportData) -> bytes:
    """The report as PDF bytes: an executive summary page, the stimuli compared, a page per
    stimulus, then method, model card and privacy."""
    pdf = _Report(report.campaign)
    pdf.add_page()
    pdf.heading(f"Reaction report: {report.campaign}", size=18)
    pdf.paragraph(
        f"Scope: {report.scope} - generated {report.generated_at:%Y-%m-%d %H:%M} - "
        f"minimum crowd {report.min_crowd} people",
        grey=True,
    )
    banner = consent_line(report.consent)
    if banner:
        pdf.paragraph(banner)
    chart_placed = _executive_page(pdf, report)
    table = display_table(report.table)
    title = "Stimuli compared" if len(report.table) > 1 else "Summary"
    with pdf.offset_rendering() as trial:  # a short table still fits under the summary
        trial.heading(title, size=14)
        trial.grid(table)
    if trial.page_break_triggered:
        pdf.add_page()
    pdf.heading(title, size=14)
    pdf.grid(table)
    if len(report.summary) > 1 and not chart_placed:
        pdf.picture(png(compare_chart(report.summary)), "Valence index per stimulus")
    if len(report.verdicts):
        pdf.heading("A/B verdicts", size=12)
        if report.version_note:
            pdf.paragraph(report.version_note, grey=True)
        pdf.grid(verdict_display(report.verdicts, compared_only=True))
        if not_compared(report.verdicts):
            pdf.paragraph(not_compared(report.verdicts), grey=True)
    for i, section in enumerate(report.sections):
        _section(pdf, section, report.min_crowd, own_page=i > 0 or len(report.sections) > 1)
    pdf.add_page()
    pdf.heading("Methodology")
    for line in methodology(report.model):
        pdf.paragraph(line)
    pdf.heading("Model card", size=12)
    for line in model_summary(report.model):
        pdf.paragraph(line)
    recall = pd.DataFrame(
        [(n, f"{r:.1%}") for n, r in report.model.per_class_recall.items()],
        columns=["Expression", "Recall (validation)"],
    )
    pdf.grid(recall, width=90)
    pdf.heading("Privacy", size=12)
    for line in privacy_note(report.min_crowd):
        pdf.paragraph(line)
    return bytes(pdf.output())
