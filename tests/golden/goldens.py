"""Loading the golden input tables and checking outputs against the golden files.

Inputs (``inputs/``) are tables the real pipeline produced for the ``analysed_db`` fixture
campaign, frozen so that chart and report tests do not move when the model changes. Outputs
are compared as text; ``UPDATE_GOLDEN=1`` rewrites them (review the diff before committing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

GOLDEN_DIR = Path(__file__).resolve().parent
INPUTS = GOLDEN_DIR / "inputs"


def updating() -> bool:
    return os.environ.get("UPDATE_GOLDEN") == "1"


def load_series(name: str) -> pd.DataFrame:
    """A series table saved as CSV (frozen; the charts read any series table's columns):
    ``series_ad`` (offset) or ``series_display``."""
    table = pd.read_csv(INPUTS / f"{name}.csv", parse_dates=["bucket_ts"])
    table["bucket_ts"] = pd.to_datetime(table["bucket_ts"]).astype("datetime64[us]")
    table["source_id"] = table["source_id"].astype("Int64")
    return table


def load_table(name: str) -> pd.DataFrame:
    return pd.read_csv(INPUTS / f"{name}.csv")


def load_kpis() -> dict[str, float]:
    return json.loads((INPUTS / "kpis.json").read_text())


def check_text(name: str, text: str) -> None:
    """Assert ``text`` equals golden file ``name`` (written instead when UPDATE_GOLDEN=1)."""
    path = GOLDEN_DIR / name
    if updating():
        path.write_text(text)
        return
    assert path.is_file(), f"missing golden file {path}: run the tests with UPDATE_GOLDEN=1"
    expected = path.read_text()
    assert text == expected, f"{name} differs from its golden file; if intended: UPDATE_GOLDEN=1"


def check_json(name: str, payload: object) -> None:
    check_text(name, json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")


def check_csv(name: str, table: pd.DataFrame) -> None:
    check_text(name, table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
