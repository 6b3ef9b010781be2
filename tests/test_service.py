"""The HTTP service over real HTTP: recognize and detect on real photos, keys, error shapes,
limits, image URLs and snapshot push, against ``python -m pipeline serve`` in a subprocess."""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from pipeline.emotion.labels import LABELS
from tests.real_photos import PHOTOS, SELFIE, SELFIE_FACES
from tests.test_service_server import (
    Server,
    add_key,
    cli,
    partial_post,
    read_until_closed,
    running_server,
)

RECOGNIZE = "/emotion/v1.0/recognize"
DETECT = "/face/v1.0/detect"
BINARY = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    root = tmp_path_factory.mktemp("service")
    db = root / "service.duckdb"
    allowed = root / "allowed"
    allowed.mkdir()
    shutil.copy(PHOTOS / SELFIE, allowed / SELFIE)
    assert cli(db, "campaigns", "add", "Store test").returncode == 0
    keys = {
        "recognize": add_key(db, "client"),
        "push": add_key(
            db, "door-cam", "--campaign", "Store test", "--stimulus", "Window", "--camera", "door"
        ),
        "limited": add_key(db, "slow", "--rate", "2"),
        "shelf-a": add_key(
            db, "shelf-a", "--campaign", "Store test", "--stimulus", "Shelf", "--camera", "a"
        ),
        "shelf-b": add_key(
            db, "shelf-b", "--campaign", "Store test", "--stimulus", "Shelf", "--camera", "b"
        ),
        "to_revoke": add_key(db, "old"),
    }
    (allowed / "sub").mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(allowed))
    images = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    env = {
        "EMOTION_API_KEY_CACHE_S": "0",
        "EMOTION_UPLOAD_DIR": str(root / "uploads"),
        "EMOTION_API_URL_FOLDER": str(allowed),
        "EMOTION_API_URL_HOSTS": f"127.0.0.1:{images.server_port}",
        "EMOTION_API_BODY_IDLE_S": "3",
    }
    try:
        with running_server(db, env) as server:
            server.image_host = f"http://127.0.0.1:{images.server_port}"  # type: ignore[attr-defined]
            yield server, keys
    finally:
        images.shutdown()


def _image(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


def _check_faces(faces: list[dict]) -> None:
    for face in faces:
        assert set(face) == {"faceRectangle", "scores"}
        assert set(face["faceRectangle"]) == {"left", "top", "width", "height"}
        assert all(isinstance(v, int) for v in face["faceRectangle"].values())
        assert list(face["scores"]) == list(LABELS)
        assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    areas = [f["faceRectangle"]["width"] * f["faceRectangle"]["height"] for f in faces]
    assert areas == sorted(areas, reverse=True), "largest face first"


def test_recognize_group_photo_finds_every_face(service) -> None:
    server, keys = service
    answer = server.post(RECOGNIZE, keys["recognize"], data=_image(SELFIE), headers=BINARY)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    faces = answer.json()
    assert len(faces) >= SELFIE_FACES
    _check_faces(faces)
    # The photo is of smiling friends: most faces read as happiness.
    top = [max(f["scores"], key=f["scores"].get) for f in faces]
    assert top.count("happiness") >= len(faces) // 2


def test_recognize_reads_the_original_image_formats(service) -> None:
    import io

    from PIL import Image

    server, keys = service
    jpeg = server.post(RECOGNIZE, keys["recognize"], data=_image(SELFIE), headers=BINARY).json()
    picture = Image.open(PHOTOS / SELFIE)
    for fmt in ("PNG", "BMP", "TIFF", "GIF", "WEBP"):
        buffer = io.BytesIO()
        picture.save(buffer, fmt)
        answer = server.post(RECOGNIZE, keys["recognize"], data=buffer.getvalue(), headers=BINARY)
        assert answer.status_code == 200, (fmt, answer.text)
        faces = answer.json()
        assert len(faces) >= SELFIE_FACES, fmt
        if fmt in ("PNG", "BMP", "TIFF"):  # lossless: the very pixels of the decoded JPEG
            assert faces == jpeg, fmt


def test_recognize_given_rectangles_scores_them_as_detected(service) -> None:
    server, keys = service
    image = _image("img1.jpg")
    detected = server.post(RECOGNIZE, keys["recognize"], data=image, headers=BINARY).json()
    assert len(detected) >= 1
    _check_faces(detected)
    boxes = ";".join(
        ",".join(str(f["faceRectangle"][k]) for k in ("left", "top", "width", "height"))
        for f in detected
    )
    given = server.post(
        RECOGNIZE, keys["recognize"], data=image, headers=BINARY, params={"faceRectangles": boxes}
    )
    assert given.status_code == 200, given.text
    for a, b in zip(detected, given.json(), strict=True):
        assert a["faceRectangle"] == b["faceRectangle"]
        for name in LABELS:
            assert a["scores"][name] == pytest.approx(b["scores"][name], abs=1e-4)
    outside = server.post(
        RECOGNIZE,
        keys["recognize"],
        data=image,
        headers=BINARY,
        params={"faceRectangles": "0,0,100000,20"},
    )
    assert outside.status_code == 400
    assert outside.json()["error"]["code"] == "BadArgument"


def test_face_api_detect_gives_emotion_and_head_pose(service) -> None:
    server, keys = service
    image = _image(SELFIE)
    recognized = server.post(RECOGNIZE, keys["recognize"], data=image, headers=BINARY).json()
    answer = server.post(
        DETECT,
        keys["recognize"],
        data=image,
        headers=BINARY,
        params={"returnFaceAttributes": "emotion,headPose"},
    )
    assert answer.status_code == 200, answer.text
    faces = answer.json()
    assert [f["faceRectangle"] for f in faces] == [f["faceRectangle"] for f in recognized]
    for face, same in zip(faces, recognized, strict=True):
        assert face["faceAttributes"]["emotion"] == pytest.approx(same["scores"], abs=1e-5)
        pose = face["faceAttributes"]["headPose"]
        assert set(pose) == {"pitch", "roll", "yaw"}
        assert all(-180 <= v <= 180 for v in pose.values())
    # Mostly people facing the camera: yaw within 45 degrees for most.
    yaws = [abs(f["faceAttributes"]["headPose"]["yaw"]) for f in faces]
    assert np.median(yaws) < 45
    bare = server.post(DETECT, keys["recognize"], data=image, headers=BINARY).json()
    assert all(set(f) == {"faceRectangle"} for f in bare)
    marked = server.post(
        DETECT,
        keys["recognize"],
        data=image,
        headers=BINARY,
        params={"returnFaceLandmarks": "true"},
    ).json()
    for face in marked:
        box, points = face["faceRectangle"], face["faceLandmarks"]
        assert list(points) == ["pupilLeft", "pupilRight", "noseTip", "mouthLeft", "mouthRight"]
        assert points["pupilLeft"]["x"] < points["pupilRight"]["x"]  # picture order
        nose = points["noseTip"]
        assert box["left"] <= nose["x"] <= box["left"] + box["width"]
        assert box["top"] <= nose["y"] <= box["top"] + box["height"]
        # A face cut by the picture's edge has its box clipped, its points not: some slack.
        slack_x, slack_y = box["width"] / 4, box["height"] / 4
        for point in points.values():
            assert box["left"] - slack_x <= point["x"] <= box["left"] + box["width"] + slack_x
            assert box["top"] - slack_y <= point["y"] <= box["top"] + box["height"] + slack_y
    asked_age = server.post(
        DETECT,
        keys["recognize"],
        data=image,
        headers=BINARY,
        params={"returnFaceAttributes": "age"},
    )
    assert asked_age.status_code == 400
    assert asked_age.json()["error"]["code"] == "BadArgument"


def _error(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_error_codes_and_shapes(service) -> None:
    server, keys = service
    image = _image(SELFIE)
    _error(server.post(RECOGNIZE, None, data=image, headers=BINARY), 401, "Unspecified")
    _error(server.post(RECOGNIZE, "0" * 32, data=image, headers=BINARY), 401, "Unspecified")
    _error(server.post(DETECT, None, data=image, headers=BINARY), 401, "Unspecified")
    _error(server.post("/v1/snapshots", None, data=image, headers=BINARY), 401, "Unspecified")
    _error(
        server.post("/v1/snapshots", keys["recognize"], data=image, headers=BINARY),
        403,
        "PermissionDenied",
    )
    _error(
        server.post(RECOGNIZE, keys["recognize"], data=b"", headers=BINARY), 400, "InvalidImageSize"
    )
    _error(
        server.post(RECOGNIZE, keys["recognize"], data=b"not an image at all", headers=BINARY),
        400,
        "InvalidImage",
    )
    _error(
        server.post(RECOGNIZE, keys["recognize"], data=image[: len(image) // 3], headers=BINARY),
        400,
        "InvalidImage",
    )
    too_big = b"\xff\xd8" + b"\0" * (4 * 1024 * 1024)
    _error(
        server.post(RECOGNIZE, keys["recognize"], data=too_big, headers=BINARY),
        413,
        "InvalidImageSize",
    )
    _error(
        server.post(
            RECOGNIZE,
            keys["recognize"],
            data=image,
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        ),
        415,
        "BadArgument",
    )
    _error(
        server.post(
            RECOGNIZE,
            keys["recognize"],
            data=b"{nope",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "BadArgument",
    )
    _error(server.get("/emotion/v1.0/nothing-here", keys["recognize"]), 404, "NotFound")


def test_revoked_key_is_refused(service) -> None:
    server, keys = service
    image = _image(SELFIE)
    assert server.post(RECOGNIZE, keys["to_revoke"], data=image, headers=BINARY).status_code == 200
    revoked = cli(server.db, "keys", "revoke", "old")
    assert revoked.returncode == 0, revoked.stderr
    _error(
        server.post(RECOGNIZE, keys["to_revoke"], data=image, headers=BINARY), 401, "Unspecified"
    )
    assert "revoked" in server.post(RECOGNIZE, keys["to_revoke"], data=image, headers=BINARY).text


def test_rate_limit_answers_429_with_retry_after(service) -> None:
    server, keys = service
    statuses = [server.post(RECOGNIZE, keys["limited"], data=b"", headers=BINARY) for _ in range(3)]
    assert [s.status_code for s in statuses[:2]] == [400, 400]  # counted, then refused
    _error(statuses[2], 429, "RateLimitExceeded")
    assert int(statuses[2].headers["Retry-After"]) >= 1
    # Other keys are not slowed by it.
    assert server.post(RECOGNIZE, keys["recognize"], data=b"", headers=BINARY).status_code == 400


def test_image_urls_only_inside_the_configured_folder(service) -> None:
    server, keys = service
    json_type = {"Content-Type": "application/json"}
    named = server.post(RECOGNIZE, keys["recognize"], json={"url": SELFIE}, headers=json_type)
    assert named.status_code == 200, named.text
    assert len(named.json()) >= SELFIE_FACES
    for url in (
        "/etc/passwd",
        f"{SELFIE}/../../service.duckdb",
        f"file://{PHOTOS / SELFIE}",
        "http://127.0.0.1:9/x.jpg",
        "ftp://example.org/x.jpg",
    ):
        _error(
            server.post(RECOGNIZE, keys["recognize"], json={"url": url}, headers=json_type),
            400,
            "InvalidURL",
        )


def test_image_urls_only_from_the_configured_hosts(service) -> None:
    server, keys = service
    host = server.image_host
    fetched = server.post(RECOGNIZE, keys["recognize"], json={"url": f"{host}/{SELFIE}"})
    assert fetched.status_code == 200, fetched.text
    assert len(fetched.json()) >= SELFIE_FACES
    port = host.rsplit(":", 1)[1]
    for url in (
        f"http://localhost:{port}/{SELFIE}",  # the same server under a name not listed
        f"http://127.0.0.1:{int(port) + 1}/{SELFIE}",  # another port
        f"{host}/sub",  # answers with a redirect, never followed
        f"{host}/missing.jpg",
    ):
        _error(server.post(RECOGNIZE, keys["recognize"], json={"url": url}), 400, "InvalidURL")


def test_keys_cli_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "keys.duckdb"
    made = cli(db, "keys", "add", "kiosk")
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"[0-9a-f]{32}\n", made.stdout)
    key = made.stdout.strip()
    listed = cli(db, "keys", "list")
    assert "kiosk" in listed.stdout and "recognize" in listed.stdout
    assert key not in listed.stdout
    with duckdb.connect(str(db)) as con:
        rows = con.execute("SELECT * FROM api_keys").fetchall()
    assert len(rows) == 1 and key not in " ".join(str(v) for v in rows[0])
    bad = cli(db, "keys", "add", "cam", "--camera", "door")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "campaign" in bad.stderr
    unknown = cli(db, "keys", "add", "cam", "--campaign", "Nope", "--stimulus", "Ad")
    assert unknown.returncode == 2 and "Nope" in unknown.stderr
    assert cli(db, "keys", "revoke", "nobody").returncode == 2
    assert cli(db, "keys", "revoke", "kiosk").returncode == 0
    assert "revoked" in cli(db, "keys", "list").stdout


def test_snapshot_push_is_counted_and_shown_by_the_dashboard_queries(service) -> None:
    from pipeline.audience.read import campaign_min_crowd
    from pipeline.audience.read import series as people_series
    from pipeline.store import catalog, queries
    from pipeline.store.database import connect

    server, keys = service
    image = _image(SELFIE)
    taken = "2026-03-14T09:20:00+01:00"  # 08:20 UTC
    answer = server.post(
        "/v1/snapshots", keys["push"], data=image, headers={**BINARY, "X-Capture-Time": taken}
    )
    assert answer.status_code == 200, answer.text
    counted = answer.json()
    assert counted["status"] == "counted"
    assert counted["faces"] >= SELFIE_FACES - 1  # snapshots use EMOTION_MIN_FACE_PX (48)
    assert counted["capturedAt"] == "2026-03-14T08:20:00Z"
    assert (counted["campaign"], counted["stimulus"], counted["camera"]) == (
        "Store test",
        "Window",
        "door",
    )
    again = server.post(
        "/v1/snapshots", keys["push"], data=image, headers={**BINARY, "X-Capture-Time": taken}
    ).json()
    assert again["status"] == "skipped"  # the same bytes are counted once
    _error(
        server.post("/v1/snapshots", keys["push"], data=b"junk", headers=BINARY),
        400,
        "InvalidImage",
    )
    _error(
        server.post(
            "/v1/snapshots", keys["push"], data=image, headers={**BINARY, "X-Capture-Time": "soon"}
        ),
        400,
        "BadArgument",
    )
    uploads = server.db.parent / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()], "no image is kept"
    with connect(server.db, read_only=True) as con:
        campaign = catalog.get_campaign(con, "Store test")
        stimulus = catalog.get_stimulus(con, campaign, "Window")
        sources = queries.sources(con, stimulus.stimulus_id)
        min_crowd = campaign_min_crowd(con, campaign.campaign_id)
        audience = people_series(con, stimulus.stimulus_id, 300.0, True, min_crowd)
    # Six or seven people in one snapshot: enough for the minimum crowd of 5.
    assert len(audience) == 1 and not bool(audience["suppressed"].iloc[0])
    assert int(audience["faces"].iloc[0]) == counted["faces"]
    assert "door" in set(sources["name"])
    assert audience["bucket_ts"].iloc[0] == dt.datetime(2026, 3, 14, 8, 20)


def test_concurrent_pushes_are_each_counted_once(service) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from pipeline.store import catalog, queries
    from pipeline.store.database import connect

    server, keys = service
    selfie = cv2.imread(str(PHOTOS / SELFIE))
    bodies = [
        cv2.imencode(".jpg", selfie, [cv2.IMWRITE_JPEG_QUALITY, 85 + i])[1].tobytes()
        for i in range(6)
    ]
    # Six different snapshots from two cameras, and the first one sent twice at once.
    sends = [(keys["shelf-a" if i % 2 else "shelf-b"], bodies[i], i) for i in range(6)]
    sends.append((keys["shelf-b"], bodies[0], 0))

    def push(send: tuple[str, bytes, int]) -> dict:
        key, body, minute = send
        answer = server.post(
            "/v1/snapshots",
            key,
            data=body,
            headers={**BINARY, "X-Capture-Time": f"2026-03-15T10:0{minute}:00Z"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(push, sends))
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["counted"] * 6 + ["skipped"], answers
    with connect(server.db, read_only=True) as con:
        campaign = catalog.get_campaign(con, "Store test")
        stimulus = catalog.get_stimulus(con, campaign, "Shelf")
        assert set(queries.sources(con, stimulus.stimulus_id)["name"]) == {"a", "b"}
        stored = con.execute(
            "SELECT count(DISTINCT (job_id, frame_index)), count(*) FROM face_observations "
            "WHERE stimulus_id = ?",
            [stimulus.stimulus_id],
        ).fetchone()
    assert stored == (6, sum(a["faces"] for a in answers if a["status"] == "counted"))


def test_hostile_pushes_and_images_get_the_error_body(service) -> None:
    """A camera's wrong clock (1970, year 9999, a date past datetime's range with its zone)
    is a 400, not a 500 or a snapshot that stretches every chart over decades; a header
    declaring a gigantic image is "too big", not "unsupported"; a float TIFF is counted from
    its pixels (OpenCV cannot read the file, Pillow can); an unknown attribute is echoed with
    its control characters escaped."""
    import io
    import zlib

    from PIL import Image

    server, keys = service
    image = _image(SELFIE)
    for taken, why in (
        ("0001-01-01T00:00:00+01:00", "use ISO 8601"),  # past datetime's range in UTC
        ("9999-12-31T23:59:59", "check the camera's clock"),
        ("1970-01-01T00:00:00Z", "check the camera's clock"),
    ):
        answer = server.post(
            "/v1/snapshots", keys["push"], data=image, headers={**BINARY, "X-Capture-Time": taken}
        )
        _error(answer, 400, "BadArgument")
        assert why in answer.json()["error"]["message"], taken
    bomb = io.BytesIO()
    Image.new("L", (64, 64)).save(bomb, "PNG")
    header = bytearray(bomb.getvalue())
    header[16:24] = (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big")  # IHDR size
    header[29:33] = zlib.crc32(bytes(header[12:29])).to_bytes(4, "big")  # and its checksum
    answer = server.post(RECOGNIZE, keys["recognize"], data=bytes(header), headers=BINARY)
    _error(answer, 400, "InvalidImageSize")
    assert "too big" in answer.json()["error"]["message"]
    gray = np.asarray(Image.open(io.BytesIO(image)).convert("L"), dtype=np.float32) / 255.0
    tiff = io.BytesIO()
    Image.fromarray(gray, mode="F").save(tiff, "TIFF")
    answer = server.post(
        "/v1/snapshots",
        keys["push"],
        data=tiff.getvalue(),
        headers={"Content-Type": "image/tiff", "X-Capture-Time": "2026-03-16T10:00:00Z"},
    )
    assert answer.status_code == 200 and answer.json()["status"] == "counted", answer.text
    asked = server.post(
        DETECT,
        keys["recognize"],
        data=image,
        headers=BINARY,
        params={"returnFaceAttributes": "age\x1b[31m"},
    )
    _error(asked, 400, "BadArgument")
    assert "\x1b" not in asked.json()["error"]["message"]
    assert "'age\\x1b[31m'" in asked.json()["error"]["message"]


def test_a_stalled_body_is_answered_408_and_a_vanished_client_leaves_no_traceback(
    service,
) -> None:
    """A client that stops sending mid-body is answered 408 in the error body once the body
    has been idle EMOTION_API_BODY_IDLE_S (3 s here) and its connection is closed, instead of
    being held for good; one that hangs up mid-body costs one log line, not a traceback;
    the server answers the next client."""
    server, keys = service
    logged_before = server.log.stat().st_size
    with partial_post(
        server, RECOGNIZE, keys["recognize"], 100_000, _image(SELFIE)[:1000]
    ) as stalled:
        head, body = read_until_closed(stalled)
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b'"code":"RequestTimeout"' in body and b"nothing came for 3 s" in body
    partial_post(server, RECOGNIZE, keys["recognize"], 100_000, _image(SELFIE)[:1000]).close()
    time.sleep(1)
    answer = server.post(RECOGNIZE, keys["recognize"], data=_image(SELFIE), headers=BINARY)
    assert answer.status_code == 200 and len(answer.json()) == SELFIE_FACES
    log = server.log.read_bytes()[logged_before:].decode(errors="replace")
    assert "Client hung up during POST" in log
    assert "Traceback" not in log and "ClientDisconnect" not in log, log


def test_docs_page_works_offline_in_chromium(service) -> None:
    server, _ = service
    spec = server.get("/openapi.json", None).json()
    assert {RECOGNIZE, DETECT, "/v1/snapshots", "/emotion/v1.0/recognizeinvideo"} <= set(
        spec["paths"]
    )
    page = server.get("/docs", None)
    assert page.status_code == 200
    assert "cdn" not in page.text.lower(), "the page must not need the internet"
    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file():
        pytest.skip("/usr/bin/chromium missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            tab = browser.new_page()
            outside: list[str] = []
            tab.on(
                "request",
                lambda r: None if r.url.startswith(server.url) else outside.append(r.url),
            )
            tab.goto(f"{server.url}/docs")
            expect(tab.get_by_text(RECOGNIZE, exact=True).first).to_be_visible(timeout=60_000)
            expect(tab.get_by_text("Authorize").first).to_be_visible()
            assert not outside, outside
        finally:
            browser.close()


@pytest.mark.parametrize("upto", [5, 7, 9])
def test_databases_of_earlier_migrations_upgrade_to_keys_and_operations(
    upto: int, tmp_path: Path
) -> None:
    import duckdb

    from pipeline.service.keys import create_key, find_key
    from pipeline.store.database import _migrations, connect

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    for number, name, sql in _migrations():
        if number <= upto:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [number, name]
            )
    con.close()
    with connect(db) as con:
        key, record = create_key(con, "after-upgrade")
        assert find_key(con, key) == record
        con.execute(
            "INSERT INTO api_operations (operation_id, key_id, job_id, window_s, width, height, "
            "framerate, duration_s) VALUES ('op', ?, 1, 1.0, 640, 480, 25.0, 4.0)",
            [record.key_id],
        )
        applied = [r[0] for r in con.execute("SELECT number FROM schema_migrations").fetchall()]
    assert {9, 10} <= set(applied)


def test_serve_binds_to_this_machine_unless_told_otherwise() -> None:
    from pipeline.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert build_parser().parse_args(["serve", "--host", "0.0.0.0"]).host == "0.0.0.0"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as an operator would make for a store network."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_over_tls_with_the_documented_options(tmp_path: Path) -> None:
    import requests

    db = tmp_path / "tls.duckdb"
    key = add_key(db, "camera")
    cert, private = _self_signed(tmp_path)
    options = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(private))
    with running_server(db, {}, *options, tls_cert=cert) as server:
        assert server.url.startswith("https://")
        answer = server.post(RECOGNIZE, key, data=_image(SELFIE), headers=BINARY)
        assert answer.status_code == 200 and len(answer.json()) >= SELFIE_FACES
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url.replace("https", "http") + "/openapi.json", timeout=30)
    # Stopped (SIGTERM) with the answered client's TLS connection idle: asyncio waits for the
    # client's TLS close_notify, which HTTP clients do not send, so without a bound the server
    # waited 30 s (and the test's stop killed it). EMOTION_API_SHUTDOWN_S (5 s) ends the wait,
    # and the application's own shutdown still runs.
    log = server.log.read_text()
    assert "timeout graceful shutdown exceeded" in log, log
    assert "Application shutdown complete" in log, log
