"""``--executor ray``: analyse footage on a Ray cluster, commit it here.

The work is cut where the local executors cut it: every file's parts (``plan_job``: a video's
time-range chunks, a snapshot folder's batches of images) go to a pool of Ray actors, one per
CPU, each of which loads the detector and the expression model once. This process stays the
only DuckDB writer: it claims every file first (``prepare_jobs``), joins a file's parts once
all of them are back (people tracked across parts, ``assemble_job``) and commits the file in
one transaction, so any executor stores the same rows.

An actor that dies (its process killed, its machine gone) is replaced and the parts it held
are sent again, up to EMOTION_RAY_ATTEMPTS tries each; a part that still fails fails its
file, which stores nothing. Workers open the files themselves: footage must be at the same
path on every machine (a shared filesystem).

Ray is optional (requirements-ray.txt) and imported only here, only when asked for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.analysis import AnalysisParams
from pipeline.assemble import FaceRows
from pipeline.errors import InputError, ReactionError
from pipeline.ingest import (
    IngestSummary,
    JobSpec,
    Part,
    Target,
    analyse_part,
    assemble_job,
    commit_summary,
    failed_summary,
    plan_job,
    prepare_jobs,
    record_failure,
)
from pipeline.settings import PROJECT_ROOT, get_int
from pipeline.store import jobs

# Settings and DeepFace's engine choice travel to the workers, so they analyse as this
# process would (same detector threads, model file, image limits).
_FORWARDED_PREFIXES = ("EMOTION_", "DEEPFACE_")


class ChunkAnalyser:
    """A Ray actor (wrapped by ``ray.remote`` at run time): one CPU, the detector and the
    model loaded once, then any number of parts of any job."""

    def __init__(self) -> None:
        # One intra-op thread per actor: N actors on N CPUs without oversubscription.
        os.environ["EMOTION_THREADS"] = "1"
        os.environ["EMOTION_FILE_WORKERS"] = "1"
        from pipeline.emotion.classifier import shared_classifier

        self._classifier = shared_classifier()
        self._finders: dict[tuple[str, float, int], Any] = {}

    def pid(self) -> int:
        """The actor's process id; answering it means the models are loaded (the pool
        sends work only then)."""
        return os.getpid()

    def analyse(self, spec: JobSpec, part: Part) -> FaceRows:
        from pipeline.faces import FaceFinder

        key = (spec.params.detector, spec.params.margin, spec.params.min_face_px)
        if key not in self._finders:
            self._finders[key] = FaceFinder(key[0], margin=key[1], min_face_px=key[2], threads=1)
        return analyse_part(spec, part, self._finders[key], self._classifier)


@dataclass
class _File:
    """One job in flight: its parts as they come back, and when its first part started."""

    spec: JobSpec
    parts: list[FaceRows | None]
    started: float | None = None
    failed: bool = False
    retried: int = 0

    @property
    def complete(self) -> bool:
        return all(part is not None for part in self.parts)


@dataclass(frozen=True)
class _Work:
    file: int
    part: int
    chunk: Part
    attempt: int = 1


class _Pool:
    """Actors that have started (idle), are starting, or hold a part (busy). Work goes only
    to started actors, so nothing waits on an actor the cluster has no CPU for; a dead actor
    is replaced by a new one."""

    def __init__(self, ray: Any, size: int) -> None:
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_restarts=0)(ChunkAnalyser)
        self.idle: list[Any] = []
        self.starting: dict[Any, Any] = {}
        self.busy: dict[Any, tuple[Any, _Work]] = {}
        self.failed_starts = 0
        self.size = size
        for _ in range(size):
            self._start()

    def _start(self) -> None:
        actor = self._remote.remote()
        self.starting[actor.pid.remote()] = actor

    def submit(self, spec: JobSpec, work: _Work) -> None:
        actor = self.idle.pop()
        # A part carries its own snapshots; the folder's whole listing would travel with every
        # one of its batches (a folder of thousands: hundreds of MB serialised for one job).
        part_spec = replace(spec, snapshot_files=None)
        self.busy[actor.analyse.remote(part_spec, work.chunk)] = (actor, work)

    def replace(self, dead: Any) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(dead)
        self._start()

    def next_event(self) -> tuple[Any, Any, _Work] | None:
        """Wait for a part to come back: (its ref, the actor, the work); None when instead an
        actor finished starting (it joined the idle ones: give it work)."""
        (ref,), _ = self._ray.wait([*self.starting, *self.busy], num_returns=1)
        if ref in self.busy:
            actor, work = self.busy.pop(ref)
            return ref, actor, work
        actor = self.starting.pop(ref)
        try:
            self._ray.get(ref)
        except self._ray.exceptions.RayActorError as error:
            self.failed_starts += 1
            if error.actor_init_failed or self.failed_starts > 3 * self.size:
                raise _start_error(error) from error
            self.replace(actor)
            return None
        self.idle.append(actor)
        return None


def _import_ray(address: str | None = None) -> Any:
    if address:
        _token_auth_like_ray_start()  # before ray is first imported: it reads the mode then
    try:
        import ray
    except ImportError as error:
        raise InputError(
            "Ray is not installed",
            "--executor ray needs the optional extra: .venv/bin/pip install -r "
            "requirements-ray.txt (or use the local pool: --workers N).",
        ) from error
    return ray


def _runtime_env() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_PREFIXES)}
    # Workers import this checkout: on every machine it must sit at the same path.
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return {"env_vars": env}


def _token_auth_like_ray_start() -> None:
    """Send the cluster token when one is set up, as ``ray start`` does: it turns token
    authentication on when a token exists, but a driver joining it only sends the token with
    RAY_AUTH_MODE=token (else 'Authentication token is missing')."""
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if "RAY_AUTH_MODE" not in os.environ and (
        os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file()
    ):
        os.environ["RAY_AUTH_MODE"] = "token"


def _check_reachable(address: str) -> None:
    """A HOST:PORT that nothing answers on fails here, at once: ray.init would retry it for
    minutes, printing a warning every few seconds."""
    host, _, port = address.rpartition(":")
    if address == "auto":
        return  # Ray's own lookup of the cluster this machine belongs to
    if not host or not port.isdigit() or "://" in address:
        raise InputError(
            "Invalid Ray address",
            f"{address!r} is not HOST:PORT (what ray start --head prints, e.g. 10.0.0.1:6379).",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as error:
        raise InputError(
            "Ray not reachable",
            f"nothing answers at {address} ({error.strerror or error}); start the cluster "
            "with ray start --head, or leave --ray-address out to run on this machine.",
        ) from error


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[Any]:
    """Join the cluster at ``address``, or start a Ray on this machine with ``num_cpus``
    CPUs (default: all it may use) that ends with the command."""
    ray = _import_ray(address)
    options: dict[str, Any] = {
        "runtime_env": _runtime_env(),
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "include_dashboard": False,
    }
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, **options)  # None: Ray counts them (cgroups too)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise InputError(
            "Ray not reachable",
            f"could not start or join {where} ({first}); check --ray-address "
            "(ray start --head prints it) or leave it out to run on this machine.",
        ) from error
    try:
        yield ray
    finally:
        ray.shutdown()


def ingest_ray(
    kind: str,
    paths: list[Path],
    targets: list[Target],
    params: AnalysisParams,
    db_path: Path | None = None,
    force: bool = False,
    start_time: dt.datetime | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    actors: int | None = None,
) -> list[IngestSummary]:
    """Claim every file here, analyse their parts on Ray, commit file by file here.

    ``actors``: how many analyse at once (default: one per CPU of the cluster). Paths are
    made absolute: workers on other machines open them at the same path.
    """
    ray = _import_ray(address)  # before claiming anything: a missing extra stores nothing
    paths = [Path(p).resolve() for p in paths]
    with ray_session(address, num_cpus):
        summaries, specs = prepare_jobs(kind, paths, targets, params, db_path, force, start_time)
        if not specs:
            return summaries
        # One actor per CPU: an actor holds its CPU for life, so more would never start.
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = min(actors, cpus) if actors else cpus
        with jobs.heartbeat(db_path, [spec.job_id for spec in specs]):
            try:
                _run(ray, specs, size, db_path, summaries)
            except BaseException as error:
                # Interrupted (Ctrl-C) or a driver failure: no job is left 'running'.
                finished = {s.job_id for s in summaries}
                for spec in specs:
                    if spec.job_id not in finished:
                        with contextlib.suppress(ReactionError):
                            record_failure(spec.job_id, error, db_path)
                raise
    return summaries


def _run(
    ray: Any, specs: list[JobSpec], size: int, db_path: Path | None, summaries: list[IngestSummary]
) -> None:
    """Analyse every part on ``size`` actors; append each file's summary once it is settled."""
    files = [_File(spec, []) for spec in specs]
    ids = {spec.job_id for spec in specs}
    queue = _plan(files, db_path, summaries)
    pool = _Pool(ray, min(size, len(queue)))
    attempts = get_int("EMOTION_RAY_ATTEMPTS")
    bar = tqdm(total=len(queue), desc="chunks", unit="chunk")

    def settle(file: _File, summary: IngestSummary) -> None:
        summaries.append(summary)
        counts = Counter(s.status for s in summaries if s.job_id in ids)
        bar.set_postfix_str(
            f"files: {counts['done']} done, {counts['failed']} failed of {len(files)}"
        )

    try:
        while queue or pool.busy:
            while queue and pool.idle:
                work = queue.popleft()
                file = files[work.file]
                if file.failed:
                    bar.update(1)
                    continue
                file.started = file.started or time.perf_counter()
                pool.submit(file.spec, work)
            event = pool.next_event()
            if event is None:
                continue  # an actor finished starting: give it work
            ref, actor, done = event
            file = files[done.file]
            try:
                part = ray.get(ref)
            except ray.exceptions.RayActorError:
                # The actor's process is gone (killed, out of memory, machine lost): a new
                # one takes its place and the part is tried again.
                pool.replace(actor)
                if done.attempt < attempts and not file.failed:
                    file.retried += 1
                    queue.appendleft(replace(done, attempt=done.attempt + 1))
                    continue
                part = _lost(done.attempt)
            except ray.exceptions.RayTaskError as error:
                # The analysis raised (a damaged file): the actor is fine, the file failed.
                pool.idle.append(actor)
                part = error.cause if isinstance(error.cause, BaseException) else error
            else:
                pool.idle.append(actor)
            bar.update(1)
            if file.failed:
                continue
            if isinstance(part, BaseException):
                file.failed = True
                settle(file, failed_summary(file.spec, part, db_path))
                continue
            file.parts[done.part] = part
            if file.complete:
                result = assemble_job(file.spec, file.parts)  # type: ignore[arg-type]
                file.parts = []  # the rows live in ``result`` until it is committed
                seconds = time.perf_counter() - (file.started or time.perf_counter())
                summary = commit_summary(file.spec, result, seconds, db_path)
                if file.retried and summary.status == "done":
                    summary = replace(summary, message=_retried(file.retried))
                settle(file, summary)
    finally:
        bar.close()


def _plan(files: list[_File], db_path: Path | None, summaries: list[IngestSummary]) -> deque[_Work]:
    """Every file's parts, in order; a file that cannot be planned any more (its folder or
    video removed or damaged since it was claimed) fails alone, recorded as failed."""
    queue: deque[_Work] = deque()
    for i, file in enumerate(files):
        try:
            parts = plan_job(file.spec)
        except ReactionError as error:
            file.failed = True
            summaries.append(failed_summary(file.spec, error, db_path))
            continue
        file.parts = [None] * len(parts)
        queue.extend(_Work(i, j, part) for j, part in enumerate(parts))
    return queue


def _retried(chunks: int) -> str:
    return f"{chunks} chunk(s) analysed again after their Ray worker was lost"


def _lost(attempts: int) -> ReactionError:
    return ReactionError(
        "Worker lost",
        f"the Ray worker analysing this file died {attempts} time(s) "
        "(EMOTION_RAY_ATTEMPTS); nothing of it was stored, ingest it again.",
    )


def _start_error(error: Exception) -> ReactionError:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return InputError(
        "Ray workers could not start",
        f"{lines[-1] if lines else type(error).__name__}; every machine of the cluster needs "
        f"this checkout at {PROJECT_ROOT} with its .venv (make setup) and requirements-ray.txt.",
    )
