"""Reading the spreadsheet CSV back in tests: check it is human, then name it as Parquet does.

The CSV export has human labels, percent shares and yes/no flags (``pipeline.reports.labels``);
tests that assert on figures read it through ``read_export_csv``, which first fails on any raw
column name, "None"/"nan" cell or exponent notation, then maps labels back to machine names
(shares /100, yes/no to booleans) so the same assertions hold for CSV and Parquet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.reports.labels import COLUMNS, MACHINE_ONLY

_EXPONENT = re.compile(r"\d[eE][-+]?\d")


def assert_human(text: str) -> None:
    """No raw column name in the header, no None/nan, no 9.9e-05 anywhere in a CSV."""
    header, *rows = text.lstrip("\ufeff").splitlines()
    columns = pd.read_csv(pd.io.common.StringIO(header + "\n")).columns
    raw = [c for c in columns if c in COLUMNS and COLUMNS[c].label != c] + [
        c for c in columns if c in MACHINE_ONLY
    ]
    assert not raw, f"raw column names in the CSV: {raw}"
    body = "\n".join(rows)
    assert not re.search(r"(^|,)(None|nan|NaN|NaT)(,|$)", body, flags=re.M), "None/nan cells"
    assert not _EXPONENT.search(body), "a number in exponent notation"


def read_export_csv(path: Path) -> pd.DataFrame:
    """A CSV export, checked human, with machine column names and units (as in Parquet)."""
    text = path.read_text(encoding="utf-8-sig")
    assert_human(text)
    table = pd.read_csv(path, encoding="utf-8-sig")
    by_label = {}
    for spec in COLUMNS.values():
        by_label.setdefault(spec.label, spec)
    out = pd.DataFrame(index=table.index)
    for label in table.columns:
        spec = by_label.get(label)
        if spec is None:
            out[label] = table[label]
            continue
        values = table[label]
        if spec.kind == "flag":
            values = values.map({"yes": True, "no": False}).astype(bool)
        elif spec.kind == "share":
            values = values / 100
        out[spec.name] = values
    return out
