"""People statistics: minimum crowd, intervals over people, audience metrics and A/B verdicts.

Pure functions over the per-person cell table of ``pipeline.store.people`` (one row per
source, base cell and person). The dashboard, the exports and the reports all call these, so
a figure hidden on one screen cannot appear in another download. ``pipeline.audience.read``
is the one place that reads from DuckDB.
"""
