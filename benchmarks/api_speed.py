"""How fast is the HTTP service? Requests/s and p50/p95 latency of ``recognize`` over real HTTP,
against the same images scored in one process through DeepFace.

Images: 640x480 JPEGs made from the real photos (../shared/datasets/real-photos): one portrait
(1 face) and a 2x2 mosaic of portraits (4 faces). Each is sent ``--requests`` times at
concurrency 1 and 4 (threads, one keep-alive session each) to ``python -m pipeline serve`` on
127.0.0.1, started here on a temporary database with a key without a practical rate limit.

The comparison runs in this process: ``DeepFace.extract_faces`` (the same CenterFace detector,
registered into DeepFace) plus our ONNX model on the faces it returns, image by image. It is
not ``DeepFace.analyze``: analyze downloads its emotion model's weights at run time (and needs
TensorFlow), which this offline product never does, so no analyze figure can be measured
here. The gap between the two rows is the price of the service: HTTP, JPEG decoding, key
check and JSON.

    .venv/bin/python benchmarks/api_speed.py [--requests 30]

Writes benchmarks/results/api_speed.json. Under a minute on 2 busy cores.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import print_table, save_json  # noqa: E402
from benchmarks.real_photo_sets import PHOTOS  # noqa: E402

KEY_HEADER = "Ocp-Apim-Subscription-Key"
PORTRAITS = ("img1.jpg", "img2.jpg", "img3.jpg", "img4.jpg")


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(
        image,
        (round(image.shape[1] * scale), round(image.shape[0] * scale)),
        interpolation=cv2.INTER_AREA,
    )
    canvas = np.full((height, width, 3), 120, np.uint8)
    y0, x0 = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def test_images() -> dict[str, np.ndarray]:
    photos = []
    for name in PORTRAITS:
        image = cv2.imread(str(PHOTOS / name))
        if image is None:
            raise SystemExit(f"real photo {name} missing from {PHOTOS}")
        photos.append(image)
    mosaic = np.vstack(
        [np.hstack([_fit(photos[r * 2 + c], 320, 240) for c in range(2)]) for r in range(2)]
    )
    return {"1 face": _fit(photos[0], 640, 480), "4 faces": mosaic}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(db: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "EMOTION_API_KEY_CACHE_S": "60"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit("the server did not start")
        try:
            if requests.get(f"{url}/openapi.json", timeout=5).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.5)
    raise SystemExit("the server did not answer")


def measure_http(url: str, key: str, body: bytes, count: int, concurrency: int) -> dict:
    headers = {KEY_HEADER: key, "Content-Type": "application/octet-stream"}
    sessions = [requests.Session() for _ in range(concurrency)]
    faces: list[int] = []

    def one(index: int) -> float:
        started = time.perf_counter()
        answer = sessions[index % concurrency].post(
            f"{url}/emotion/v1.0/recognize", data=body, headers=headers, timeout=120
        )
        answer.raise_for_status()
        faces.append(len(answer.json()))
        return time.perf_counter() - started

    for s in sessions:  # one warm request per connection
        s.post(f"{url}/emotion/v1.0/recognize", data=body, headers=headers, timeout=120)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(count)))
    wall = time.perf_counter() - started
    return _summary(latencies, wall, faces)


def _summary(latencies: list[float], wall: float, faces: list[int]) -> dict:
    ms = sorted(1000 * x for x in latencies)
    return {
        "requests": len(ms),
        "requests_per_s": round(len(ms) / wall, 2),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
        "faces_per_image": round(statistics.mean(faces), 2) if faces else 0,
    }


def measure_in_process(image: np.ndarray, count: int) -> dict:
    """DeepFace.extract_faces (our CenterFace client) + our model, one image at a time."""
    os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")
    from deepface import DeepFace

    from pipeline.emotion.classifier import shared_classifier
    from pipeline.settings import get_int
    from pipeline.vision.centerface import register_with_deepface

    register_with_deepface(get_int("EMOTION_THREADS"))
    classifier = shared_classifier()

    def once() -> int:
        found = DeepFace.extract_faces(
            image, detector_backend="centerface", enforce_detection=False, align=False
        )
        crops = [f["face"] for f in found if f.get("confidence", 0) > 0]
        if crops:
            classifier.predict_proba(crops)
        return len(crops)

    once()
    latencies, faces = [], []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        faces.append(once())
        latencies.append(time.perf_counter() - t0)
    return _summary(latencies, time.perf_counter() - started, faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="requests per row")
    args = parser.parse_args()
    images = test_images()
    bodies = {
        name: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        for name, img in images.items()
    }
    rows, results = [], []
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "api.duckdb"
        key = _cli(db, "keys", "add", "bench", "--rate", "1000000")
        process, url = start_server(db)
        try:
            for name, body in bodies.items():
                for concurrency in (1, 4):
                    r = measure_http(url, key, body, args.requests, concurrency)
                    results.append(
                        {"path": "HTTP recognize", "image": name, "concurrency": concurrency, **r}
                    )
        finally:
            process.terminate()
            process.wait(timeout=30)
    for name, image in images.items():
        r = measure_in_process(image, args.requests)
        results.append(
            {
                "path": "in process: DeepFace.extract_faces + our model",
                "image": name,
                "concurrency": 1,
                **r,
            }
        )
    for r in results:
        rows.append(
            (
                r["path"],
                r["image"],
                str(r["concurrency"]),
                f"{r['requests_per_s']:.1f}",
                f"{r['p50_ms']:.0f}",
                f"{r['p95_ms']:.0f}",
                f"{r['faces_per_image']:g}",
            )
        )
    print_table(
        "recognize on 640x480 JPEGs (real photos): requests/s and latency",
        rows,
        ("path", "image", "concurrency", "req/s", "p50 ms", "p95 ms", "faces"),
    )
    print(
        "\nDeepFace.analyze is not measured: it downloads its emotion weights at run time "
        "(and needs TensorFlow), impossible offline; the in-process rows use "
        "DeepFace.extract_faces with the same CenterFace detector plus our model."
    )
    save_json(
        "api_speed",
        {
            "images": "640x480 JPEG (quality 90) from real photos: one portrait, a 2x2 mosaic",
            "requests_per_row": args.requests,
            "deepface_analyze": "not measurable offline (downloads emotion weights at run time)",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
