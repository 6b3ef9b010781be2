"""Golden files for the chart and report tests (see README.md here)."""
