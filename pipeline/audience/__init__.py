"""People statistics: minimum crowd, intervals over people, audience metrics and A/B verdicts.

Pure functions over per-person cells (one row per source, base cell and person) or their
rollup sums. The dashboard, the exports and the reports all call ``pipeline.audience.read``
(from the rollups), so a figure hidden on one screen cannot appear in another download;
``pipeline.audience.raw`` computes the same tables from face rows (drill-down, checks,
benchmark baseline). Those two modules are the only ones here that read DuckDB.
"""
