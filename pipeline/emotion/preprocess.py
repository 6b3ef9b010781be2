"""The single preprocessing path used by training, export checks and inference.

Keeping one function means the model never sees pixels prepared differently at run time than
during training (the classic silent accuracy loss in hand-rolled DeepFace/fer scripts).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Side of the square grayscale crop the model takes.
INPUT_SIZE = 48


def to_gray_square(face: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Turn one face crop into the model's grayscale square.

    face: uint8 grayscale (H, W), BGR (H, W, 3) or BGRA (H, W, 4), any size. Floating-point
    crops in [0, 1] (as DeepFace's ``extract_faces`` returns them, RGB) are accepted too.
    Returns uint8 (size, size).
    """
    arr = np.asarray(face)
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"a face crop must be (H, W) or (H, W, C) with H, W > 0, got {arr.shape}")
    if arr.dtype != np.uint8:
        # DeepFace hands back float RGB in [0, 1]; anything else is clipped into that range.
        arr = np.clip(np.asarray(arr, dtype=np.float32), 0.0, 1.0)
        arr = (arr * 255.0 + 0.5).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 3:
            arr = arr[:, :, ::-1]  # RGB -> BGR, so the colour weights below stay right
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
        elif arr.shape[2] == 3:
            arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_BGR2GRAY)
        elif arr.shape[2] == 4:
            arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_BGRA2GRAY)
        else:
            raise ValueError(f"a face crop needs 1, 3 or 4 channels, got {arr.shape[2]}")
    if arr.shape != (size, size):
        shrinking = arr.shape[0] > size or arr.shape[1] > size
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        arr = cv2.resize(arr, (size, size), interpolation=interpolation)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def to_model_input(faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Stack face crops into the model's input tensor.

    Returns float32 (N, 1, 48, 48), pixel values scaled to [0, 1]. Per-image standardisation
    happens inside the model graph, so brightness and contrast need no handling here.
    """
    if isinstance(faces, np.ndarray) and faces.ndim == 3 and faces.shape[1:] == (INPUT_SIZE,) * 2:
        squares = faces.astype(np.uint8, copy=False)
    else:
        squares = (
            np.stack([to_gray_square(face) for face in faces])
            if len(faces)
            else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
        )
    return (squares.astype(np.float32) / 255.0)[:, None, :, :]
