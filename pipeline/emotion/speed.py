"""Milliseconds per face of a classifier, measured the same way by the card and benchmarks."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier

# The x86 vector extensions that set the speed of onnxruntime's kernels: float32 runs twice as
# wide with AVX-512, and int8 about twice as fast again with VNNI (one instruction per
# uint8 x int8 dot product instead of three). The shipped network took 0.71 ms per face on an
# AVX-512 VNNI machine and 4.0 on an AVX2 one of the same two cores.
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """'AMD EPYC, 2 cores, avx2' : the processor a time was measured on, so that a reader
    compares milliseconds only between machines with the same vector extensions."""
    name = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    present = [flag for flag in VECTOR_FLAGS if flag in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores, " + (", ".join(present) or "no AVX2")


def ms_per_face(
    classifier: ExpressionClassifier, faces: np.ndarray, batch: int, repeats: int
) -> float:
    """Mean wall time per face over ``repeats`` calls of ``batch`` faces (after one warm-up).

    faces: uint8 (N, 48, 48) with N > batch; successive calls take different faces.
    """
    if len(faces) <= batch:
        raise ValueError(f"need more than {batch} faces, got {len(faces)}")
    classifier.predict_proba(faces[:batch])
    start = time.perf_counter()
    for r in range(repeats):
        offset = (r * batch) % (len(faces) - batch)
        classifier.predict_proba(faces[offset : offset + batch])
    return 1000 * (time.perf_counter() - start) / (repeats * batch)


def timed_in_turn(timers: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each timer's result in each of ``rounds`` rounds, the timers run in turn within a round.

    Why: on a shared 2-core machine one timing of the same file ranged over 40 % within a
    minute (2026-12-07: 1.45 to 2.11 ms per face), so a comparison of single timings taken
    one after the other says more about the neighbours than the graphs; timed in turn, each
    round's noise falls on all of them, and a median drops the rounds it hit hardest.
    """
    times: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            times[name].append(timer())
    return times


def ms_per_face_in_turn(
    classifiers: dict[str, ExpressionClassifier],
    faces: np.ndarray,
    batch: int,
    repeats: int,
    rounds: int = 5,
) -> dict[str, float]:
    """Median ms/face (:func:`ms_per_face`) of each classifier over ``rounds`` rounds timed in
    turn (:func:`timed_in_turn`)."""
    timers = {
        name: partial(ms_per_face, classifier, faces, batch, repeats)
        for name, classifier in classifiers.items()
    }
    times = timed_in_turn(timers, rounds)
    return {name: float(np.median(values)) for name, values in times.items()}
