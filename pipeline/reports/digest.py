"""What a plotly figure draws, as plain JSON, for golden tests and debugging.

It pins the data (trace points, bands, annotations) without pinning plotly's styling or its
serialisation, which changes between plotly releases.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go


def figure_digest(fig: go.Figure) -> dict:
    """What a figure shows, as plain JSON: trace names/types/points, bands and annotations.

    Used by the golden tests: it pins the data drawn without pinning plotly's styling.
    """

    def plain(values: object) -> list[object]:
        if values is None:
            return []
        out: list[object] = []
        for v in list(values):  # type: ignore[call-overload]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                out.append(None)
            elif isinstance(v, (float, np.floating)):
                out.append(round(float(v), 6))
            elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
                out.append(int(v))
            elif isinstance(v, (dt.datetime, pd.Timestamp, np.datetime64)):
                out.append(pd.Timestamp(v).isoformat())
            elif isinstance(v, (list, tuple, np.ndarray)):
                out.append(plain(v))
            else:
                out.append(str(v))
        return out

    traces = []
    for trace in fig.data:
        entry = {"type": trace.type, "name": trace.name}
        for axis in ("x", "y", "z"):
            values = getattr(trace, axis, None)
            if values is not None:
                entry[axis] = plain(values)
        error = getattr(trace, "error_y", None)
        if error is not None and error.array is not None:
            entry["error_y"] = [plain(error.arrayminus), plain(error.array)]
        traces.append(entry)
    shapes = [
        {
            "type": s.type,
            "x0": plain([s.x0])[0],
            "x1": plain([s.x1])[0],
            "fillcolor": s.fillcolor,
        }
        for s in fig.layout.shapes
    ]
    annotations = [a.text for a in fig.layout.annotations]
    return {"traces": traces, "shapes": shapes, "annotations": annotations}
