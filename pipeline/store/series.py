"""The aggregated expression series: one SQL query, used at ingest time and on demand.

Per (stimulus, source, time bucket): faces, unique tracks, mean score per expression
(windowMeanScores), share of faces per dominant expression (windowFaceDistribution), a valence
index (share positive minus share negative) with a 95 % normal-approximation interval, the
mean dwell of the tracks seen in the bucket, and the people looking at the camera (tracks with
a looking row) with their share of the people whose head pose is known.

The per-job rows stored in ``emotion_series`` apply the minimum crowd in people (expression
figures NULL below it); the views, exports and reports never read them: they aggregate people
on the fixed base grid through ``pipeline.audience``.
"""

from __future__ import annotations

from pipeline.emotion.labels import LABELS, VALENCE_SIGN

MEANS_SQL = ",\n    ".join(f"avg(o.{n}) AS mean_{n}" for n in LABELS)
SHARES_SQL = ",\n    ".join(
    f"avg(CASE WHEN o.dominant = '{n}' THEN 1.0 ELSE 0.0 END) AS share_{n}" for n in LABELS
)
# +1 / -1 / 0 per face by its dominant expression (the valence index is its mean).
VALENCE_CASE_SQL = (
    "CASE o.dominant "
    + " ".join(f"WHEN '{n}' THEN {s}" for n, s in VALENCE_SIGN.items())
    + " ELSE 0 END"
)

SERIES_COLUMNS: tuple[str, ...] = (
    "stimulus_id",
    "source_id",
    "bucket_s",
    "bucket_offset_s",
    "bucket_ts",
    "faces",
    "unique_tracks",
    *(f"mean_{n}" for n in LABELS),
    *(f"share_{n}" for n in LABELS),
    "valence",
    "valence_low",
    "valence_high",
    "mean_dwell_s",
    "people_looking",
    "share_looking",
)


def series_select(where: str, by_clock: bool, min_crowd: int | None = None) -> str:
    """SELECT producing SERIES_COLUMNS from ``face_observations o`` filtered by ``where``.

    Parameters, in order: $bucket (seconds) plus whatever ``where`` names. ``by_clock`` buckets
    on absolute time (cameras, displays) instead of the offset into the footage (ads); the
    caller's ``where`` must only use named ``$`` parameters, never formatted values.

    ``min_crowd`` (default: the EMOTION_MIN_CROWD setting, as the stored per-job series use):
    buckets with fewer people keep their counts but have NULL expression figures, so a stored
    result never holds one person's expressions. People: distinct tracks, or for snapshot
    cameras the most faces in one snapshot. Raw checks pass ``min_crowd=1``.
    """
    if min_crowd is None:
        from pipeline.settings import get_int

        min_crowd = get_int("EMOTION_MIN_CROWD")
    crowd = max(1, int(min_crowd))

    def kept(expr: str, name: str) -> str:
        return f"CASE WHEN people >= {crowd} THEN {expr} END AS {name}"

    if by_clock:
        bucket_key = "time_bucket(to_microseconds(CAST($bucket * 1e6 AS BIGINT)), o.ts)"
        offset_expr = "NULL::DOUBLE"
        ts_expr = "bucket_key"
    else:
        bucket_key = "floor(o.offset_s / $bucket) * $bucket"
        offset_expr = "bucket_key"
        ts_expr = "NULL::TIMESTAMP"
    return f"""
WITH obs AS (
  SELECT o.*, {bucket_key} AS bucket_key, {VALENCE_CASE_SQL} AS valence_point,
         t.dwell_s, s.kind = 'camera' AS snapshot,
         count(*) OVER (PARTITION BY o.job_id, o.frame_index) AS faces_in_frame
  FROM face_observations o
  LEFT JOIN tracks t ON t.job_id = o.job_id AND t.track_id = o.track_id
  LEFT JOIN sources s ON s.source_id = o.source_id
  WHERE {where}
), grouped AS (
  SELECT o.stimulus_id, o.source_id, o.bucket_key,
    count(*) AS faces,
    count(DISTINCT (o.job_id, o.track_id)) AS unique_tracks,
    CASE WHEN bool_or(o.snapshot) THEN max(o.faces_in_frame)
         ELSE count(DISTINCT (o.job_id, o.track_id)) END AS people,
    {MEANS_SQL},
    {SHARES_SQL},
    avg(o.valence_point) AS valence,
    coalesce(stddev_samp(o.valence_point), 0) / sqrt(count(*)) AS valence_se,
    avg(o.dwell_s) AS mean_dwell_s,
    count(DISTINCT CASE WHEN o.looking THEN (o.job_id, o.track_id) END) AS people_looking,
    count(DISTINCT CASE WHEN o.looking IS NOT NULL THEN (o.job_id, o.track_id) END)
      AS people_posed
  FROM obs o
  GROUP BY o.stimulus_id, o.source_id, o.bucket_key
)
SELECT stimulus_id, source_id, CAST($bucket AS DOUBLE) AS bucket_s,
  {offset_expr} AS bucket_offset_s, {ts_expr} AS bucket_ts, faces, unique_tracks,
  {", ".join(kept(f"mean_{n}", f"mean_{n}") for n in LABELS)},
  {", ".join(kept(f"share_{n}", f"share_{n}") for n in LABELS)},
  {kept("valence", "valence")},
  {kept("greatest(-1, valence - 1.96 * valence_se)", "valence_low")},
  {kept("least(1, valence + 1.96 * valence_se)", "valence_high")},
  {kept("mean_dwell_s", "mean_dwell_s")},
  CASE WHEN people_posed > 0 THEN people_looking END AS people_looking,
  CASE WHEN people_posed > 0 THEN people_looking / people_posed END AS share_looking
FROM grouped
ORDER BY stimulus_id, source_id, bucket_key
"""
