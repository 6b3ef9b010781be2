"""Charts and reports: pure functions from tables to figures and bytes.

Nothing here imports streamlit, so the dashboard, the CLI's ``export`` command and plain pytest
all use the same code: a chart the dashboard shows is the chart the client's report carries.
"""
