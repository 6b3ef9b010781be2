"""The PDF report for clients: fpdf2 pages with matplotlib charts as PNG images.

Static charts, because a PDF cannot run plotly.js and kaleido would need a Chrome at run time.
DejaVu Sans is used when the system has it (Debian's fonts-dejavu-core) so campaign names in
any script print; otherwise the core Helvetica font with text reduced to Latin-1.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import FontFace

from pipeline.reports.build import ReportData, StimulusSection
from pipeline.reports.static_charts import compare_png, heatmap_png, timeline_png
from pipeline.reports.tables import (
    bucket_label,
    display_table,
    kpi_cells,
    segment_display,
    verdict_display,
)
from pipeline.reports.texts import consent_line, methodology, model_summary, privacy_note

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_ASCII = str.maketrans(
    {"–": "-", "—": "-", "−": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "·": "-"}
)
_GREY = (110, 110, 110)


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

    def grid(
        self, table: pd.DataFrame, widths: tuple[int, ...] | None = None, width: float = 0
    ) -> None:
        """A table of text cells; ``widths`` are relative column widths, ``width`` in mm."""
        self.set_font(self.family, "", 8)
        heading = FontFace(emphasis="BOLD", fill_color=(235, 239, 243))
        with self.table(
            col_widths=widths,
            width=width or None,
            headings_style=heading,
            line_height=5,
            text_align="LEFT",
            first_row_as_headings=True,
        ) as grid:
            grid.row([self.text_safe(str(c)) for c in table.columns])
            for values in table.itertuples(index=False):
                grid.row([self.text_safe(str(v)) for v in values])
        self.ln(3)


def _kpis(pdf: _Report, report: ReportData) -> None:
    cells = kpi_cells(report.overview, len(report.table))
    half = (len(cells) + 1) // 2
    for part in (cells[:half], cells[half:]):
        pdf.grid(pd.DataFrame([[v for _, v in part]], columns=[k for k, _ in part]))


def _section(pdf: _Report, section: StimulusSection, min_crowd: int) -> None:
    pdf.add_page()
    unit = "clock time" if section.by_clock else "seconds since the start of the footage"
    pdf.heading(f"{section.name} ({section.kind})")
    pdf.paragraph(f"{unit}; {bucket_label(section.bucket_s)} buckets.", grey=True)
    if section.suppressed_buckets:
        pdf.paragraph(
            f"{section.suppressed_buckets} of {len(section.series)} buckets have fewer than "
            f"{min_crowd} people: greyed out, figures withheld.",
            grey=True,
        )
    pdf.picture(
        timeline_png(
            section.series,
            by_clock=section.by_clock,
            segments=section.segments,
            title=f"Reaction timeline: {section.name}",
        ),
        f"Reaction timeline of {section.name}",
    )
    if section.heatmap is not None and not section.heatmap.empty:
        pdf.picture(heatmap_png(section.heatmap), f"Valence by hour and weekday, {section.name}")
    segments = segment_display(section.segment_summary)
    if len(segments):
        pdf.heading("Segments", size=12)
        pdf.grid(segments, widths=(30, 20, 16, 50, 40))


def render_pdf(report: ReportData) -> bytes:
    """The report as PDF bytes: summary, a page per stimulus, method, model card, privacy."""
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
    _kpis(pdf, report)
    pdf.heading("Summary", size=12)
    pdf.grid(display_table(report.table), widths=(24, 12, 12, 12, 14, 14, 12, 14, 30, 14, 18))
    if len(report.summary) > 1:
        pdf.picture(compare_png(report.summary), "Valence index per stimulus")
    if len(report.verdicts):
        pdf.heading("A/B verdicts", size=12)
        if report.version_note:
            pdf.paragraph(report.version_note, grey=True)
        pdf.grid(verdict_display(report.verdicts))
    for section in report.sections:
        _section(pdf, section, report.min_crowd)
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
    pdf.grid(recall, widths=(1, 1), width=90)
    pdf.heading("Privacy", size=12)
    for line in privacy_note(report.min_crowd):
        pdf.paragraph(line)
    return bytes(pdf.output())
