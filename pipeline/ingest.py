"""Ingestion: resolve where a file belongs, skip what is already stored, analyse, commit.

Split in three steps so that analysis (the slow, pure part) can run in worker processes while a
single writer owns the database: ``prepare_job`` (DB), ``run_job`` (no DB), ``finish_job`` (DB).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.analysis import AnalysisParams, FramePass, JobResult
from pipeline.assemble import FaceRows, assemble
from pipeline.chunks import Chunk, analyse_chunk, plan_chunks, run_chunks
from pipeline.emotion.classifier import ExpressionClassifier, shared_classifier
from pipeline.errors import InputError, ReactionError
from pipeline.faces import FaceFinder, check_detector
from pipeline.settings import get_float, get_int
from pipeline.snapshot_batches import SnapshotBatch, batch_frames, plan_batches, renumber
from pipeline.sources import (
    SampledFrame,
    check_image_file,
    check_readable_folder,
    content_hash,
    image_timestamp,
    iter_video_frames,
    probe_video,
    read_image,
    scan_image_folder,
)
from pipeline.store import catalog, jobs
from pipeline.store.database import connect

_log = logging.getLogger(__name__)

Part = Chunk | SnapshotBatch
"""What one worker analyses of a file: a video's time range or a run of a folder's snapshots."""

ProgressCallback = Callable[[float, int, int], None]
"""progress(fraction 0..1, frames done, faces found) — drives tqdm and st.progress."""


@dataclass(frozen=True)
class Target:
    """Where the results belong: campaign (must exist), stimulus and source (made if new)."""

    campaign: str
    stimulus: str
    stimulus_kind: str = "ad"
    source_name: str = "footage"
    source_kind: str = "footage"
    duration_s: float | None = None
    location: str = ""


@dataclass(frozen=True)
class JobSpec:
    """A prepared job: everything a worker needs, picklable, no database handle."""

    job_id: int
    kind: str  # "video" or "images"
    path: Path
    params: AnalysisParams
    source_id: int
    stimulus_id: int
    start_time: dt.datetime | None
    expected_frames: int
    replace_job_ids: tuple[int, ...] = ()
    snapshot_files: tuple[tuple[dt.datetime, Path], ...] | None = None
    """A folder's snapshots that this job analyses (those not stored already, one file of each
    content) as (capture time, path), oldest first: the listing the claim was made from, so
    the folder is scanned once per job; None for video and a single snapshot."""


@dataclass(frozen=True)
class IngestSummary:
    input_name: str
    status: str  # "done", "skipped" or "failed"
    job_id: int | None
    frames: int = 0
    faces: int = 0
    tracks: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _expected_frames(kind: str, path: Path, params: AnalysisParams) -> int:
    if kind == "video":
        info = probe_video(path)
        end = info.duration_s if params.end_s is None else min(params.end_s, info.duration_s)
        return max(1, int((end - params.start_s) * params.sample_fps) + 1)
    if path.is_file():
        return 1
    if not path.is_dir():
        raise InputError("Folder not found", f"{path} is not a folder of images.")
    # A folder expects the snapshots its claim gives it (prepare_job); a damaged one is
    # skipped, so the bar then ends a little short.
    return 0


def prepare_job(
    kind: str,
    path: Path,
    target: Target,
    params: AnalysisParams,
    model_version: str,
    db_path: Path | None = None,
    force: bool = False,
    start_time: dt.datetime | None = None,
    queued_job_id: int | None = None,
) -> JobSpec | IngestSummary:
    """Validate the input and register a running job, or return a 'skipped' summary.

    Nothing is written when the input is unusable or the campaign is unknown.
    """
    check_detector(params.detector)
    if kind == "images" and path.is_file():
        check_image_file(path)
        # Its time is checked (a reset camera clock) before anything is claimed or written.
        start_time = start_time or image_timestamp(path)
    expected = _expected_frames(kind, path, params)
    digest = content_hash(path) if path.is_file() else _folder_hash(path)
    # Image jobs say which snapshots they hold, so none is stored twice (jobs.claim_job).
    folder = kind == "images" and path.is_dir()
    by_hash: dict[str, tuple[dt.datetime, Path]] = {}
    skipped: list[tuple[Path, str]] = []
    if folder:
        by_hash, skipped = _snapshots_by_hash(path)
    snapshots = None if kind != "images" else list(by_hash) if folder else [digest]
    with connect(db_path) as con:
        campaign = catalog.get_campaign(con, target.campaign)
        stimulus = catalog.ensure_stimulus(
            con, campaign, target.stimulus, target.stimulus_kind, target.duration_s
        )
        source = catalog.ensure_source(
            con, stimulus, target.source_kind, target.source_name, location=target.location
        )
        if source.exclusion_zones and not params.exclusion_zones:
            params = replace(
                params, exclusion_zones=tuple(tuple(point) for point in source.exclusion_zones)
            )  # type: ignore[misc]
        if source.yaw_offset_deg or source.pitch_offset_deg:
            params = replace(
                params,
                yaw_offset_deg=source.yaw_offset_deg,
                pitch_offset_deg=source.pitch_offset_deg,
            )
        key = jobs.JobKey(source.source_id, digest, params.digest(model_version))
        claim = jobs.claim_job(
            con,
            key,
            path.name,
            params.as_json(),
            model_version,
            params.detector,
            force=force,
            queued_job_id=queued_job_id,
            snapshots=snapshots,
        )
    if not claim.claimed:
        hint = "; use --force to analyse it again" if "already ingested" in claim.message else ""
        return IngestSummary(path.name, "skipped", claim.job_id, message=claim.message + hint)
    files = tuple(sorted(by_hash[h] for h in claim.snapshots)) if folder else None
    for skipped_path, reason in skipped:
        # Said once the job is claimed: a skipped job's run would repeat it every time.
        _log.warning("Skipping %s: %s", skipped_path, reason)
    return JobSpec(
        claim.job_id,
        kind,
        path,
        params,
        source.source_id,
        source.stimulus_id,
        start_time=start_time,
        expected_frames=len(files) if files is not None else expected,
        replace_job_ids=claim.replace_job_ids,
        snapshot_files=files,
    )


def _snapshots_by_hash(
    folder: Path,
) -> tuple[dict[str, tuple[dt.datetime, Path]], list[tuple[Path, str]]]:
    """A folder's usable snapshot files by the sha256 of their bytes, as (capture time, path),
    in name order; of files with the same bytes (a copy, a ``latest.jpg`` link) the first.
    Also the files the scan skipped, with why. A skipped file (not an image, no plausible
    capture time) is left out, so it is not recorded as stored and is tried again next time: a
    file renamed with its time, or whose time was ahead of this machine's clock, is then
    counted."""
    found: dict[str, tuple[dt.datetime, Path]] = {}
    scan = scan_image_folder(folder, log_skipped=False)
    for taken, path in sorted(scan.files, key=lambda file: file[1]):
        try:
            found.setdefault(content_hash(path), (taken, path))
        except InputError as error:
            scan.skipped.append((path, error.message))
    return found, scan.skipped


def _folder_hash(folder: Path) -> str:
    """Idempotency key of a snapshot folder: names, sizes and times of its files."""
    import hashlib

    digest = hashlib.sha256()
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            stat = entry.stat()
            digest.update(f"{entry.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _frames_for(spec: JobSpec, params: AnalysisParams | None = None) -> Iterator[SampledFrame]:
    params = params or spec.params
    if spec.kind == "video":
        frames = iter_video_frames(spec.path, params.sample_fps, params.start_s, params.end_s)
        if spec.start_time is None:
            return frames
        start = spec.start_time
        return (replace(f, timestamp=start + dt.timedelta(seconds=f.offset_s)) for f in frames)
    # A single snapshot: its capture time came with an HTTP push or was read (and checked)
    # when its job was claimed (prepare_job).
    taken = spec.start_time or image_timestamp(spec.path)
    return iter([SampledFrame(0, 0.0, taken, read_image(spec.path), spec.path.name)])


def job_params(kind: str, path: Path, params: AnalysisParams) -> AnalysisParams:
    """The parameters a file is analysed with, whichever executor runs it."""
    if kind == "images":
        # Snapshots have no sampling rate: each is one moment, tracks rarely span two.
        return replace(params, min_track_hits=1, sample_fps=0.0)
    if probe_video(path).frame_count == 1:
        # A one-frame clip is a still: its faces cannot be seen twice, so keep single sightings.
        return replace(params, min_track_hits=1)
    return params


def plan_job(spec: JobSpec) -> list[Part]:
    """The parts of a job that can be analysed apart: a video's time-range chunks (their
    boundaries depend only on the file, pipeline/chunks.py), a snapshot folder's batches of
    EMOTION_SNAPSHOT_BATCH images (pipeline/snapshot_batches.py), a single snapshot whole."""
    if spec.kind != "video":
        if spec.path.is_file():
            return [Chunk(0.0, None, None)]
        size = get_int("EMOTION_SNAPSHOT_BATCH")
        # prepare_job listed the folder it claimed from, so it is not scanned again; a folder
        # gone since then fails here, not as a job of no snapshots.
        check_readable_folder(spec.path)
        assert spec.snapshot_files is not None
        return list(plan_batches(spec.snapshot_files, size))
    duration_s = probe_video(spec.path).duration_s
    return list(plan_chunks(spec.params, duration_s, get_float("EMOTION_CHUNK_S")))


def analyse_part(
    spec: JobSpec,
    part: Part,
    finder: FaceFinder,
    classifier: ExpressionClassifier,
    on_frame: Callable[[SampledFrame, int], None] | None = None,
) -> FaceRows:
    """One part of ``plan_job(spec)``: the rows before tracking (no database access)."""
    if spec.kind != "video":
        frame_pass = FramePass(finder, classifier, spec.params, on_frame)
        stills = batch_frames(part) if isinstance(part, SnapshotBatch) else _frames_for(spec)
        for frame in stills:
            frame_pass.add(frame)
        return frame_pass.close()
    assert isinstance(part, Chunk)

    def frames(start_s: float, end_s: float | None) -> Iterator[SampledFrame]:
        return _frames_for(spec, replace(spec.params, start_s=start_s, end_s=end_s))

    return analyse_chunk(frames, part, finder, classifier, spec.params, on_frame)


def assemble_job(spec: JobSpec, parts: list[FaceRows]) -> JobResult:
    """The job's tables from its parts in ``plan_job`` order: people tracked across parts."""
    if spec.kind != "video":
        renumber(parts)  # a folder's batches numbered as one pass over it would
    return assemble(parts, spec.params.sample_fps, spec.params.min_track_hits)


def run_job(
    spec: JobSpec,
    classifier: ExpressionClassifier | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> JobResult:
    """Analyse one prepared job (no database access: safe in a worker process).

    A video is split into time-range chunks (pipeline/chunks.py), a snapshot folder into
    batches of snapshots (pipeline/snapshot_batches.py), analysed ``workers`` at a time on
    threads (default: the EMOTION_FILE_WORKERS setting); the rows are the same for any number,
    and the same as when Ray actors analyse the parts (pipeline/ray_executor.py).
    """
    workers = get_int("EMOTION_FILE_WORKERS") if workers is None else workers
    finder = FaceFinder(
        spec.params.detector,
        margin=spec.params.margin,
        min_face_px=spec.params.min_face_px,
        threads=1 if workers > 1 else get_int("EMOTION_THREADS"),
    )
    classifier = classifier or shared_classifier()
    counters = {"frames": 0, "faces": 0}
    counting = threading.Lock()  # parts report from several threads

    def on_frame(_: SampledFrame, faces: int) -> None:
        with counting:
            counters["frames"] += 1
            counters["faces"] += faces
            frames, found = counters["frames"], counters["faces"]
            if progress is not None:
                fraction = frames / spec.expected_frames if spec.expected_frames else 0
                progress(min(fraction, 0.99), frames, found)

    def part(piece: Part) -> FaceRows:
        return analyse_part(spec, piece, finder, classifier, on_frame)

    return assemble_job(spec, run_chunks(part, plan_job(spec), workers))


def finish_job(spec: JobSpec, result: JobResult, db_path: Path | None = None) -> bool:
    """Commit the job's rows; False when another job stored the same file meanwhile."""
    with connect(db_path) as con:
        source = catalog.get_source(con, spec.source_id)
        return jobs.commit_job(
            con,
            spec.job_id,
            source,
            result,
            list(spec.replace_job_ids),
        )


def record_failure(job_id: int, error: BaseException, db_path: Path | None = None) -> None:
    title, message = (
        (error.title, error.message)
        if isinstance(error, ReactionError)
        else ("Processing failed", f"{type(error).__name__}: {error}")
    )
    with connect(db_path) as con:
        jobs.fail_job(con, job_id, title, message)


def prepare_jobs(
    kind: str,
    paths: list[Path],
    targets: list[Target],
    params: AnalysisParams,
    db_path: Path | None = None,
    force: bool = False,
    start_time: dt.datetime | None = None,
) -> tuple[list[IngestSummary], list[JobSpec]]:
    """Validate and claim every file here, before any is analysed elsewhere: the summaries
    of files that fail or are already stored, and the specs of the jobs to run."""
    version = shared_classifier().version
    summaries: list[IngestSummary] = []
    specs: list[JobSpec] = []
    for path, target in zip(paths, targets, strict=True):
        try:
            prepared = prepare_job(
                kind,
                path,
                target,
                job_params(kind, path, params),
                version,
                db_path,
                force,
                start_time,
            )
        except ReactionError as error:
            summaries.append(IngestSummary(path.name, "failed", None, message=error.message))
            continue
        if isinstance(prepared, IngestSummary):
            summaries.append(prepared)
        else:
            specs.append(prepared)
    return summaries, specs


def commit_summary(
    spec: JobSpec, result: JobResult, seconds: float, db_path: Path | None = None
) -> IngestSummary:
    """Commit a job analysed elsewhere (one transaction) and say how it went; a failed
    commit is recorded on the job and stores nothing."""
    try:
        stored = finish_job(spec, result, db_path)
    except Exception as error:  # one bad file must not lose the others
        return failed_summary(spec, error, db_path)
    if not stored:
        return IngestSummary(spec.path.name, "skipped", spec.job_id, message="already ingested")
    return IngestSummary(
        spec.path.name,
        "done",
        spec.job_id,
        len(result.frames),
        len(result.faces),
        len(result.tracks),
        seconds,
    )


def failed_summary(
    spec: JobSpec, error: BaseException, db_path: Path | None = None
) -> IngestSummary:
    """Record the job as failed (none of its rows are stored) and summarise it."""
    record_failure(spec.job_id, error, db_path)
    message = error.message if isinstance(error, ReactionError) else str(error)
    return IngestSummary(spec.path.name, "failed", spec.job_id, message=message)


class DatabaseProgress:
    """Writes a job's progress to DuckDB at most once a second (the dashboard polls it)."""

    def __init__(
        self,
        job_id: int,
        db_path: Path | None,
        forward: ProgressCallback | None = None,
        every_s: float = 1.0,
    ) -> None:
        self._job_id, self._db_path, self._forward = job_id, db_path, forward
        self._every_s, self._last = every_s, 0.0

    def __call__(self, fraction: float, frames: int, faces: int) -> None:
        if self._forward is not None:
            self._forward(fraction, frames, faces)
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            with connect(self._db_path) as con:
                jobs.set_progress(con, self._job_id, fraction, frames, faces)


def ingest(
    kind: str,
    path: Path,
    target: Target,
    params: AnalysisParams,
    db_path: Path | None = None,
    force: bool = False,
    start_time: dt.datetime | None = None,
    progress: ProgressCallback | None = None,
    queued_job_id: int | None = None,
) -> IngestSummary:
    """Ingest one video file or one snapshot folder in this process, start to finish."""
    classifier = shared_classifier()
    params = job_params(kind, path, params)
    prepared = prepare_job(
        kind, path, target, params, classifier.version, db_path, force, start_time, queued_job_id
    )
    if isinstance(prepared, IngestSummary):
        return prepared
    started = time.perf_counter()
    try:
        with jobs.heartbeat(db_path, [prepared.job_id]):
            result = run_job(
                prepared, classifier, DatabaseProgress(prepared.job_id, db_path, progress)
            )
        stored = finish_job(prepared, result, db_path)
    except BaseException as error:
        record_failure(prepared.job_id, error, db_path)
        raise
    if not stored:
        return IngestSummary(
            path.name, "skipped", prepared.job_id, message="already ingested by another job"
        )
    return IngestSummary(
        path.name,
        "done",
        prepared.job_id,
        frames=len(result.frames),
        faces=len(result.faces),
        tracks=len(result.tracks),
        seconds=time.perf_counter() - started,
    )
