"""Command line: ingest footage and snapshots, manage campaigns, export, purge.

Every failure ends with a non-zero exit and one line saying what went wrong and what to do;
tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from tqdm import tqdm

from pipeline.analysis import AnalysisParams, params_from_settings
from pipeline.errors import ReactionError
from pipeline.settings import get_float, get_int, get_setting, validate_settings


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` and exit 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def _number(
    low: float, high: float, whole: bool = False, low_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] ((low, high] with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > low if low_open else value >= low
        if not (math.isfinite(value) and above and value <= high) or (
            whole and not value.is_integer()
        ):
            kind = "a whole number" if whole else "a number"
            bound = f"above {low:g}" if low_open else f"from {low:g}"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind} {bound} to {high:g}")
        return int(value) if whole else value

    parse.__name__ = "number"
    return parse


def one_line(text: str) -> str:
    """``text`` as one line of terminal output: control and format characters from a file or
    folder name (a line break, a terminal escape) are written as escapes (\\n, \\x1b)."""
    return "".join(
        c.encode("unicode_escape").decode() if unicodedata.category(c) in ("Cc", "Cf") else c
        for c in text
    )


def _iso_time(text: str) -> dt.datetime:
    """An argparse type: an ISO 8601 time, as timezone-naive UTC (UTC when it has no zone)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-03-14T09:30:00"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


_SECONDS = _number(0, 10_000_000)
_POSITIVE_SECONDS = _number(0, 10_000_000, low_open=True)
_BUCKET = _number(0, 366 * 86400, low_open=True)
_FPS = _number(0, 240, low_open=True)
_COUNT = _number(1, 1_000_000, whole=True)


def _params(args: argparse.Namespace) -> AnalysisParams:
    return params_from_settings(
        sample_fps=args.fps,
        detector=args.detector,
        min_face_px=args.min_face,
        start_s=getattr(args, "start", None),
        end_s=getattr(args, "end", None),
    )


def _add_analysis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", required=True, help="campaign name (must exist)")
    parser.add_argument("--stimulus", required=True, help="stimulus name (created if new)")
    parser.add_argument(
        "--kind",
        default=None,
        choices=["display", "ad", "product"],
        help="stimulus kind when it is created",
    )
    parser.add_argument(
        "--duration", type=_POSITIVE_SECONDS, default=None, help="ad length in seconds"
    )
    parser.add_argument(
        "--fps",
        type=_FPS,
        default=get_float("EMOTION_SAMPLE_FPS"),
        help="frames sampled per second of footage",
    )
    parser.add_argument("--detector", default=get_setting("EMOTION_DETECTOR"))
    parser.add_argument(
        "--min-face", type=_number(1, 10_000, whole=True), default=get_int("EMOTION_MIN_FACE_PX")
    )
    parser.add_argument("--force", action="store_true", help="re-analyse what is stored")
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file")


class _Progress:
    """tqdm bar with frames/s and faces found, fed by the ingest progress callback."""

    def __init__(self, name: str) -> None:
        self._bar = tqdm(
            total=100,
            desc=one_line(name)[:30],
            unit="%",
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
        )
        self._start = time.perf_counter()

    def __call__(self, fraction: float, frames: int, faces: int) -> None:
        rate = frames / max(1e-6, time.perf_counter() - self._start)
        self._bar.n = round(fraction * 100)
        self._bar.set_postfix_str(f"{frames} frames, {faces} faces, {rate:.1f} frames/s")

    def close(self) -> None:
        self._bar.close()


def _cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline.ingest import IngestSummary, Target, ingest

    kind = "images" if args.command in ("ingest-images", "watch") else "video"
    stimulus_kind = args.kind or ("display" if kind == "images" else "ad")
    source_kind = "camera" if kind == "images" else "footage"
    start_time = getattr(args, "start_time", None)
    params = _params(args)
    # Absolute, so that "." is named after the folder it is.
    paths = [Path(p).absolute() for p in (args.paths if kind == "video" else [args.folder])]
    workers = getattr(args, "workers", None)
    targets = [
        Target(
            args.campaign,
            args.stimulus,
            stimulus_kind,
            args.source or p.name,
            source_kind,
            args.duration,
        )
        for p in paths
    ]
    summaries = []
    if args.executor == "ray":
        from pipeline.ray_executor import ingest_ray

        summaries = ingest_ray(
            kind,
            paths,
            targets,
            params,
            args.db,
            args.force,
            start_time,
            address=args.ray_address,
            num_cpus=args.ray_cpus,
            actors=workers,
        )
    elif kind == "video" and workers is not None and workers > 1 and len(paths) > 1:
        from pipeline.workers import ingest_parallel

        summaries = ingest_parallel(paths, targets, params, workers, args.db, args.force)
    else:
        for path, target in tqdm(
            list(zip(paths, targets, strict=True)),
            desc="files",
            unit="file",
            disable=len(paths) < 2,
        ):
            bar = _Progress(path.name)
            try:
                summaries.append(
                    ingest(kind, path, target, params, args.db, args.force, start_time, bar)
                )
            except ReactionError as error:
                if len(paths) == 1:
                    raise  # one file: its one-line error, exit 2
                # Several files: this one fails alone, as with --workers and Ray.
                summaries.append(IngestSummary(path.name, "failed", None, message=error.message))
            finally:
                bar.close()
    for s in summaries:
        print(
            f"{one_line(s.input_name)}: {s.status}"
            + (
                f" (job {s.job_id}: {s.frames} frames, {s.faces} faces, {s.tracks} tracked faces, "
                f"{s.frames_per_s:.1f} frames/s{'; ' + s.message if s.message else ''})"
                if s.status == "done"
                else f" ({one_line(s.message)})"
            )
        )
    return 0


def _add_executor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this machine (default); ray: Ray actors, on a cluster with --ray-address "
        "(needs requirements-ray.txt)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="join the Ray cluster at this address (ray start --head prints it); without "
        "it, a Ray is started on this machine for the command",
    )
    parser.add_argument(
        "--ray-cpus",
        type=_number(1, 100_000, whole=True),
        default=None,
        help="CPUs of the Ray started on this machine (default: all)",
    )


def _cmd_watch(args: argparse.Namespace) -> int:
    from pipeline.ingest import Target, ingest
    from pipeline.sources.images import IMAGE_SUFFIXES
    from pipeline.sources.watch import watch_folder

    params = _params(args)
    target = Target(
        args.campaign,
        args.stimulus,
        args.kind or "display",
        args.camera or Path(args.folder).absolute().name,
        "camera",
    )
    deadline = time.monotonic() + args.seconds if args.seconds else None
    done = 0

    def stop() -> bool:
        return (deadline is not None and time.monotonic() > deadline) or (
            args.max_files is not None and done >= args.max_files
        )

    for path in watch_folder(Path(args.folder), poll_s=args.poll, stop=stop):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            summary = ingest("images", path, target, params, args.db, args.force)
            print(f"{one_line(path.name)}: {summary.status}, {summary.faces} faces", flush=True)
        except ReactionError as error:
            print(
                f"{one_line(path.name)}: skipped: {error.title}: {one_line(error.message)}",
                flush=True,
            )
        done += 1
    return 0


def _cmd_camera(args: argparse.Namespace) -> int:
    from pipeline.camera_job import run_camera

    params = _params(args)
    return run_camera(args, params)


def _confirm(args: argparse.Namespace, what: str) -> None:
    """Deleting needs --yes: a typo must not erase a campaign's measurements."""
    from pipeline.errors import InputError

    if not args.yes:
        raise InputError(
            "Not confirmed", f"deleting {what} removes all its rows; add --yes to confirm."
        )


def _cmd_campaigns(args: argparse.Namespace) -> int:
    from pipeline.errors import InputError
    from pipeline.store import catalog, manage
    from pipeline.store.database import connect

    if args.action in ("add", "rename", "delete") and not args.name:
        raise InputError("Missing name", f"campaigns {args.action} needs the campaign's NAME.")
    if args.action == "rename" and not args.new_name:
        raise InputError("Missing name", "campaigns rename needs OLD and NEW names.")
    with connect(args.db) as con:
        if args.action == "add":
            campaign = catalog.create_campaign(con, args.name, args.description or "")
            print(f"created campaign {campaign.name!r} (id {campaign.campaign_id})")
        elif args.action == "rename":
            campaign = manage.rename_campaign(con, args.name, args.new_name)
            print(f"renamed campaign {args.name!r} to {campaign.name!r}")
        elif args.action == "delete":
            catalog.get_campaign(con, args.name)
            _confirm(args, f"campaign {args.name!r}")
            gone = manage.delete_campaign(con, args.name)
            print(f"deleted campaign {args.name!r}: {gone.summary()}")
        else:
            for c in catalog.list_campaigns(con):
                print(f"{c.campaign_id}\t{c.name}\t{c.description}")
    return 0


def _cmd_stimuli(args: argparse.Namespace) -> int:
    from pipeline.errors import InputError
    from pipeline.store import catalog, manage
    from pipeline.store.database import connect

    if args.action != "list" and not args.name:
        raise InputError("Missing name", f"stimuli {args.action} needs CAMPAIGN and NAME.")
    if args.action == "rename" and not args.new_name:
        raise InputError("Missing name", "stimuli rename needs CAMPAIGN, OLD and NEW names.")
    if args.action == "segments" and args.segments is None:
        raise InputError("Missing segments", "stimuli segments needs --segments.")
    with connect(args.db) as con:
        campaign = catalog.get_campaign(con, args.campaign)
        if args.action == "rename":
            stimulus = manage.rename_stimulus(con, args.campaign, args.name, args.new_name)
            print(f"renamed stimulus {args.name!r} to {stimulus.name!r}")
        elif args.action == "delete":
            catalog.get_stimulus(con, campaign, args.name)
            _confirm(args, f"stimulus {args.name!r}")
            gone = manage.delete_stimulus(con, args.campaign, args.name)
            print(f"deleted stimulus {args.name!r}: {gone.summary()}")
        elif args.action == "segments":
            stimulus = catalog.get_stimulus(con, campaign, args.name)
            segments = parse_segments(args.segments)
            catalog.set_segments(con, stimulus, segments)
            print(f"set {len(segments)} segments of {stimulus.name!r}")
        elif args.action == "add":
            stimulus = catalog.create_stimulus(con, campaign, args.name, args.kind, args.duration)
            if args.segments:
                catalog.set_segments(con, stimulus, parse_segments(args.segments))
            print(f"created {stimulus.kind} {stimulus.name!r} (id {stimulus.stimulus_id})")
        else:
            for s in catalog.list_stimuli(con, campaign):
                print(f"{s.stimulus_id}\t{s.kind}\t{s.name}\t{s.duration_s or ''}")
    return 0


def parse_segments(text: str) -> list:
    """'intro:0-5,product:5-12' -> [Segment('intro', 0, 5), Segment('product', 5, 12)]."""
    from pipeline.errors import InputError
    from pipeline.store.catalog import Segment

    segments = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            name, span = part.rsplit(":", 1)
            start, end = (float(v) for v in span.split("-", 1))
        except ValueError as error:
            raise InputError("Invalid segments", f"{part!r} is not NAME:START-END.") from error
        if not all(math.isfinite(v) and 0 <= v <= 10_000_000 for v in (start, end)):
            raise InputError("Invalid segments", f"{part!r}: times must be 0 to 10000000 s.")
        segments.append(Segment(name.strip(), start, end))
    return segments


def _cmd_zones(args: argparse.Namespace) -> int:
    from pipeline.errors import InputError
    from pipeline.store import catalog
    from pipeline.store.database import connect

    try:
        zones = catalog.validate_zones(json.loads(args.zones))
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise InputError(
            "Invalid exclusion zone",
            "Give JSON polygons of [x, y] points between 0 and 1, e.g. "
            "[[[0,0],[0.3,0],[0.3,1],[0,1]]].",
        ) from error
    with connect(args.db) as con:
        campaign = catalog.get_campaign(con, args.campaign)
        stimulus = catalog.get_stimulus(con, campaign, args.stimulus)
        source = catalog.ensure_source(con, stimulus, "camera", args.camera, exclusion_zones=zones)
    print(f"{len(source.exclusion_zones)} exclusion zone(s) set for camera {source.name!r}")
    return 0


def _cmd_time_zone(args: argparse.Namespace) -> int:
    from pipeline.errors import InputError
    from pipeline.store import catalog, zones
    from pipeline.store.database import connect

    if (args.stimulus is None) != (args.camera is None):
        raise InputError("Missing name", "time-zone needs both --stimulus and --camera, or none.")
    clear = args.zone is not None and args.zone.strip().lower() == "default"
    zone = None if args.zone is None or clear else zones.check_zone(args.zone)
    with connect(args.db) as con:
        campaign = catalog.get_campaign(con, args.campaign)
        if args.stimulus is not None:
            stimulus = catalog.get_stimulus(con, campaign, args.stimulus)
            source = catalog.ensure_source(con, stimulus, "camera", args.camera)
            if args.zone is not None:
                zones.set_source_zone(con, source.source_id, zone)
        elif args.zone is not None:
            zones.set_campaign_zone(con, campaign.campaign_id, zone)
        default = zones.campaign_zone(con, campaign.campaign_id)
        print(f"campaign {campaign.name!r}: {default or zones.DEFAULT_ZONE}")
        for stimulus in catalog.list_stimuli(con, campaign):
            for _, name, _, own, used in zones.source_settings(con, stimulus.stimulus_id):
                origin = "" if own else " (campaign default)"
                print(f"  {stimulus.name!r} / {name!r}: {used}{origin}")
    return 0


def _cmd_camera_angle(args: argparse.Namespace) -> int:
    from pipeline.store import catalog
    from pipeline.store.database import connect

    with connect(args.db) as con:
        campaign = catalog.get_campaign(con, args.campaign)
        stimulus = catalog.get_stimulus(con, campaign, args.stimulus)
        source = catalog.ensure_source(con, stimulus, "camera", args.camera)
        source = catalog.set_view_offsets(con, source, args.yaw, args.pitch)
    print(
        f"camera {source.name!r}: looking means yaw {source.yaw_offset_deg:+g} and pitch "
        f"{source.pitch_offset_deg:+g} degrees, within the cone of the settings"
    )
    return 0


def _cmd_rollups(args: argparse.Namespace) -> int:
    from pipeline.store import rollups
    from pipeline.store.database import connect, transaction

    with connect(args.db) as con:
        if args.rebuild:
            started = time.perf_counter()
            with transaction(con):
                rollups.rebuild(con)
            print(f"rebuilt the rollups in {time.perf_counter() - started:.1f} s")
        for table, rows in rollups.sizes(con).items():
            print(f"{table}: {rows:,} rows")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from pipeline.store.database import connect
    from pipeline.store.retention import purge_older_than
    from pipeline.uploads import sweep_uploads

    with connect(args.db) as con:
        removed = purge_older_than(con, args.older_than_days)
    swept = sweep_uploads(args.db)
    print(
        f"removed {removed['face_observations']} face rows and {removed['jobs']} jobs older "
        f"than {args.older_than_days} days, {removed['orphan_rows']} rows of jobs deleted "
        f"before, {removed['operations']} API video operations, "
        f"{removed['files'] + len(swept)} uploaded files"
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from pipeline.exports import export_to_file

    path = export_to_file(
        args.format,
        Path(args.out),
        args.campaign,
        args.stimulus,
        args.bucket,
        args.db,
        min_crowd=args.min_crowd,
    )
    print(f"wrote {path}")
    return 0


def _cmd_consent(args: argparse.Namespace) -> int:
    from pipeline.errors import InputError
    from pipeline.store import catalog
    from pipeline.store import people as store_people
    from pipeline.store.database import connect

    who = args.by.strip()
    if not who:
        raise InputError("Who records the consent?", "--by must name a person or role.")
    with connect(args.db) as con:
        campaign = catalog.get_campaign(con, args.campaign)
        store_people.set_consent(con, campaign.campaign_id, not args.withdraw, who, args.note)
        state = store_people.consent(con, campaign.campaign_id)
    if state is None:
        print(f"campaign {campaign.name!r} is no longer a consented study (recorded by {who})")
    else:
        print(
            f"campaign {campaign.name!r} is a consented study: minimum crowd may be 1 "
            f"(recorded by {who} at {state['set_at']:%Y-%m-%d %H:%M})"
        )
    return 0


def _cmd_run_job(args: argparse.Namespace) -> int:
    from pipeline.uploads import run_queued_job

    run_queued_job(args.job_id, args.db)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import build_demo, rebuild_demo

    if args.rebuild:
        print(rebuild_demo())
    summary = build_demo(args.db, if_missing=args.if_missing)
    print(summary)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pipeline.service.app import create_app
    from pipeline.service.header_deadline import with_header_deadline

    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.ssl_certfile:
        print(
            f"warning: serving on {args.host} without TLS; keys and images cross the network "
            "in clear (see the README: --ssl-certfile/--ssl-keyfile or a reverse proxy)",
            file=sys.stderr,
        )
    uvicorn.run(
        create_app(args.db),
        host=args.host,
        port=args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        log_level=args.log_level,
        http=with_header_deadline(get_float("EMOTION_API_HEADER_S")),
        # Without a bound, a stop after any https request waited 30 s: asyncio keeps an idle
        # TLS connection open until the client's close_notify, which HTTP clients never send.
        timeout_graceful_shutdown=get_int("EMOTION_API_SHUTDOWN_S"),
    )
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from pipeline.errors import InputError
    from pipeline.service import keys
    from pipeline.store.database import connect

    with connect(args.db) as con:
        if args.action == "add":
            if not args.name:
                raise InputError("Missing name", "keys add needs a NAME for the key.")
            scope = args.scope or keys.infer_scope(args.campaign, args.stimulus, args.camera)
            key, record = keys.create_key(
                con, args.name, scope, args.campaign, args.stimulus, args.camera, args.rate
            )
            print(key, flush=True)
            print(
                f"created {record.describe()} key {record.name!r} (id {record.key_id}); "
                "it is shown only this once",
                file=sys.stderr,
            )
        elif args.action == "revoke":
            if not args.name:
                raise InputError("Missing name", "keys revoke needs the NAME (or id) of a key.")
            for record in keys.revoke_key(con, args.name):
                print(f"revoked key {record.name!r} (id {record.key_id})")
        else:
            for k in keys.list_keys(con):
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
                print(
                    f"{k.key_id}\t{k.name}\t{k.describe()}\t{k.prefix}...\t"
                    f"{k.rate_per_min or '-'}/min\t{state}"
                )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="analyse video files (mp4/mov/avi/mkv/webm)")
    p.add_argument("paths", nargs="+")
    _add_analysis_args(p)
    p.add_argument("--source", default=None, help="source name (default: the file name)")
    p.add_argument("--start", type=_SECONDS, default=0.0, help="first second to analyse")
    p.add_argument("--end", type=_POSITIVE_SECONDS, default=None, help="last second to analyse")
    p.add_argument(
        "--start-time",
        type=_iso_time,
        default=None,
        help="ISO time the footage began, UTC unless it has a zone (clock view)",
    )
    p.add_argument(
        "--workers",
        type=_number(1, 4096, whole=True),
        default=None,
        help="parallel worker processes (1); with --executor ray, Ray actors (one per CPU)",
    )
    _add_executor_args(p)
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("ingest-images", help="analyse a folder of camera snapshots")
    p.add_argument("folder")
    _add_analysis_args(p)
    p.add_argument(
        "--source",
        "--camera",
        dest="source",
        default=None,
        help="camera name (default: the folder name)",
    )
    _add_executor_args(p)
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("watch", help="ingest snapshots as a camera drops them in a folder")
    p.add_argument("folder")
    _add_analysis_args(p)
    p.add_argument("--camera", default=None)
    p.add_argument("--poll", type=_number(0.01, 3600), default=1.0)
    p.add_argument("--seconds", type=_POSITIVE_SECONDS, default=None, help="stop after this long")
    p.add_argument("--max-files", type=_COUNT, default=None, help="stop after this many files")
    p.set_defaults(func=_cmd_watch)

    p = sub.add_parser("camera", help="grab a frame every N seconds from a camera URL")
    p.add_argument("url")
    _add_analysis_args(p)
    p.add_argument("--camera", default=None, help="camera name (default: the URL's host)")
    p.add_argument("--every", type=_number(0.01, 86400), default=5.0, help="seconds between grabs")
    p.add_argument(
        "--timeout", type=_number(0.1, 3600), default=10.0, help="seconds to wait for the camera"
    )
    p.add_argument("--retries", type=_number(0, 1000, whole=True), default=3)
    p.add_argument(
        "--batch",
        type=_number(1, 10_000, whole=True),
        default=12,
        help="snapshots committed per job",
    )
    p.add_argument("--max-frames", type=_COUNT, default=None)
    p.set_defaults(func=_cmd_camera)

    p = sub.add_parser("campaigns", help="list, add, rename or delete campaigns")
    p.add_argument("action", choices=["list", "add", "rename", "delete"])
    p.add_argument("name", nargs="?")
    p.add_argument("new_name", nargs="?", help="rename: the new name")
    p.add_argument("--yes", action="store_true", help="delete: confirm removing all its rows")
    p.add_argument("--description", default="")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_campaigns)

    p = sub.add_parser("stimuli", help="list, add, rename or delete stimuli; set segments")
    p.add_argument("action", choices=["list", "add", "rename", "delete", "segments"])
    p.add_argument("campaign")
    p.add_argument("name", nargs="?")
    p.add_argument("new_name", nargs="?", help="rename: the new name")
    p.add_argument("--yes", action="store_true", help="delete: confirm removing all its rows")
    p.add_argument("--kind", default="ad", choices=["display", "ad", "product"])
    p.add_argument("--duration", type=_POSITIVE_SECONDS, default=None)
    p.add_argument("--segments", default=None, help="e.g. intro:0-5,product:5-12")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_stimuli)

    p = sub.add_parser("zones", help="set a camera's exclusion zones (staff areas)")
    p.add_argument("campaign")
    p.add_argument("stimulus")
    p.add_argument("camera")
    p.add_argument("zones", help="JSON polygons, e.g. [[[0,0],[0.3,0],[0.3,1],[0,1]]]")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_zones)

    p = sub.add_parser(
        "camera-angle",
        help="where a camera sits relative to its display: the head angles of a person "
        "who looks at the display (e.g. --yaw -20 for a camera 20 degrees to their right)",
    )
    p.add_argument("campaign")
    p.add_argument("stimulus")
    p.add_argument("camera")
    p.add_argument("--yaw", type=float, default=0.0, help="degrees, > 0: the person's left")
    p.add_argument("--pitch", type=float, default=0.0, help="degrees, > 0: up")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_camera_angle)

    p = sub.add_parser(
        "time-zone",
        help="the IANA time zone of a campaign's cameras (e.g. Europe/Berlin; default UTC), "
        "or of one camera with --stimulus and --camera; clock-time views use local time",
    )
    p.add_argument("campaign")
    p.add_argument(
        "zone", nargs="?", help="IANA name, or 'default' to follow the campaign (or UTC)"
    )
    p.add_argument("--stimulus", default=None)
    p.add_argument("--camera", default=None, help="source name (a camera or a footage source)")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_time_zone)

    p = sub.add_parser("rollups", help="show the rollup tables; --rebuild remakes them")
    p.add_argument("--rebuild", action="store_true", help="remake every rollup from the face rows")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_rollups)

    p = sub.add_parser("purge", help="delete face rows older than the retention period")
    p.add_argument(
        "--older-than-days",
        type=_number(0, 36_525, whole=True),
        default=get_int("EMOTION_RETENTION_DAYS"),
    )
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_purge)

    p = sub.add_parser(
        "export", help="export series: csv, parquet, json (Emotion API), html or pdf report"
    )
    p.add_argument("--campaign", required=True)
    p.add_argument("--stimulus", default=None)
    p.add_argument(
        "--format",
        required=True,
        choices=["csv", "parquet", "json", "html", "pdf", "verdicts"],
        help="verdicts: CSV of the A/B verdicts between the campaign's stimuli",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--bucket", type=_BUCKET, default=None, help="bucket size in seconds")
    p.add_argument(
        "--min-crowd",
        type=_COUNT,
        default=None,
        help="people per bucket below which figures are withheld; may only raise "
        "EMOTION_MIN_CROWD (1 is allowed for a consented study)",
    )
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "consent",
        help="mark a campaign as a consented study (respondents agreed to be analysed one by "
        "one): its minimum crowd may go down to 1; recorded with who and when",
    )
    p.add_argument("campaign")
    p.add_argument("--by", required=True, help="who records the consent (name or role)")
    p.add_argument("--note", default="", help="e.g. where the signed consent forms are kept")
    p.add_argument("--withdraw", action="store_true", help="end the consented study")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_consent)

    p = sub.add_parser("run-job", help="run a queued upload job (used by the dashboard)")
    p.add_argument("job_id", type=_COUNT)
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_run_job)

    p = sub.add_parser(
        "serve", help="run the Emotion-API-compatible HTTP service (FastAPI on uvicorn)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--ssl-certfile", default=None, help="TLS certificate (PEM) for https")
    p.add_argument("--ssl-keyfile", default=None, help="TLS private key (PEM) for https")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info"])
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("keys", help="add, list or revoke keys of the HTTP service")
    p.add_argument("action", choices=["add", "list", "revoke"])
    p.add_argument("name", nargs="?", help="key name (add, revoke) or id (revoke)")
    p.add_argument(
        "--scope",
        default=None,
        choices=["recognize", "push", "video"],
        help="default: push with --camera, video with --campaign/--stimulus, else recognize",
    )
    p.add_argument("--campaign", default=None, help="push and video keys: the campaign")
    p.add_argument("--stimulus", default=None, help="push and video keys: the stimulus")
    p.add_argument("--camera", default=None, help="push keys: the camera (source) name")
    p.add_argument("--rate", type=int, default=None, help="requests per minute for this key")
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_keys)

    p = sub.add_parser("demo", help="build the demo campaign into the database")
    p.add_argument("--if-missing", action="store_true", help="only when the database is new")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="regenerate data/demo from FER+ with the real pipeline first",
    )
    p.add_argument("--db", type=Path, default=None)
    p.set_defaults(func=_cmd_demo)
    return parser


# Verbs that may create the database file; every other verb refuses a path that does not
# exist, so a mistyped --db is an error instead of a new, empty store reported as success.
_CREATES_DATABASE = {("campaigns", "add"), ("demo", None), ("keys", "add")}


def _require_database(args: argparse.Namespace) -> None:
    from pipeline.errors import StoreError
    from pipeline.store.database import default_db_path

    if (args.command, getattr(args, "action", None)) in _CREATES_DATABASE:
        return
    path = args.db or default_db_path()
    if not Path(path).is_file():
        raise StoreError(
            "Database not found",
            f"{path} does not exist; check --db or EMOTION_DB_PATH "
            "(`campaigns add` creates a new database).",
        )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        validate_settings()
        args = build_parser().parse_args(argv)
        _require_database(args)
        return int(args.func(args))
    except ReactionError as error:
        print(f"error: {error.title}: {one_line(error.message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing of the unfinished job was stored", file=sys.stderr)
        return 130
