"""Every setting of the product, in one table, read from the environment here and nowhere else.

The README documents each row (a test checks it), so a deployment never depends on an
undocumented ``os.getenv`` buried in a module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """One tunable: its environment variable, default (as text) and what it changes."""

    name: str
    default: str
    help: str
    low: float | None = None
    """Smallest valid value of a numeric setting (None: not numeric)."""
    high: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "EMOTION_DB_PATH",
        str(PROJECT_ROOT / "data" / "reactions.duckdb"),
        "DuckDB file that holds campaigns, jobs, face rows and series.",
    ),
    Setting(
        "EMOTION_FERPLUS_DIR",
        str(PROJECT_ROOT.parent / "shared" / "datasets" / "ferplus"),
        "Folder with FER+ train.npz / valid.npz (training, benchmarks, tests only).",
    ),
    Setting(
        "EMOTION_REAL_PHOTOS_DIR",
        str(PROJECT_ROOT.parent / "shared" / "datasets" / "real-photos"),
        "Folder of the real photographs with expected face counts (benchmarks, tests only).",
    ),
    Setting(
        "EMOTION_MODEL_PATH",
        str(PROJECT_ROOT / "pipeline" / "models" / "emotion.onnx"),
        "ONNX expression model; its manifest is the .json beside it.",
    ),
    Setting(
        "EMOTION_DETECTOR",
        "centerface",
        "DeepFace detector backend: centerface (five landmarks, head pose) or opencv (Haar).",
    ),
    Setting(
        "EMOTION_DETECT_EVERY",
        "3",
        "The detector runs on every k-th sampled video frame; faces are followed in between.",
        low=1,
        high=1000,
    ),
    Setting(
        "EMOTION_LOOK_YAW_DEG",
        "25",
        "A face is looking when its yaw is within this many degrees of the camera's offset.",
        low=0,
        high=180,
    ),
    Setting(
        "EMOTION_LOOK_PITCH_DEG",
        "25",
        "A face is looking when its pitch is within this many degrees of the camera's offset.",
        low=0,
        high=180,
    ),
    Setting(
        "EMOTION_FILE_WORKERS",
        "2",
        "Parts of one file analysed at once: video chunks, snapshot batches (use the cores).",
        low=1,
        high=256,
    ),
    Setting(
        "EMOTION_SNAPSHOT_BATCH",
        "16",
        "Snapshots of a folder analysed as one part (parts run at once, like video chunks).",
        low=0,  # 0: one part, the whole folder
        high=1_000_000,
    ),
    Setting(
        "EMOTION_CHUNK_S",
        "10",
        "Length (s) of the time-range chunks a long video is split into; set by the file only.",
        low=0,  # 0: one chunk, the whole file
        high=86400,
    ),
    Setting(
        "EMOTION_RAY_ATTEMPTS",
        "3",
        "Tries per chunk with --executor ray when its worker dies; then the file fails.",
        low=1,
        high=100,
    ),
    Setting(
        "EMOTION_SAMPLE_FPS",
        "5",
        "Frames per second sampled from video footage.",
        low=0.01,
        high=240,
    ),
    Setting(
        "EMOTION_MIN_FACE_PX",
        "36",
        "Faces smaller than this (side of the square the model sees, px) are skipped.",
        low=1,
        high=10000,
    ),
    Setting(
        "EMOTION_FACE_MARGIN",
        "0.0",
        "Extra margin around the detector's face box, as a share of the box side, before scoring.",
        low=0,
        high=2,
    ),
    Setting(
        "EMOTION_ALIGN_FACES",
        "0",
        "1: faces with the detector's five landmarks (CenterFace) are rotated so the eyes are "
        "level and cropped with FER+'s framing before scoring; 0: the box crop.",
        low=0,
        high=1,
    ),
    Setting(
        "EMOTION_DROP_FLAGS",
        "",
        "Quality gate: faces with any of these flags (small, blurred, profile) are not scored.",
    ),
    Setting("EMOTION_BATCH_SIZE", "64", "Faces scored per onnxruntime call.", low=1, high=4096),
    Setting(
        "EMOTION_MAX_IMAGE_PIXELS",
        "16000000",
        "Larger images are downscaled before detection.",
        low=10000,
        high=1_000_000_000,
    ),
    Setting(
        "EMOTION_MIN_CROWD",
        "5",
        "Buckets with fewer people are suppressed in views and exports.",
        low=1,
        high=1_000_000,
    ),
    Setting(
        "EMOTION_UPLOAD_MAX_MB",
        "500",
        "Largest footage file the dashboard accepts.",
        low=1,
        high=100000,
    ),
    Setting("EMOTION_UPLOAD_DIR", str(PROJECT_ROOT / "data" / "uploads"), "Where uploads wait."),
    Setting(
        "EMOTION_RETENTION_DAYS",
        "365",
        "Jobs analysed more than this many days ago are removed by `purge`, with all their rows.",
        low=0,
        high=36525,
    ),
    Setting("EMOTION_THREADS", "2", "onnxruntime intra-op threads.", low=1, high=256),
    Setting(
        "EMOTION_LOCK_WAIT_S",
        "60",
        "Seconds a command or page waits for another process to release the database file "
        "before it reports 'Database busy'.",
        low=0.1,
        high=3600,
    ),
    Setting(
        "EMOTION_API_MIN_FACE_PX",
        "36",
        "HTTP service: smallest face (px) recognize and detect report (the original API's 36).",
    ),
    Setting(
        "EMOTION_API_MAX_IMAGE_MB",
        "4",
        "HTTP service: largest image body in MB (413 above it; the original API's 4 MB).",
    ),
    Setting(
        "EMOTION_API_BODY_IDLE_S",
        "30",
        "HTTP service: seconds a request body may pause before the server answers 408 and "
        "closes the connection (a client that stops sending holds it no longer; one that "
        "trickles bytes is a reverse proxy's to limit).",
        low=0.1,
        high=3600,
    ),
    Setting(
        "EMOTION_API_HEADER_S",
        "30",
        "HTTP service: seconds a request's line and headers may take to arrive, counted from "
        "the connection opening or the previous response; then the connection is closed (a "
        "client that stalls or trickles them holds it no longer).",
        low=1,
        high=3600,
    ),
    Setting(
        "EMOTION_API_SHUTDOWN_S",
        "5",
        "HTTP service: seconds a stop (SIGTERM, Ctrl+C) waits for open connections before it "
        "cancels the requests still running and exits (an idle https connection would "
        "otherwise hold the stop for 30 s).",
        low=1,
        high=3600,
    ),
    Setting(
        "EMOTION_API_RATE_PER_MIN",
        "120",
        "HTTP service: requests per minute per key unless `keys add --rate` set one (429).",
    ),
    Setting(
        "EMOTION_API_KEY_CACHE_S",
        "5",
        "HTTP service: seconds a checked key is trusted before the database is asked again "
        "(a revoked key stops working within this time).",
    ),
    Setting(
        "EMOTION_API_URL_FOLDER",
        "",
        'HTTP service: folder whose images a JSON {"url": ...} body may name (off when empty).',
    ),
    Setting(
        "EMOTION_API_URL_HOSTS",
        "",
        'HTTP service: comma-separated hosts (host or host:port) a {"url": ...} may fetch '
        "from over http(s) (off when empty).",
    ),
    Setting(
        "EMOTION_JOB_STALE_S",
        "45",
        "A queued or running job without a heartbeat for this many seconds is shown and "
        "recorded as interrupted (its process died).",
        low=1,
        high=86400,
    ),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def get_setting(name: str) -> str:
    """The setting's value from the environment, else its default. Unknown names are a bug."""
    return os.environ.get(name, _BY_NAME[name].default)


# Numeric settings read as whole numbers (get_int); every other setting whose default is a
# number is read as a float.
_WHOLE = {
    "EMOTION_ALIGN_FACES",
    "EMOTION_API_MAX_IMAGE_MB",
    "EMOTION_API_MIN_FACE_PX",
    "EMOTION_API_RATE_PER_MIN",
    "EMOTION_API_SHUTDOWN_S",
    "EMOTION_BATCH_SIZE",
    "EMOTION_DETECT_EVERY",
    "EMOTION_FILE_WORKERS",
    "EMOTION_MAX_IMAGE_PIXELS",
    "EMOTION_MIN_CROWD",
    "EMOTION_MIN_FACE_PX",
    "EMOTION_RAY_ATTEMPTS",
    "EMOTION_RETENTION_DAYS",
    "EMOTION_SNAPSHOT_BATCH",
    "EMOTION_THREADS",
    "EMOTION_UPLOAD_MAX_MB",
}


def validate_settings() -> None:
    """Check every numeric setting up front, so a bad value stops a command (or the dashboard)
    with one clear message before any work, not halfway through a file."""
    for setting in SETTINGS:
        try:
            float(setting.default)
        except ValueError:
            continue
        if setting.name in _WHOLE:
            get_int(setting.name)
        else:
            get_float(setting.name)


def get_float(name: str) -> float:
    """A numeric setting, checked: a bad value is one clear error, never a traceback."""
    import math

    from pipeline.errors import InputError

    setting, text = _BY_NAME[name], get_setting(name)
    low = setting.low if setting.low is not None else -math.inf
    high = setting.high if setting.high is not None else math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(
            "Invalid setting", f"{name}={text!r} is not a number between {low:g} and {high:g}."
        )
    return value


def get_int(name: str) -> int:
    from pipeline.errors import InputError

    value = get_float(name)
    if not value.is_integer():
        raise InputError("Invalid setting", f"{name}={get_setting(name)!r} is not a whole number.")
    return int(value)
