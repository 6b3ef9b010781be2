"""Rename and delete campaigns and stimuli on real DuckDB files holding real pipeline rows.

The rows are the demo's (made by the real ingest, loaded by ``build_demo``); deletes are
checked table by table, the refusal with a job whose process is alive (this test's), and the
command line and the "Manage campaigns" page through their real entry points.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.demo import DEMO_CAMPAIGN, build_demo
from pipeline.errors import InputError, UnknownEntityError
from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs, manage
from pipeline.store.database import connect
from tests.cli import run_cli

APP = PROJECT_ROOT / "dashboard" / "app.py"
PAGE = "views/manage.py"
JOB_TABLES = ("face_observations", "frames", "tracks", "rollup_person_cells")


@pytest.fixture()
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "reactions.duckdb"
    build_demo(db)
    return db


def _rows_of(con, stimulus_id: int) -> dict[str, int]:
    """Rows in every table that belong to ``stimulus_id`` (through its jobs)."""
    jobs_sql = "SELECT job_id FROM ingest_jobs JOIN sources USING (source_id) WHERE stimulus_id = ?"
    counts = {
        table: con.execute(
            f"SELECT count(*) FROM {table} WHERE job_id IN ({jobs_sql})", [stimulus_id]
        ).fetchone()[0]
        for table in JOB_TABLES
    }
    for table in ("sources", "segments", "stimuli"):
        counts[table] = con.execute(
            f"SELECT count(*) FROM {table} WHERE stimulus_id = ?", [stimulus_id]
        ).fetchone()[0]
    counts["ingest_jobs"] = con.execute(
        f"SELECT count(*) FROM ingest_jobs WHERE job_id IN ({jobs_sql})", [stimulus_id]
    ).fetchone()[0]
    return counts


def _stimulus(con, name: str) -> catalog.Stimulus:
    return catalog.get_stimulus(con, catalog.get_campaign(con, DEMO_CAMPAIGN), name)


def test_delete_stimulus_removes_its_rows_and_only_them(demo_db: Path, tmp_path: Path) -> None:
    kept_file = tmp_path / "uploads" / "abc_session.mp4"
    kept_file.parent.mkdir()
    kept_file.write_bytes(b"video bytes")
    with connect(demo_db) as con:
        doomed = _stimulus(con, "Ad B: price shock")
        other = _stimulus(con, "Ad A: family picnic")
        con.execute(
            "UPDATE ingest_jobs SET input_path = ?, keep_input = true WHERE job_id = (SELECT "
            "min(job_id) FROM ingest_jobs JOIN sources USING (source_id) WHERE stimulus_id = ?)",
            [str(kept_file), doomed.stimulus_id],
        )
        before, other_before = _rows_of(con, doomed.stimulus_id), _rows_of(con, other.stimulus_id)
        gone = manage.delete_stimulus(con, DEMO_CAMPAIGN, doomed.name)
        after, other_after = _rows_of(con, doomed.stimulus_id), _rows_of(con, other.stimulus_id)
    assert all(before[t] > 0 for t in before), before
    assert set(after.values()) == {0}
    assert other_after == other_before
    assert gone.jobs == before["ingest_jobs"] and gone.faces == before["face_observations"]
    assert gone.files == 1 and not kept_file.exists()


def test_delete_campaign_empties_every_table(demo_db: Path) -> None:
    with connect(demo_db) as con:
        campaign = catalog.get_campaign(con, DEMO_CAMPAIGN)
        catalog.create_campaign(con, "Other campaign")
        con.execute(
            "INSERT INTO campaign_consent (campaign_id, consented, set_by) VALUES (?, true, 'x')",
            [campaign.campaign_id],
        )
        gone = manage.delete_campaign(con, DEMO_CAMPAIGN)
        left = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in (*JOB_TABLES, "ingest_jobs", "sources", "segments", "stimuli")
        }
        campaigns = [c.name for c in catalog.list_campaigns(con)]
        consent = con.execute("SELECT count(*) FROM campaign_consent").fetchone()[0]  # type: ignore[index]
    assert gone.stimuli == 4 and gone.faces > 0
    assert set(left.values()) == {0}, left
    assert campaigns == ["Other campaign"] and consent == 0


def test_rename_keeps_rows_and_refuses_a_taken_name(demo_db: Path) -> None:
    with connect(demo_db) as con:
        stimulus = _stimulus(con, "Ad A: family picnic")
        before = _rows_of(con, stimulus.stimulus_id)
        renamed = manage.rename_stimulus(con, DEMO_CAMPAIGN, stimulus.name, "  Ad A: picnic ")
        with pytest.raises(InputError, match="already has a stimulus"):
            manage.rename_stimulus(con, DEMO_CAMPAIGN, "Ad A: picnic", "Ad C: new flavour")
        campaign = manage.rename_campaign(con, DEMO_CAMPAIGN, "Spring 2027")
        catalog.create_campaign(con, "Taken")
        with pytest.raises(InputError, match="already exists"):
            manage.rename_campaign(con, "Spring 2027", "Taken")
        with pytest.raises(InputError, match="1 to 120"):
            manage.rename_campaign(con, "Spring 2027", "   ")
        with pytest.raises(UnknownEntityError):
            catalog.get_campaign(con, DEMO_CAMPAIGN)
        after = _rows_of(con, renamed.stimulus_id)
    assert renamed.name == "Ad A: picnic" and renamed.stimulus_id == stimulus.stimulus_id
    assert campaign.name == "Spring 2027" and after == before


def _running_job(con, stimulus: catalog.Stimulus) -> int:
    """A job registered as running by this process (alive), as a watcher's batch is."""
    source = catalog.ensure_source(con, stimulus, "camera", "live camera")
    key = jobs.JobKey(source.source_id, "hash-live", "params")
    return jobs.start_job(con, key, "live", "{}", "v1", "centerface")


def test_refused_while_a_live_job_writes_then_allowed_once_its_process_died(
    demo_db: Path,
) -> None:
    with connect(demo_db) as con:
        stimulus = _stimulus(con, "Window display")
        job_id = _running_job(con, stimulus)
        before = _rows_of(con, stimulus.stimulus_id)
        for attempt in (
            lambda: manage.delete_stimulus(con, DEMO_CAMPAIGN, stimulus.name),
            lambda: manage.delete_campaign(con, DEMO_CAMPAIGN),
            lambda: manage.rename_stimulus(con, DEMO_CAMPAIGN, stimulus.name, "Window"),
            lambda: manage.rename_campaign(con, DEMO_CAMPAIGN, "Renamed"),
        ):
            with pytest.raises(InputError, match=f"job {job_id}"):
                attempt()
        assert _rows_of(con, stimulus.stimulus_id) == before
        assert catalog.get_campaign(con, DEMO_CAMPAIGN).name == DEMO_CAMPAIGN
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            check=True,
            capture_output=True,
            text=True,
        )
        con.execute(
            "UPDATE ingest_jobs SET worker_pid = ? WHERE job_id = ?", [int(dead.stdout), job_id]
        )
        gone = manage.delete_stimulus(con, DEMO_CAMPAIGN, stimulus.name)
    assert gone.jobs == before["ingest_jobs"]
    assert os.getpid() != int(dead.stdout)


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--db", str(db))


def test_cli_rename_and_delete(demo_db: Path) -> None:
    refused = _cli(demo_db, "campaigns", "delete", DEMO_CAMPAIGN)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    for bad in (
        ("campaigns", "rename", DEMO_CAMPAIGN),
        ("campaigns", "rename", "No such campaign", "New"),
        ("stimuli", "rename", DEMO_CAMPAIGN, "Ad A: family picnic", "Ad B: price shock"),
        ("stimuli", "segments", DEMO_CAMPAIGN, "Ad A: family picnic", "--segments", "a:5-2"),
        ("stimuli", "segments", DEMO_CAMPAIGN, "Ad A: family picnic", "--segments", "a:0-2,a:2-3"),
        ("stimuli", "delete", DEMO_CAMPAIGN, "No such ad", "--yes"),
    ):
        result = _cli(demo_db, *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    ok = _cli(
        demo_db,
        "stimuli",
        "segments",
        DEMO_CAMPAIGN,
        "Ad A: family picnic",
        "--segments",
        "start:0-8,end:8-20",
    )
    assert ok.returncode == 0, ok.stderr
    ok = _cli(demo_db, "stimuli", "rename", DEMO_CAMPAIGN, "Ad A: family picnic", "Ad A")
    assert ok.returncode == 0, ok.stderr
    ok = _cli(demo_db, "stimuli", "delete", DEMO_CAMPAIGN, "Ad B: price shock", "--yes")
    assert ok.returncode == 0 and "deleted stimulus" in ok.stdout, ok.stderr
    ok = _cli(demo_db, "campaigns", "rename", DEMO_CAMPAIGN, "Spring 2027")
    assert ok.returncode == 0, ok.stderr
    with connect(demo_db) as con:
        campaign = catalog.get_campaign(con, "Spring 2027")
        names = sorted(s.name for s in catalog.list_stimuli(con, campaign))
        segments = catalog.list_segments(
            con, catalog.get_stimulus(con, campaign, "Ad A").stimulus_id
        )
    assert names == ["Ad A", "Ad C: new flavour", "Window display"]
    assert [(s.name, s.start_s, s.end_s) for s in segments] == [("start", 0, 8), ("end", 8, 20)]
    ok = _cli(demo_db, "campaigns", "delete", "Spring 2027", "--yes")
    assert ok.returncode == 0, ok.stderr
    assert _cli(demo_db, "campaigns", "list").stdout.strip() == ""


@pytest.fixture()
def page(demo_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("EMOTION_DB_PATH", str(demo_db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "uploads"))

    def open_page() -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=90)
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def _campaign_id(db: Path, name: str) -> int:
    with connect(db, read_only=True) as con:
        return catalog.get_campaign(con, name).campaign_id


def test_page_renames_and_deletes_after_confirmation(page, demo_db: Path) -> None:
    at = page()
    cid = _campaign_id(demo_db, DEMO_CAMPAIGN)
    assert at.button(key="manage_campaign_delete").disabled
    at.text_input(key=f"manage_campaign_name_{cid}").set_value("Spring 2027")
    at.button(key="manage_campaign_rename").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Spring 2027" in s.value for s in at.success)
    assert _campaign_id(demo_db, "Spring 2027") == cid
    with connect(demo_db, read_only=True) as con:
        ad_b = catalog.get_stimulus(
            con, catalog.get_campaign(con, "Spring 2027"), "Ad B: price shock"
        )
    at.selectbox(key=f"manage_stimulus_{cid}").set_value(ad_b.stimulus_id).run()
    at.checkbox(key=f"manage_stimulus_confirm_{ad_b.stimulus_id}").check().run()
    at.button(key="manage_stimulus_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with connect(demo_db, read_only=True) as con:
        names = [
            s.name for s in catalog.list_stimuli(con, catalog.get_campaign(con, "Spring 2027"))
        ]
        assert _rows_of(con, ad_b.stimulus_id)["face_observations"] == 0
    assert "Ad B: price shock" not in names and len(names) == 3
    at.checkbox(key=f"manage_campaign_confirm_{cid}").check().run()
    at.button(key="manage_campaign_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with connect(demo_db, read_only=True) as con:
        assert catalog.list_campaigns(con) == []


def test_page_edits_segments_validated_like_the_cli(page, demo_db: Path) -> None:
    at = page()
    with connect(demo_db, read_only=True) as con:
        ad_a = _stimulus(con, "Ad A: family picnic")
        before = catalog.list_segments(con, ad_a.stimulus_id)
    key = f"manage_segments_{ad_a.stimulus_id}"
    at.selectbox(key=f"manage_stimulus_{ad_a.campaign_id}").set_value(ad_a.stimulus_id).run()
    assert at.data_editor(key=key).value["name"].tolist() == [s.name for s in before]
    # An end before its start: refused with one line, nothing stored.
    at.session_state[key] = {
        "edited_rows": {0: {"end_s": 0.0, "start_s": 3.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.button(key="manage_segments_save").click().run()
    assert [e.value for e in at.error] and "Invalid segment" in at.error[0].value
    with connect(demo_db, read_only=True) as con:
        assert catalog.list_segments(con, ad_a.stimulus_id) == before
    # Rename one, drop one, add one.
    at.session_state[key] = {
        "edited_rows": {0: {"name": "opening"}},
        "added_rows": [{"name": "call to action", "start_s": 18.0, "end_s": 20.0}],
        "deleted_rows": [2],
    }
    at.run()
    at.button(key="manage_segments_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with connect(demo_db, read_only=True) as con:
        after = catalog.list_segments(con, ad_a.stimulus_id)
    assert [(s.name, s.start_s, s.end_s) for s in after] == [
        ("opening", before[0].start_s, before[0].end_s),
        (before[1].name, before[1].start_s, before[1].end_s),
        ("call to action", 18.0, 20.0),
    ]


def test_page_shows_hostile_names_as_text(page, demo_db: Path) -> None:
    from tests.test_faults_dashboard import _markdown_bodies, _unsafe

    hostile = "![b](http://evil.example/beacon.png) [x](http://evil.example)"
    with connect(demo_db) as con:
        manage.rename_campaign(con, DEMO_CAMPAIGN, hostile)
        manage.rename_stimulus(con, hostile, "Ad A: family picnic", "**bold** " + hostile)
    at = page()
    bodies = _markdown_bodies(at._tree)
    assert {b: _unsafe(b) for b in bodies if _unsafe(b)} == {}
    assert any(hostile in t.value for t in at.text)


def test_a_name_typed_with_a_combining_accent_is_the_same_name(tmp_path: Path) -> None:
    """ "Café" typed precomposed (NFC) and with a combining accent (NFD, as macOS file names
    and some keyboards give it) is one campaign, one stimulus and one camera, also for rows
    stored before names were normalised; a key bound to either spelling is revoked with the
    stimulus."""
    from pipeline.service import keys

    nfc, nfd = "Caf\u00e9", "Cafe\u0301"
    with connect(tmp_path / "names.duckdb") as con:
        campaign = catalog.create_campaign(con, nfd)
        assert campaign.name == nfc
        with pytest.raises(InputError, match="already exists"):
            catalog.create_campaign(con, nfc)
        stimulus = catalog.create_stimulus(con, campaign, f"Ad {nfd}", "ad", 10.0)
        assert catalog.get_stimulus(con, campaign, f"Ad {nfc}") == stimulus
        camera = catalog.ensure_source(con, stimulus, "camera", f"{nfd} door")
        assert catalog.ensure_source(con, stimulus, "camera", f"{nfc} door") == camera
        _, key = keys.create_key(con, "door", "push", nfc, f"Ad {nfd}", f"{nfd} door")
        assert (key.stimulus, key.camera) == (f"Ad {nfc}", f"{nfc} door")

        con.execute("INSERT INTO campaigns (name, description) VALUES (?, '')", [f"Old {nfd}"])
        old = catalog.get_campaign(con, f"Old {nfc}")
        assert catalog.ensure_campaign(con, f"Old {nfc}") == old
        assert manage.rename_campaign(con, f"Old {nfd}", f"Old {nfc}").name == f"Old {nfc}"
        assert [c.name for c in catalog.list_campaigns(con)] == [nfc, f"Old {nfc}"]

        con.execute(  # a key made before names were normalised, bound to the typed spelling
            "INSERT INTO api_keys (name, key_sha256, key_prefix, scope, campaign_id, stimulus, "
            "camera) VALUES ('old door', 'sha', 'abc123', 'push', ?, ?, 'door')",
            [campaign.campaign_id, f"Ad {nfd}"],
        )
        manage.delete_stimulus(con, nfd, f"Ad {nfd}")
        assert not [k.name for k in keys.list_keys(con) if k.active]
