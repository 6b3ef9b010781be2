"""Which face detector should be the default? Recall, false positives and speed, measured.

Two sets. Real photos (../shared/datasets/real-photos, scored by face counts: see
benchmarks/real_photo_sets.py): the single-face portraits, the 7-face group selfie and mosaics
of portraits (2x2 to 4x4 tiles, faces of about 30-200 px); the "multi-face set" is the selfie
plus the mosaics. Planted frames: the detectors that run offline on generated 1280x720 frames:
FER+ validation faces of 30-300 px pasted frontal or "turned" (a perspective warp imitating a
30-45 degree head yaw), plus frames with no face. A detection finds a planted face when their
boxes overlap with IoU >= 0.3 (each face matched once, best overlaps first); every detection
left unmatched is a false positive, even one that sits on a face with a poor box.

mediapipe 0.10.14 (a release whose wheel still bundles its face-detection models) declares a
second, GUI OpenCV wheel, jax and protobuf<5, so it lives in a benchmark-only venv, never in
.venv. Importing its face detection needs none of jax, opencv-contrib-python or sounddevice;
pip's warnings about them, and about streamlit's protobuf pin, do not matter here. Reproduce
from the repo root (about 2 minutes on 2 busy cores; OpenCV runs on one thread)::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -r requirements.txt
    .venv-bench/bin/pip install --no-deps mediapipe==0.10.14
    .venv-bench/bin/pip install absl-py matplotlib 'protobuf>=4.25.3,<5'
    .venv-bench/bin/pip list | grep -i opencv   # only opencv-contrib-python-headless
    .venv-bench/bin/python benchmarks/detectors.py

In .venv the same script runs and reports the mediapipe rows as not installed. Writes
benchmarks/results/detectors.json.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from benchmarks.real_photo_sets import PhotoTally, evaluate_photos
from pipeline.emotion.ferplus import load_split
from pipeline.faces import DetectedFace, FaceFinder, suppress_overlaps
from pipeline.settings import get_int
from pipeline.synthetic import compose_scene, make_background
from pipeline.tracking import Box, box_iou

SIZE_BUCKETS: tuple[tuple[int, int], ...] = ((30, 60), (60, 100), (100, 180), (180, 301))
_BUCKET_NAMES = tuple(f"{lo}-{hi - 1}px" for lo, hi in SIZE_BUCKETS)
POSES = ("frontal", "turned")
MATCH_IOU = 0.3
# Turned faces: yaw drawn from this range (degrees), camera this many face widths away. Two
# widths is a close camera, which makes the far half visibly narrower and shorter.
YAW_RANGE = (30.0, 45.0)
_CAMERA_DISTANCE = 2.0
_WARP_SIDE = 192  # the 48 px crop is warped at this size, so the warp itself blurs little

Detect = Callable[[np.ndarray], list[Box]]


@dataclass(frozen=True)
class Truth:
    """A planted face: its visible box (x, y, w, h) in frame pixels, size bucket and pose."""

    box: Box
    bucket: int
    pose: str


@dataclass(frozen=True)
class Scene:
    """A BGR uint8 (720, 1280, 3) frame and the faces planted in it (none for empty frames)."""

    frame: np.ndarray
    truths: list[Truth]


@dataclass
class Tally:
    """What one detector config found over all scenes; (bucket, pose) keys count faces."""

    found: dict[tuple[int, str], int] = field(default_factory=dict)
    planted: dict[tuple[int, str], int] = field(default_factory=dict)
    wanted: list[int] = field(default_factory=lambda: [0, 0])  # side >= min_face_px: found, all
    false_positives: int = 0
    false_positives_on_faces: int = 0  # unmatched boxes that overlap a planted face: bad boxes
    false_positives_empty: int = 0
    frames: int = 0
    empty_frames: int = 0
    ms: list[float] = field(default_factory=list)
    ms_1080p: list[float] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)

    def recall(self, buckets: range | None = None, poses: tuple[str, ...] = POSES) -> float:
        keys = [(b, p) for b in buckets or range(len(SIZE_BUCKETS)) for p in poses]
        planted = sum(self.planted.get(k, 0) for k in keys)
        return sum(self.found.get(k, 0) for k in keys) / planted if planted else float("nan")

    def by_size(self, poses: tuple[str, ...] = POSES) -> list[float]:
        return [self.recall(range(b, b + 1), poses) for b in range(len(SIZE_BUCKETS))]

    def as_dict(self) -> dict[str, object]:
        """The JSON record; rates are fractions, times milliseconds per 1280x720 frame."""
        return {
            "recall": self.recall(),
            "recall_min_face_px_and_up": self.wanted[0] / max(1, self.wanted[1]),
            "recall_by_size": dict(zip(_BUCKET_NAMES, self.by_size(), strict=True)),
            "recall_by_size_and_pose": {
                p: dict(zip(_BUCKET_NAMES, self.by_size((p,)), strict=True)) for p in POSES
            },
            "recall_by_pose": {p: self.recall(poses=(p,)) for p in POSES},
            "false_positives_per_frame": self.false_positives / self.frames,
            "false_positives_overlapping_a_face": self.false_positives_on_faces,
            "false_positives_per_empty_frame": self.false_positives_empty / self.empty_frames,
            "ms_per_frame_median": statistics.median(self.ms),
            "ms_per_frame_mean": statistics.fmean(self.ms),
            "ms_per_1080p_frame_median": statistics.median(self.ms_1080p),
            "mean_iou_of_matches": statistics.fmean(self.ious) if self.ious else None,
            "planted": {f"{b}/{p}": n for (b, p), n in sorted(self.planted.items())},
        }


def turn_face(face: np.ndarray, yaw_deg: float, left: bool) -> tuple[np.ndarray, float, float]:
    """Warp a grayscale face as if the head turned by ``yaw_deg`` (a planar face rotated about
    its vertical axis, seen in perspective). Returns the (S, S) uint8 image and the visible
    face's horizontal extent as fractions of S; the near edge keeps the full height.
    """
    size = _WARP_SIDE
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    yaw = np.radians(yaw_deg) * (1 if left else -1)
    distance = _CAMERA_DISTANCE * size
    projected = []
    for u, v in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)):
        x, depth = u * size * np.cos(yaw), u * size * np.sin(yaw)
        projected.append((x / (distance + depth), v * size / (distance + depth)))
    # Scale so the nearer (taller) edge spans the full height, centred on the turning axis.
    left_edge, right_edge = projected[3][1] - projected[0][1], projected[2][1] - projected[1][1]
    scale = size / max(left_edge, right_edge)
    dst = np.array([(size / 2 + x * scale, size / 2 + y * scale) for x, y in projected], np.float32)
    src = np.array([(0, 0), (size - 1, 0), (size - 1, size - 1), (0, size - 1)], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(big, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpPerspective(np.ones_like(big, np.float32), matrix, (size, size))
    inside = cv2.GaussianBlur(inside, (0, 0), sigmaX=size / 40)  # no sharp trapezoid outline
    # Outside the turned face: its own pixels blurred, like the head paste_face draws around it.
    blurred = cv2.GaussianBlur(warped, (0, 0), sigmaX=size / 12).astype(np.float32)
    out = inside * warped + (1 - inside) * blurred
    left_x, right_x = float(dst[:, 0].min()), float(dst[:, 0].max())
    return out.astype(np.uint8), left_x / size, right_x / size


def build_scenes(face_frames: int, empty_frames: int, seed: int) -> list[Scene]:
    """Frames with 1-5 planted faces (size bucket and pose taken in turn, so every cell of the
    recall table gets about the same count), then frames with none."""
    split = load_split("valid")
    candidates = np.flatnonzero(split.majority_labels() >= 0)
    rng = np.random.default_rng(seed)
    scenes, counter = [], 0
    for _ in range(face_frames):
        faces, sides, specs = [], [], []
        for _ in range(int(rng.integers(1, 6))):
            bucket, pose = counter % len(SIZE_BUCKETS), POSES[(counter // len(SIZE_BUCKETS)) % 2]
            counter += 1
            face = split.images[int(rng.choice(candidates))]
            extent = (0.0, 1.0)
            if pose == "turned":
                face, *span = turn_face(face, float(rng.uniform(*YAW_RANGE)), rng.random() < 0.5)
                extent = (span[0], span[1])
            low, high = SIZE_BUCKETS[bucket]
            faces.append(face)
            sides.append(int(rng.integers(low, high)))
            specs.append((bucket, pose, extent))
        frame, planted = compose_scene(rng, faces, [0] * len(faces), sides)
        truths = []
        for p in planted:
            bucket, pose, (x0, x1) = specs[p.index]
            box = (p.x + round(x0 * p.side), p.y, round((x1 - x0) * p.side), p.side)
            truths.append(Truth(box, bucket, pose))
        scenes.append(Scene(frame, truths))
    scenes += [Scene(make_background(rng, 720, 1280), []) for _ in range(empty_frames)]
    return scenes


def match(detections: list[Box], truths: list[Truth]) -> tuple[list[float | None], list[int]]:
    """Greedy one-to-one matching by IoU >= MATCH_IOU, best overlaps first.

    Returns the IoU of each truth's match (None when missed) and the unmatched detections.
    """
    pairs = sorted(
        ((box_iou(d, t.box), i, j) for i, d in enumerate(detections) for j, t in enumerate(truths)),
        reverse=True,
    )
    matched: list[float | None] = [None] * len(truths)
    used: set[int] = set()
    for iou, i, j in pairs:
        if iou < MATCH_IOU:
            break
        if i not in used and matched[j] is None:
            used.add(i)
            matched[j] = iou
    return matched, [i for i in range(len(detections)) if i not in used]


def evaluate(detect: Detect, scenes: list[Scene], min_face_px: int) -> Tally:
    """Run one detector over every scene; the first call (model loading) is not timed."""
    detect(scenes[0].frame)
    tally = Tally()
    for scene in scenes:
        start = time.perf_counter()
        boxes = detect(scene.frame)
        tally.ms.append(1000 * (time.perf_counter() - start))
        if len(tally.ms_1080p) < 16:  # the same frame upscaled to 1920x1080: time only
            big = cv2.resize(scene.frame, (1920, 1080), interpolation=cv2.INTER_LINEAR)
            start = time.perf_counter()
            detect(big)
            tally.ms_1080p.append(1000 * (time.perf_counter() - start))
        matched, unmatched = match(boxes, scene.truths)
        tally.frames += 1
        tally.false_positives += len(unmatched)
        tally.false_positives_on_faces += sum(
            any(box_iou(boxes[i], t.box) > 0 for t in scene.truths) for i in unmatched
        )
        if not scene.truths:
            tally.empty_frames += 1
            tally.false_positives_empty += len(unmatched)
        for truth, iou in zip(scene.truths, matched, strict=True):
            key = (truth.bucket, truth.pose)
            tally.planted[key] = tally.planted.get(key, 0) + 1
            if iou is not None:
                tally.found[key] = tally.found.get(key, 0) + 1
                tally.ious.append(iou)
            if truth.box[3] >= min_face_px:
                tally.wanted[0] += iou is not None
                tally.wanted[1] += 1
    return tally


def _deepface_defaults() -> Detect:
    """The naive baseline: DeepFace's own defaults on the full frame (align pads it to 4x the
    pixels). Called raw, without FaceFinder's NMS, on purpose."""
    from deepface import DeepFace  # after pipeline.faces, which pins the onnx engine

    def detect(frame: np.ndarray) -> list[Box]:
        results = DeepFace.extract_faces(
            frame, detector_backend="opencv", align=True, enforce_detection=False
        )
        boxes = []
        for r in results:
            area = r["facial_area"]  # type: ignore[index]
            # Nothing found comes back as the whole frame at confidence 0: not a detection.
            if float(r.get("confidence") or 0.0) <= 0.0:  # type: ignore[union-attr]
                continue
            boxes.append((int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])))
        return boxes

    return detect


def _finder(detector: str, min_face_px: int) -> Detect:
    finder = FaceFinder(detector, min_face_px=min_face_px)
    return lambda frame: [(f.x, f.y, f.w, f.h) for f in finder.find(frame)]


def _mediapipe(model_selection: int) -> Detect:
    """FaceFinder("mediapipe") with DeepFace's model choice (0 = short range, its default;
    1 = full range), which DeepFace reads from the environment once, when it builds the model."""
    importlib.import_module("mediapipe.python.solutions.face_detection")
    from deepface.modules import modeling

    os.environ["MEDIAPIPE_MODEL_SELECTION"] = str(model_selection)
    # DeepFace keeps one detector per name for the process: drop it so the new choice is read.
    getattr(modeling, "cached_models", {}).get("face_detector", {}).pop("mediapipe", None)
    detect = _finder("mediapipe", min_face_px=24)
    detect(np.zeros((720, 1280, 3), np.uint8))  # build it now, while the variable holds
    return detect


def _mediapipe_tiled(tile: int = 360, overlap: int = 120) -> Detect:
    """mediapipe's short-range model called directly (not through DeepFace) on the whole frame
    and on overlapping tiles, boxes merged by FaceFinder's NMS.

    The model sees a 128 px input, so in a whole 720p frame a 100 px face shrinks to ~18 px and
    is lost; in a 360 px tile it keeps ~36 px. Tiles overlap by 120 px so that a face up to that
    size lies whole in some tile; bigger ones are found by the whole-frame pass.
    """
    solution = importlib.import_module("mediapipe.python.solutions.face_detection")
    # DeepFace's threshold (MEDIAPIPE_MIN_DETECTION_CONFIDENCE defaults to 0.7).
    model = solution.FaceDetection(model_selection=0, min_detection_confidence=0.7)

    def run(rgb: np.ndarray, x0: int, y0: int, crop: np.ndarray) -> list[DetectedFace]:
        height, width = rgb.shape[:2]
        found = []
        for d in model.process(np.ascontiguousarray(rgb)).detections or []:
            b = d.location_data.relative_bounding_box
            box = (x0 + int(b.xmin * width), y0 + int(b.ymin * height))
            size = (int(b.width * width), int(b.height * height))
            found.append(DetectedFace(*box, *size, float(d.score[0]), crop))
        return found

    def detect(frame: np.ndarray) -> list[Box]:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        found = run(rgb, 0, 0, frame)
        step = tile - overlap
        xs = sorted({*range(0, width - tile, step), width - tile})
        ys = sorted({*range(0, height - tile, step), height - tile})
        for y0 in ys:
            for x0 in xs:
                found += run(rgb[y0 : y0 + tile, x0 : x0 + tile], x0, y0, frame)
        return [(f.x, f.y, f.w, f.h) for f in suppress_overlaps(found)]

    return detect


def _cascades(files: tuple[str, ...], mirror_last: bool, min_neighbors: int) -> Detect:
    """OpenCV cascades called directly (not through DeepFace) on the full grayscale frame,
    merged by FaceFinder's NMS. ``mirror_last`` also runs the last cascade on the mirrored
    frame: the profile cascade only knows faces turned one way."""
    folder = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
    models = [cv2.CascadeClassifier(str(folder / f)) for f in files]

    def detect(frame: np.ndarray) -> list[Box]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        width = gray.shape[1]
        runs = [(m, gray, False) for m in models]
        if mirror_last:
            runs.append((models[-1], cv2.flip(gray, 1), True))
        found: list[DetectedFace] = []
        for model, image, mirrored in runs:
            boxes, _, weights = model.detectMultiScale3(
                image, 1.1, min_neighbors, minSize=(24, 24), outputRejectLevels=True
            )
            for (x, y, w, h), weight in zip(boxes, weights, strict=True):
                x = width - x - w if mirrored else x
                found.append(DetectedFace(int(x), int(y), int(w), int(h), float(weight), gray))
        return [(f.x, f.y, f.w, f.h) for f in suppress_overlaps(found)]

    return detect


BASELINE = "deepface-opencv (DeepFace defaults: align, full frame)"
OURS_48 = "deepface-opencv (previous default: FaceFinder min_face_px=48)"
OURS_24 = "deepface-opencv (FaceFinder min_face_px=24)"
CENTER_36 = "deepface-centerface (ours, default: FaceFinder min_face_px=36)"
CENTER_24 = "deepface-centerface (FaceFinder min_face_px=24)"
MP_SHORT = "deepface-mediapipe short-range (DeepFace default)"
MP_FULL = "deepface-mediapipe full-range (MEDIAPIPE_MODEL_SELECTION=1)"
MP_TILED = "mediapipe direct (not through DeepFace): short-range, frame + 360px tiles"
ALT2 = "cv2 direct (not through DeepFace): frontalface_alt2"
PROFILE = "cv2 direct (not through DeepFace): default + profile + mirrored profile"
CONFIGS: tuple[tuple[str, Callable[[], Detect]], ...] = (
    (BASELINE, _deepface_defaults),
    (OURS_48, lambda: _finder("opencv", 48)),
    (OURS_24, lambda: _finder("opencv", 24)),
    (CENTER_36, lambda: _finder("centerface", 36)),
    (CENTER_24, lambda: _finder("centerface", 24)),
    (MP_SHORT, lambda: _mediapipe(0)),
    (MP_FULL, lambda: _mediapipe(1)),
    (MP_TILED, _mediapipe_tiled),
    (ALT2, lambda: _cascades(("haarcascade_frontalface_alt2.xml",), False, 5)),
    (
        PROFILE,
        lambda: _cascades(
            ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml"), True, 10
        ),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--face-frames", type=int, default=64)
    parser.add_argument("--empty-frames", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the machine is shared; one thread makes the ms figures comparable
    scenes = build_scenes(args.face_frames, args.empty_frames, args.seed)
    min_face_px = get_int("EMOTION_MIN_FACE_PX")
    tallies: dict[str, Tally] = {}
    photos: dict[str, PhotoTally] = {}
    skipped: dict[str, str] = {}
    for name, make in CONFIGS:
        try:
            detect = make()
        except ImportError as error:
            skipped[name] = f"not installed in this environment ({error})"
            continue
        except Exception as error:  # e.g. mediapipe next to a protobuf it cannot use
            skipped[name] = f"installed but fails to load: {type(error).__name__}: {error}"
            continue
        tallies[name] = evaluate(detect, scenes, min_face_px)
        photos[name] = evaluate_photos(detect)
        print(f"done: {name}", flush=True)
    setup = {
        "frames": len(scenes),
        "empty_frames": sum(not s.truths for s in scenes),
        "faces": sum(len(s.truths) for s in scenes),
        "match": f"IoU >= {MATCH_IOU}, greedy one-to-one",
        "turned_yaw_deg": YAW_RANGE,
        "seed": args.seed,
        "min_face_px": min_face_px,
        "cv2_threads": 1,
    }
    _print_photo_table(photos)
    _print_tables(tallies, skipped, setup)
    print("\n" + recommendation(tallies, photos))
    results = {
        name: {**t.as_dict(), "real_photos": photos[name].as_dict()} for name, t in tallies.items()
    }
    save_json("detectors", {"setup": setup, "results": results, "skipped": skipped})


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{value:.0%}"


def _print_tables(tallies: dict[str, Tally], skipped: dict[str, str], setup: dict) -> None:
    header = ("config", "recall", f">={setup['min_face_px']}px", *_BUCKET_NAMES)
    header += ("frontal", "turned", "FP/frame", "FP/empty", "ms 720p", "ms 1080p")
    rows = [
        (
            name,
            _pct(t.recall()),
            _pct(t.wanted[0] / max(1, t.wanted[1])),
            *(_pct(v) for v in t.by_size()),
            *(_pct(t.recall(poses=(p,))) for p in POSES),
            f"{t.false_positives / t.frames:.2f}",
            f"{t.false_positives_empty / t.empty_frames:.2f}",
            f"{statistics.median(t.ms):.0f}",
            f"{statistics.median(t.ms_1080p):.0f}",
        )
        for name, t in tallies.items()
    ]
    print_table(
        f"Face detectors on {setup['frames']} 1280x720 frames ({setup['empty_frames']} empty) "
        f"with {setup['faces']} faces; match {setup['match']}",
        rows,
        header,
    )
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    on_faces = sum(t.false_positives_on_faces for t in tallies.values())
    total = sum(t.false_positives for t in tallies.values())
    print(f"{on_faces} of the {total} false positives overlap a planted face (a box too far off)")
    rows = [
        (name, *(f"{_pct(a)} / {_pct(b)}" for a, b in zip(*pair, strict=True)))
        for name, pair in ((n, [t.by_size((p,)) for p in POSES]) for n, t in tallies.items())
    ]
    print_table("Recall by face size, frontal / turned", rows, ("config", *_BUCKET_NAMES))


def _print_photo_table(photos: dict[str, PhotoTally]) -> None:
    if not photos:
        return
    names = list(next(iter(photos.values())).sets)
    rows = [
        (
            name,
            *(
                f"{_pct(t.recall(n))} ({t.sets[n][0]}/{t.sets[n][1]}), FP {t.fp_per_image(n):.2f}"
                for n in names
            ),
        )
        for name, t in photos.items()
    ]
    print_table(
        "Real photos: faces found (found/expected), false positives per image",
        rows,
        ("config", *names),
    )


def recommendation(tallies: dict[str, Tally], photos: dict[str, PhotoTally]) -> str:
    """The closing paragraph, its figures filled in from this run."""

    def multi(name: str) -> str:
        return _pct(photos[name].recall("multi-face set")) if name in photos else "n/a"

    def ms(name: str, big: bool = False) -> str:
        if name not in tallies:
            return "n/a"
        return f"{statistics.median(tallies[name].ms_1080p if big else tallies[name].ms):.0f} ms"

    def fp(name: str, set_name: str) -> str:
        return f"{photos[name].fp_per_image(set_name):.2f}" if name in photos else "n/a"

    def selfie(name: str) -> str:
        return str(photos[name].sets["group selfie"][0]) if name in photos else "n/a"

    return (
        f"Default: CenterFace through DeepFace ({CENTER_36}). On the multi-face set it finds "
        f"{multi(CENTER_36)} of the faces against {multi(OURS_48)} for the previous Haar "
        f"default ({multi(CENTER_24)} vs {multi(OURS_24)} with both at 24 px), "
        f"{selfie(CENTER_36)} of the 7 selfie faces (Haar {selfie(OURS_48)}), with "
        f"{fp(CENTER_36, 'portraits')} false boxes per portrait (Haar {fp(OURS_48, 'portraits')}) "
        f"and {fp(CENTER_36, 'multi-face set')} per multi-face image (Haar "
        f"{fp(OURS_48, 'multi-face set')}), in {ms(CENTER_36)} per 720p frame and "
        f"{ms(CENTER_36, True)} per 1080p frame (Haar {ms(OURS_48)} and {ms(OURS_48, True)}); "
        "and it gives the five landmarks that head pose needs. Planted FER+ faces: recall "
        f"{_pct(tallies[CENTER_36].recall()) if CENTER_36 in tallies else 'n/a'} against "
        f"{_pct(tallies[OURS_48].recall()) if OURS_48 in tallies else 'n/a'}."
    )


if __name__ == "__main__":
    main()
