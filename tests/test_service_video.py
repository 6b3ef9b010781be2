"""The video operation over real HTTP: 202 with Operation-Location, Not Started / Running to
Succeeded, and a result whose windows are the product's own series of that file, minimum crowd
applied; plus the shape of withheld windows (a fast unit test of the result builder)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from pipeline.emotion.labels import LABELS
from pipeline.service.video_result import processing_result
from tests.real_photos import SELFIE, panning_clip, photo, tiled
from tests.test_service_server import (
    Server,
    add_key,
    cli,
    partial_post,
    read_until_closed,
    running_server,
)

VIDEO = "/emotion/v1.0/recognizeinvideo"
BINARY = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def video_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict]]:
    root = tmp_path_factory.mktemp("video")
    db = root / "video.duckdb"
    assert cli(db, "campaigns", "add", "Ad test").returncode == 0
    assert cli(db, "campaigns", "add", "Lab study").returncode == 0
    assert cli(db, "consent", "Lab study", "--by", "test lead").returncode == 0
    keys = {
        "video": add_key(db, "lab", "--campaign", "Ad test", "--stimulus", "Spot"),
        "solo": add_key(db, "solo", "--campaign", "Ad test", "--stimulus", "Solo spot"),
        "consented": add_key(db, "panel", "--campaign", "Lab study", "--stimulus", "Spot"),
        "other": add_key(db, "client"),
    }
    env = {
        "EMOTION_API_KEY_CACHE_S": "0",
        "EMOTION_UPLOAD_DIR": str(root / "uploads"),
        "EMOTION_FILE_WORKERS": "1",
        "EMOTION_UPLOAD_MAX_MB": "2",
        "EMOTION_API_BODY_IDLE_S": "3",
    }
    with running_server(db, env) as server:
        yield server, keys


def _wait(server: Server, location: str, key: str) -> tuple[dict, list[str]]:
    seen = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        answer = server.get(location.removeprefix(server.url), key)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen.append(body["status"])
        if body["status"] in ("Succeeded", "Failed"):
            return body, seen
        time.sleep(1.0)
    raise AssertionError(f"operation never ended: {seen[-5:]}")


def test_video_operation_matches_the_products_series(video_service, tmp_path) -> None:
    from pipeline.audience.read import campaign_min_crowd, series
    from pipeline.store import catalog
    from pipeline.store.database import connect

    server, keys = video_service
    clip = panning_clip(tmp_path / "pan.mp4", photo(SELFIE), seconds=4.0, fps=10.0)
    data = clip.read_bytes()
    refused = server.post(VIDEO, keys["other"], data=data, headers=BINARY)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PermissionDenied"
    not_video = server.post(VIDEO, keys["video"], data=b"hello, not a video", headers=BINARY)
    assert not_video.status_code == 400 and not_video.json()["error"]["code"] == "BadArgument"

    assert len(data) < 2 * 1024 * 1024
    too_big = server.post(VIDEO, keys["video"], data=b"\0" * (2 * 1024 * 1024 + 1), headers=BINARY)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "InvalidVideoSize"
    started = server.post(VIDEO, keys["video"], data=data, headers=BINARY)
    assert started.status_code == 202, started.text
    location = started.headers["Operation-Location"]
    assert location.startswith(f"{server.url}/emotion/v1.0/operations/")
    stranger = server.get(location.removeprefix(server.url), keys["other"])
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "NotFound"

    body, seen = _wait(server, location, keys["video"])
    assert set(seen) <= {"Not Started", "Running", "Succeeded"}, seen
    assert body["status"] == "Succeeded", body
    assert body["progress"] == 100.0
    result = json.loads(body["processingResult"])
    assert {"version", "timescale", "offset", "framerate", "width", "height", "fragments"} <= set(
        result
    )
    assert (result["width"], result["height"]) == (960, 540)
    assert result["framerate"] == pytest.approx(10.0, abs=0.01)
    fragments = result["fragments"]
    assert len(fragments) == 4  # 4 s in 1 s windows
    assert [f["start"] for f in fragments] == [i * result["timescale"] for i in range(4)]

    operation_id = location.rsplit("/", 1)[-1]
    with connect(server.db, read_only=True) as con:
        job_id = con.execute(
            "SELECT job_id FROM api_operations WHERE operation_id = ?", [operation_id]
        ).fetchone()[0]
        source_id = con.execute(
            "SELECT source_id FROM ingest_jobs WHERE job_id = ?", [job_id]
        ).fetchone()[0]
        stimulus = catalog.get_stimulus(con, catalog.get_campaign(con, "Ad test"), "Spot")
        min_crowd = campaign_min_crowd(con, stimulus.campaign_id)
        expected = series(con, stimulus.stimulus_id, 1.0, False, min_crowd, source_id)
    shown = expected[~expected["suppressed"]]
    assert len(shown) >= 1, "seven people: some windows pass the minimum crowd of 5"
    with_events = [f for f in fragments if "events" in f]
    assert len(with_events) == len(shown)
    for (_, row), fragment in zip(shown.iterrows(), with_events, strict=True):
        assert fragment["start"] == round(row["bucket_offset_s"] * result["timescale"])
        event = fragment["events"][0][0]
        for name in LABELS:
            assert event["windowMeanScores"][name] == pytest.approx(row[f"mean_{name}"], abs=1e-5)
            assert event["windowFaceDistribution"][name] == pytest.approx(
                row[f"share_{name}"], abs=1e-5
            )
        assert max(event["windowMeanScores"], key=event["windowMeanScores"].get) == "happiness"
    # The same bytes again: stored once, and the new operation answers with those numbers.
    again = _run(server, keys["video"], data)
    assert again == result
    with connect(server.db, read_only=True) as con:
        done = con.execute(
            "SELECT count(*) FROM ingest_jobs j JOIN sources s USING (source_id) "
            "WHERE s.stimulus_id = ? AND j.status = 'done'",
            [stimulus.stimulus_id],
        ).fetchone()[0]
    assert done == 1, "analysed once"
    # The spooled uploads are deleted when their jobs end.
    uploads = server.db.parent / "uploads"
    deadline = time.monotonic() + 60
    while [p for p in uploads.iterdir() if p.is_file()] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [p for p in uploads.iterdir() if p.is_file()], "no video is kept"


def _run(server: Server, key: str, data: bytes) -> dict:
    started = server.post(VIDEO, key, data=data, headers=BINARY)
    assert started.status_code == 202, started.text
    body, _ = _wait(server, started.headers["Operation-Location"], key)
    assert body["status"] == "Succeeded", body
    return json.loads(body["processingResult"])


def test_one_respondent_is_withheld_unless_the_campaign_is_a_consented_study(
    video_service, tmp_path
) -> None:
    server, keys = video_service
    clip = panning_clip(tmp_path / "solo.mp4", photo("img1.jpg"), seconds=3.0, fps=10.0)
    crowd = _run(server, keys["solo"], clip.read_bytes())
    assert len(crowd["fragments"]) == 3
    assert not any("events" in f for f in crowd["fragments"]), "1 person < minimum crowd 5"
    study = _run(server, keys["consented"], clip.read_bytes())
    assert sum("events" in f for f in study["fragments"]) >= 2, "consented: minimum crowd 1"


def test_an_operation_whose_worker_died_is_reported_failed(video_service) -> None:
    import socket
    import subprocess
    import sys

    from pipeline.store.database import connect

    server, keys = video_service
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with connect(server.db) as con:
        key_id = con.execute("SELECT key_id FROM api_keys WHERE name = 'lab'").fetchone()[0]
        source_id = con.execute("SELECT min(source_id) FROM sources").fetchone()[0]
        job_id = con.execute(
            "INSERT INTO ingest_jobs (source_id, input_name, content_hash, params_hash, params, "
            "model_version, detector, status, worker_host, worker_pid) VALUES (?, 'x.mp4', 'h', "
            "'p', '{}', 'v', 'centerface', 'running', ?, ?) RETURNING job_id",
            [source_id, socket.gethostname(), gone.pid],
        ).fetchone()[0]
        con.execute(
            "INSERT INTO api_operations (operation_id, key_id, job_id, window_s, width, height, "
            "framerate, duration_s) VALUES ('dead-op', ?, ?, 1.0, 640, 480, 25.0, 4.0)",
            [key_id, job_id],
        )
    body = server.get("/emotion/v1.0/operations/dead-op", keys["video"]).json()
    assert body["status"] == "Failed"
    assert "interrupted" in body["message"].lower()


def test_an_operation_whose_results_the_retention_period_removed_is_not_found(
    video_service,
) -> None:
    """Purge deletes a job past the retention period and its operation with it; an operation
    that answered from that job as the stored twin of its own (the same video sent again), and
    one an older release's purge left without its job, get the API's NotFound body, never a
    server error or a stale "Already ingested"."""
    from pipeline.store import catalog
    from pipeline.store.database import connect

    server, keys = video_service
    operation = (
        "INSERT INTO api_operations (operation_id, key_id, job_id, window_s, width, height, "
        "framerate, duration_s) VALUES (?, ?, ?, 1.0, 640, 480, 25.0, 4.0)"
    )
    job = (
        "INSERT INTO ingest_jobs (source_id, input_name, content_hash, params_hash, params, "
        "model_version, detector, status, error_title, created_at) VALUES (?, 'old.mp4', 'old', "
        "'p', '{}', 'v', 'centerface', ?, ?, current_timestamp - to_days(?)) RETURNING job_id"
    )
    with connect(server.db) as con:
        key_id = con.execute("SELECT key_id FROM api_keys WHERE name = 'lab'").fetchone()[0]
        campaign = catalog.get_campaign(con, "Ad test")
        stimulus = catalog.ensure_stimulus(con, campaign, "Spot", "ad", None)
        source_id = catalog.ensure_source(con, stimulus, "footage", "old.mp4").source_id
        old = con.execute(job, [source_id, "done", None, 400]).fetchone()[0]
        again = con.execute(job, [source_id, "failed", "Already ingested", 0]).fetchone()[0]
        con.execute(operation, ["old-op", key_id, old])
        con.execute(operation, ["again-op", key_id, again])
        con.execute(operation, ["orphan-op", key_id, old + 1000])
    for name in ("old-op", "again-op"):
        answer = server.get(f"/emotion/v1.0/operations/{name}", keys["video"])
        assert answer.status_code == 200 and answer.json()["status"] == "Succeeded", answer.text
    orphan = server.get("/emotion/v1.0/operations/orphan-op", keys["video"])
    assert orphan.status_code == 404 and orphan.json()["error"]["code"] == "NotFound"
    assert "no longer stored" in orphan.json()["error"]["message"]
    uploads = {"EMOTION_UPLOAD_DIR": str(server.db.parent / "uploads")}
    purge = cli(server.db, "purge", "--older-than-days", "365", env=uploads)
    assert purge.returncode == 0, purge.stderr
    assert "2 API video operations" in purge.stdout, purge.stdout  # old-op and orphan-op
    for name in ("old-op", "again-op", "orphan-op"):
        answer = server.get(f"/emotion/v1.0/operations/{name}", keys["video"])
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "NotFound"


def test_an_operation_follows_its_video_analysed_again_with_force_into_its_own_source(
    video_service, tmp_path
) -> None:
    """`ingest --force` replaces the job an operation answers from. Into the operation's own
    source the operation follows the new job and answers as before; into another source it
    would answer with that source's people, so it answers NotFound instead."""
    from pipeline.store.database import connect

    server, keys = video_service
    clip = panning_clip(tmp_path / "again.mp4", photo(SELFIE), seconds=2.0, fps=10.0)
    started = server.post(VIDEO, keys["video"], data=clip.read_bytes(), headers=BINARY)
    assert started.status_code == 202, started.text
    location = started.headers["Operation-Location"]
    before, _ = _wait(server, location, keys["video"])
    assert before["status"] == "Succeeded", before
    with connect(server.db, read_only=True) as con:
        source = con.execute(
            "SELECT s.name FROM api_operations o JOIN ingest_jobs j USING (job_id) "
            "JOIN sources s USING (source_id) WHERE o.operation_id = ?",
            [location.rsplit("/", 1)[-1]],
        ).fetchone()[0]
    target = ("--campaign", "Ad test", "--stimulus", "Spot", "--force")
    forced = cli(server.db, "ingest", str(clip), *target, "--source", source)
    assert forced.returncode == 0 and ": done" in forced.stdout, forced.stdout + forced.stderr
    after, _ = _wait(server, location, keys["video"])
    assert after["status"] == "Succeeded", after
    assert json.loads(after["processingResult"]) == json.loads(before["processingResult"])
    elsewhere = cli(server.db, "ingest", str(clip), *target, "--source", "lab-room")
    assert elsewhere.returncode == 0 and ": done" in elsewhere.stdout, elsewhere.stderr
    answer = server.get(location.removeprefix(server.url), keys["video"])
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "NotFound"


def test_a_video_stored_beside_others_answers_with_its_own_people(video_service, tmp_path) -> None:
    """A video that a CLI ingest stored in a source beside other videos, sent to the API: the
    operation answers with that file's own people ("Already ingested"), not the source's, and
    keeps answering so after another video joins the source (each window shown only where
    every file in it is a crowd of its own, read.job_series)."""
    from pipeline.audience.read import series
    from pipeline.store import catalog
    from pipeline.store.database import connect

    server, _ = video_service
    key = add_key(server.db, "twin", "--campaign", "Ad test", "--stimulus", "Twin spot")
    selfie = panning_clip(tmp_path / "selfie.mp4", photo(SELFIE), seconds=2.0, fps=10.0)
    portraits = [photo(f"img{n}.jpg") for n in (1, 2, 4, 5, 6, 7, 8, 9)]
    others = panning_clip(tmp_path / "others.mp4", tiled(portraits, 4, (240, 270)), 2.0, 10.0)
    room = ("--campaign", "Ad test", "--stimulus", "Twin spot", "--source", "room")
    stored = cli(server.db, "ingest", str(selfie), *room)
    assert stored.returncode == 0 and ": done" in stored.stdout, stored.stdout + stored.stderr
    started = server.post(VIDEO, key, data=selfie.read_bytes(), headers=BINARY)
    assert started.status_code == 202, started.text
    location = started.headers["Operation-Location"]
    body, _ = _wait(server, location, key)
    assert body["status"] == "Succeeded", body
    own = json.loads(body["processingResult"])
    assert any("events" in f for f in own["fragments"]), "seven people: a window is shown"
    with connect(server.db, read_only=True) as con:
        # The operation's job and the done jobs of its file in its stimulus (the stored twin).
        answered = con.execute(
            "SELECT j.error_title, s.name FROM api_operations o JOIN ingest_jobs j USING (job_id) "
            "JOIN sources mine ON mine.source_id = j.source_id JOIN ingest_jobs d "
            "ON d.content_hash = j.content_hash AND d.status = 'done' "
            "JOIN sources s ON s.source_id = d.source_id AND s.stimulus_id = mine.stimulus_id "
            "WHERE o.operation_id = ?",
            [location.rsplit("/", 1)[-1]],
        ).fetchall()
    assert answered == [("Already ingested", "room")], "answered by the stored twin"

    joined = cli(server.db, "ingest", str(others), *room)
    assert joined.returncode == 0 and ": done" in joined.stdout, joined.stdout + joined.stderr
    with connect(server.db, read_only=True) as con:
        stimulus = catalog.get_stimulus(con, catalog.get_campaign(con, "Ad test"), "Twin spot")
        source_id = con.execute(
            "SELECT source_id FROM sources WHERE stimulus_id = ? AND name = 'room'",
            [stimulus.stimulus_id],
        ).fetchone()[0]
        pooled = series(con, stimulus.stimulus_id, 1.0, False, 5, source_id)
    first = next(f for f in own["fragments"] if "events" in f)
    offset = first["start"] / own["timescale"]
    room_mean = pooled.set_index("bucket_offset_s").loc[offset, "mean_happiness"]
    own_mean = first["events"][0][0]["windowMeanScores"]["happiness"]
    assert room_mean == room_mean and own_mean == own_mean  # both shown: not NaN
    assert room_mean != pytest.approx(own_mean, abs=1e-4), "the room's series mixes both files"
    after, _ = _wait(server, location, key)
    assert json.loads(after["processingResult"]) == own, "the same file's people, before and after"
    assert _run(server, key, selfie.read_bytes()) == own  # sent once more


def test_withheld_windows_look_like_windows_without_faces() -> None:
    def row(offset: float, suppressed: bool, happy: float) -> dict:
        values = {f"mean_{n}": 0.0 for n in LABELS} | {f"share_{n}": 0.0 for n in LABELS}
        values.update(mean_happiness=happy, share_happiness=1.0)
        if suppressed:
            values = {k: float("nan") for k in values}
        return {"bucket_offset_s": offset, "suppressed": suppressed, "faces": 9, **values}

    table = pd.DataFrame([row(0.0, False, 0.8), row(2.0, True, 0.9), row(3.0, False, 0.6)])
    result = processing_result(table, 1.0, 4.5, 25.0, 640, 480)
    fragments = result["fragments"]
    assert len(fragments) == 5  # 4.5 s: five windows, the last one partly filled
    assert [("events" in f) for f in fragments] == [True, False, False, True, False]
    assert fragments[1] == {"start": 1000, "duration": 1000}  # no faces
    assert fragments[2] == {
        "start": 2000,
        "duration": 1000,
    }  # withheld: not told apart from no faces
    assert fragments[3]["events"][0][0]["windowMeanScores"]["happiness"] == 0.6
    assert fragments[3]["interval"] == 1000
    assert "0.9" not in json.dumps(result)


def test_a_stalled_or_abandoned_video_upload_leaves_no_spooled_file(video_service) -> None:
    """A video body that stops arriving is answered 408 after EMOTION_API_BODY_IDLE_S (3 s
    here), one whose client hangs up is dropped, and neither leaves its partial spool in the
    upload folder (it would hold disk space, and footage, until the next start)."""
    server, keys = video_service
    uploads = server.log.parent / "uploads"
    with partial_post(server, VIDEO, keys["video"], 1_000_000, b"\0" * 200_000) as stalled:
        head, body = read_until_closed(stalled)
    assert head.startswith(b"HTTP/1.1 408 ") and b"RequestTimeout" in body, head + body
    partial_post(server, VIDEO, keys["video"], 1_000_000, b"\0" * 200_000).close()
    hung_up = "Client hung up during POST /emotion/v1.0/recognizeinvideo"
    deadline = time.monotonic() + 60
    while hung_up not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert hung_up in server.log.read_text()
    assert not list(uploads.glob("*.part"))
