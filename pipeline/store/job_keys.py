"""The parameter part of a job's key, and re-keying the jobs stored before it changed.

A job is the same ingestion as a stored one when the file's bytes, the analysis parameters
and the model match (``pipeline.store.jobs.JobKey``). Until migration 014 the parameters held
the series bucket size (``--bucket``), which only shaped a per-job series table that nothing
read; since it went, the bucket no longer changes what a job stores, and a key that still held
it would analyse the same file again for another bucket size and count its people twice. So
the key leaves it out, and the jobs stored before are re-keyed in the migration's own
transaction, so that a file they hold is still recognised. Where the same file had been
stored twice with two bucket sizes (an upload's 60 s and the CLI's 1 s, say), the re-keyed
jobs share a key: the newest keeps the file's rows, as ``--force`` would have left it, and
the others are removed, so its people stop counting twice. (A snapshot folder is keyed by its
listing: two runs over a folder that grew in between are two keys, and stay two jobs.)
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import pandas as pd

# Parameters that no longer change what a job stores (dropped from stored keys on upgrade).
RETIRED_PARAMS = ("bucket_s",)


def params_digest(fields: dict[str, object], model_version: str) -> str:
    """A hash of the parameters (as ``AnalysisParams.as_json`` stores them) and the model
    version: the key's parameter part, the same for a new job and a re-keyed stored one."""
    fields = dict(fields)
    # Left out when off, so jobs keyed before the field existed (unaligned) keep their key.
    if not fields.get("align_faces", True):
        del fields["align_faces"]
    payload = json.dumps({**fields, "model": model_version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def upgrade_job_keys(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Migration 014's Python part (inside its transaction): re-key, then merge the jobs that
    now share a key. Returns (jobs re-keyed, duplicate jobs removed)."""
    return rekey_retired_params(con), merge_duplicate_jobs(con)


def rekey_retired_params(con: duckdb.DuckDBPyConnection) -> int:
    """Drop ``RETIRED_PARAMS`` from every stored job's parameters and recompute its key, inside
    the caller's transaction, in one statement; returns how many jobs changed.

    Jobs whose stored parameters lack a field added since keep lacking it: they matched no new
    job before and match none now, exactly as before the upgrade.
    """
    rows = con.execute("SELECT job_id, params, model_version FROM ingest_jobs").fetchall()
    changed = []
    for job_id, params_json, model_version in rows:
        fields = json.loads(params_json)
        if not any(name in fields for name in RETIRED_PARAMS):
            continue
        for name in RETIRED_PARAMS:
            fields.pop(name, None)
        changed.append(
            (
                int(job_id),
                json.dumps(fields, sort_keys=True),
                params_digest(fields, str(model_version)),
            )
        )
    if changed:
        rekeyed = pd.DataFrame(changed, columns=["job_id", "params", "params_hash"])
        con.register("_rekeyed", rekeyed)
        try:
            con.execute(
                "UPDATE ingest_jobs j SET params = r.params, params_hash = r.params_hash "
                "FROM _rekeyed r WHERE j.job_id = r.job_id"
            )
        finally:
            con.unregister("_rekeyed")
    return len(changed)


def merge_duplicate_jobs(con: duckdb.DuckDBPyConnection) -> int:
    """Remove every done job that a newer done job of the same stimulus, bytes and key repeats
    (its rows, rollups and record), inside the caller's transaction; returns how many were
    removed. An API operation that pointed at a removed job points at the kept one, and an
    upload the user chose to keep moves to the kept job when that one holds no file."""
    pairs = con.execute(
        """
        SELECT job_id, kept FROM (
            SELECT j.job_id, max(j.job_id) OVER (
                PARTITION BY s.stimulus_id, j.content_hash, j.params_hash
            ) AS kept
            FROM ingest_jobs j JOIN sources s USING (source_id)
            WHERE j.status = 'done'
        ) WHERE job_id <> kept ORDER BY job_id
        """
    ).fetchall()
    if not pairs:
        return 0
    # Here, not at the top: jobs imports the analysis (OpenCV), which only a merge needs.
    from pipeline.store.jobs import delete_jobs

    removed = [int(job_id) for job_id, _ in pairs]
    for job_id, kept in pairs:
        con.execute(
            "UPDATE ingest_jobs k SET input_path = o.input_path, keep_input = true "
            "FROM ingest_jobs o WHERE k.job_id = $kept AND o.job_id = $old "
            "AND o.keep_input AND o.input_path <> '' AND k.input_path = ''",
            {"kept": kept, "old": job_id},
        )
        con.execute("UPDATE api_operations SET job_id = ? WHERE job_id = ?", [kept, job_id])
    delete_jobs(con, removed)
    return len(removed)
