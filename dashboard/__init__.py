"""Streamlit dashboard: thin pages over pipeline.store queries and pipeline.reports charts."""
