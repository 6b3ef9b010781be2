"""Rename and delete campaigns and stimuli, with every row that belongs to them.

A delete removes the stimulus's segments, sources, ingest jobs and their frames, face rows,
tracks and rollups in one transaction, then the upload files those jobs kept: either all of
it is gone or none. Both are refused while a job is queued or running with a live process
(an upload, a ``watch`` or ``camera`` loop, a pushing client): deleting under a writer would
let it commit rows for a stimulus that no longer exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.errors import InputError
from pipeline.store import catalog, rollups
from pipeline.store.database import transaction
from pipeline.store.jobs import stale_job_ids

# Tables whose rows belong to one ingest job.
_JOB_TABLES = (
    "face_observations",
    "frames",
    "tracks",
    "api_operations",
    "snapshot_files",
)


@dataclass(frozen=True)
class Deleted:
    """What a delete removed, for the confirmation message."""

    stimuli: int
    jobs: int
    faces: int
    files: int

    def summary(self) -> str:
        return (
            f"{self.stimuli} stimuli, {self.jobs} jobs, {self.faces} face rows, "
            f"{self.files} stored files"
        )


def live_jobs(con: duckdb.DuckDBPyConnection, stimulus_ids: list[int]) -> list[int]:
    """Queued or running jobs of these stimuli whose process is still alive."""
    rows = con.execute(
        "SELECT j.job_id FROM ingest_jobs j JOIN sources s USING (source_id) "
        "WHERE j.status IN ('queued', 'running') AND s.stimulus_id IN (SELECT unnest(?))",
        [stimulus_ids],
    ).fetchall()
    stale = set(stale_job_ids(con))
    return [int(r[0]) for r in rows if int(r[0]) not in stale]


def _refuse_if_busy(con: duckdb.DuckDBPyConnection, stimulus_ids: list[int], what: str) -> None:
    busy = live_jobs(con, stimulus_ids)
    if busy:
        raise InputError(
            "Still being written",
            f"{what} has {len(busy)} job(s) running (job {', '.join(map(str, busy))}); "
            "wait until they finish or stop them, then try again.",
        )


def rename_campaign(con: duckdb.DuckDBPyConnection, old: str, new: str) -> catalog.Campaign:
    """Give a campaign a new, unused name; its rows keep their ids."""
    campaign = catalog.get_campaign(con, old)
    new = catalog.clean_name(new, "campaign")
    if new == campaign.name:
        return campaign
    taken = con.execute(
        f"SELECT 1 FROM campaigns WHERE {catalog.SAME_NAME} AND campaign_id <> $id",
        {"name": new, "id": campaign.campaign_id},
    ).fetchone()
    if taken:
        raise InputError("Campaign exists", f"A campaign named {new!r} already exists.")
    stimuli = [s.stimulus_id for s in catalog.list_stimuli(con, campaign)]
    with transaction(con):  # the busy check and the rename see the same jobs, as for stimuli
        _refuse_if_busy(con, stimuli, f"Campaign {campaign.name!r}")
        con.execute(
            "UPDATE campaigns SET name = ? WHERE campaign_id = ?", [new, campaign.campaign_id]
        )
    return catalog.Campaign(campaign.campaign_id, new, campaign.description)


def rename_stimulus(
    con: duckdb.DuckDBPyConnection, campaign_name: str, old: str, new: str
) -> catalog.Stimulus:
    """Give a stimulus a new name, unused in its campaign; API keys bound to it follow."""
    campaign = catalog.get_campaign(con, campaign_name)
    stimulus = catalog.get_stimulus(con, campaign, old)
    new = catalog.clean_name(new, "stimulus")
    if new == stimulus.name:
        return stimulus
    taken = con.execute(
        f"SELECT 1 FROM stimuli WHERE campaign_id = $campaign AND {catalog.SAME_NAME} "
        "AND stimulus_id <> $id",
        {"campaign": campaign.campaign_id, "name": new, "id": stimulus.stimulus_id},
    ).fetchone()
    if taken:
        raise InputError("Stimulus exists", f"{campaign.name!r} already has a stimulus {new!r}.")
    with transaction(con):
        _refuse_if_busy(con, [stimulus.stimulus_id], f"Stimulus {stimulus.name!r}")
        con.execute(
            "UPDATE stimuli SET name = ? WHERE stimulus_id = ?", [new, stimulus.stimulus_id]
        )
        con.execute(
            "UPDATE api_keys SET stimulus = ? WHERE campaign_id = ? "
            "AND nfc_normalize(stimulus) = nfc_normalize(?)",
            [new, campaign.campaign_id, stimulus.name],
        )
    return catalog.get_stimulus_by_id(con, stimulus.stimulus_id)


def _delete_stimuli(con: duckdb.DuckDBPyConnection, stimulus_ids: list[int]) -> Deleted:
    """Delete the rows of these stimuli (inside the caller's transaction); returns counts
    and leaves the kept upload files to ``_remove_files``."""
    job_ids = [
        int(r[0])
        for r in con.execute(
            "SELECT j.job_id FROM ingest_jobs j JOIN sources s USING (source_id) "
            "WHERE s.stimulus_id IN (SELECT unnest(?))",
            [stimulus_ids],
        ).fetchall()
    ]
    faces = con.execute(
        "SELECT count(*) FROM face_observations WHERE job_id IN (SELECT unnest(?))", [job_ids]
    ).fetchone()
    rollups.remove_jobs(con, job_ids)
    for table in _JOB_TABLES:
        con.execute(f"DELETE FROM {table} WHERE job_id IN (SELECT unnest(?))", [job_ids])
    con.execute("DELETE FROM ingest_jobs WHERE job_id IN (SELECT unnest(?))", [job_ids])
    for table in ("sources", "segments", "stimuli"):
        con.execute(f"DELETE FROM {table} WHERE stimulus_id IN (SELECT unnest(?))", [stimulus_ids])
    return Deleted(len(stimulus_ids), len(job_ids), int(faces[0]) if faces else 0, 0)


def _upload_files(con: duckdb.DuckDBPyConnection, stimulus_ids: list[int]) -> set[str]:
    rows = con.execute(
        "SELECT DISTINCT j.input_path FROM ingest_jobs j JOIN sources s USING (source_id) "
        "WHERE s.stimulus_id IN (SELECT unnest(?)) AND j.input_path <> ''",
        [stimulus_ids],
    ).fetchall()
    return {str(r[0]) for r in rows}


def _remove_files(con: duckdb.DuckDBPyConnection, paths: set[str]) -> int:
    """Delete upload files no remaining job refers to (the same bytes may serve another)."""
    removed = 0
    for path in paths:
        used = con.execute("SELECT 1 FROM ingest_jobs WHERE input_path = ?", [path]).fetchone()
        if used is None and Path(path).is_file():
            Path(path).unlink(missing_ok=True)
            removed += 1
    return removed


def delete_stimulus(con: duckdb.DuckDBPyConnection, campaign_name: str, name: str) -> Deleted:
    """Delete one stimulus and everything measured for it, in one transaction."""
    campaign = catalog.get_campaign(con, campaign_name)
    stimulus = catalog.get_stimulus(con, campaign, name)
    ids = [stimulus.stimulus_id]
    files = _upload_files(con, ids)
    with transaction(con):
        _refuse_if_busy(con, ids, f"Stimulus {stimulus.name!r}")
        deleted = _delete_stimuli(con, ids)
        con.execute(
            "UPDATE api_keys SET revoked_at = current_timestamp WHERE campaign_id = ? "
            "AND nfc_normalize(stimulus) = nfc_normalize(?) AND revoked_at IS NULL",
            [campaign.campaign_id, stimulus.name],
        )
    return Deleted(deleted.stimuli, deleted.jobs, deleted.faces, _remove_files(con, files))


def delete_campaign(con: duckdb.DuckDBPyConnection, name: str) -> Deleted:
    """Delete a campaign, its stimuli and everything measured for them, in one transaction;
    API keys bound to it are revoked (kept, so the key log still says whose they were)."""
    campaign = catalog.get_campaign(con, name)
    ids = [s.stimulus_id for s in catalog.list_stimuli(con, campaign)]
    files = _upload_files(con, ids)
    with transaction(con):
        _refuse_if_busy(con, ids, f"Campaign {campaign.name!r}")
        deleted = _delete_stimuli(con, ids)
        con.execute("DELETE FROM campaign_consent WHERE campaign_id = ?", [campaign.campaign_id])
        con.execute(
            "UPDATE api_keys SET revoked_at = current_timestamp WHERE campaign_id = ? "
            "AND revoked_at IS NULL",
            [campaign.campaign_id],
        )
        con.execute("DELETE FROM campaigns WHERE campaign_id = ?", [campaign.campaign_id])
    return Deleted(deleted.stimuli, deleted.jobs, deleted.faces, _remove_files(con, files))
