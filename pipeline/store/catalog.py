"""Campaigns, stimuli, segments and sources: the small tables users manage by name."""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass

import duckdb

from pipeline.errors import InputError, UnknownEntityError

STIMULUS_KINDS = ("display", "ad", "product")
SOURCE_KINDS = ("camera", "footage")
# A stored name matching the ``$name`` parameter by NFC form: names are stored NFC
# (``clean_name``), and a name typed in another form, or stored in one before that was so,
# still matches. EXACT_FIRST picks the typed spelling where a name was stored in both forms.
SAME_NAME = "nfc_normalize(name) = nfc_normalize($name)"
EXACT_FIRST = "ORDER BY name = $name DESC LIMIT 1"


@dataclass(frozen=True)
class Campaign:
    campaign_id: int
    name: str
    description: str


@dataclass(frozen=True)
class Stimulus:
    stimulus_id: int
    campaign_id: int
    name: str
    kind: str
    duration_s: float | None


@dataclass(frozen=True)
class Segment:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Source:
    source_id: int
    stimulus_id: int
    kind: str
    name: str
    location: str
    placement: str
    exclusion_zones: list[list[tuple[float, float]]]
    yaw_offset_deg: float = 0.0
    """Head yaw (degrees) of a person looking at the display rather than the lens."""
    pitch_offset_deg: float = 0.0
    """Head pitch (degrees) of a person looking at the display rather than the lens."""


def create_campaign(con: duckdb.DuckDBPyConnection, name: str, description: str = "") -> Campaign:
    name = clean_name(name, "campaign")
    existing = con.execute(
        f"SELECT campaign_id FROM campaigns WHERE {SAME_NAME}", {"name": name}
    ).fetchone()
    if existing:
        raise InputError("Campaign exists", f"A campaign named {name!r} already exists.")
    row = con.execute(
        "INSERT INTO campaigns (name, description) VALUES (?, ?) RETURNING campaign_id",
        [name, description],
    ).fetchone()
    assert row is not None
    return Campaign(row[0], name, description)


def get_campaign(con: duckdb.DuckDBPyConnection, name: str) -> Campaign:
    row = con.execute(
        f"SELECT campaign_id, name, description FROM campaigns WHERE {SAME_NAME} {EXACT_FIRST}",
        {"name": name},
    ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT name FROM campaigns ORDER BY name").fetchall()]
        hint = f" Known campaigns: {', '.join(known)}." if known else " No campaign exists yet."
        raise UnknownEntityError("Unknown campaign", f"No campaign named {name!r}.{hint}")
    return Campaign(*row)


def ensure_campaign(con: duckdb.DuckDBPyConnection, name: str) -> Campaign:
    try:
        return get_campaign(con, name)
    except UnknownEntityError:
        return create_campaign(con, name)


def list_campaigns(con: duckdb.DuckDBPyConnection) -> list[Campaign]:
    rows = con.execute("SELECT campaign_id, name, description FROM campaigns ORDER BY name")
    return [Campaign(*r) for r in rows.fetchall()]


def create_stimulus(
    con: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    name: str,
    kind: str,
    duration_s: float | None = None,
) -> Stimulus:
    name = clean_name(name, "stimulus")
    if kind not in STIMULUS_KINDS:
        raise InputError(
            "Unknown stimulus kind", f"{kind!r} is not one of {', '.join(STIMULUS_KINDS)}."
        )
    if duration_s is not None and duration_s <= 0:
        raise InputError("Invalid duration", "An ad's duration must be a positive number of s.")
    row = con.execute(
        f"SELECT stimulus_id FROM stimuli WHERE campaign_id = $campaign AND {SAME_NAME}",
        {"campaign": campaign.campaign_id, "name": name},
    ).fetchone()
    if row:
        raise InputError("Stimulus exists", f"{campaign.name!r} already has a stimulus {name!r}.")
    inserted = con.execute(
        "INSERT INTO stimuli (campaign_id, name, kind, duration_s) VALUES (?, ?, ?, ?) "
        "RETURNING stimulus_id",
        [campaign.campaign_id, name, kind, duration_s],
    ).fetchone()
    assert inserted is not None
    return Stimulus(inserted[0], campaign.campaign_id, name, kind, duration_s)


def get_stimulus(con: duckdb.DuckDBPyConnection, campaign: Campaign, name: str) -> Stimulus:
    row = con.execute(
        "SELECT stimulus_id, campaign_id, name, kind, duration_s FROM stimuli "
        f"WHERE campaign_id = $campaign AND {SAME_NAME} {EXACT_FIRST}",
        {"campaign": campaign.campaign_id, "name": name},
    ).fetchone()
    if row is None:
        raise UnknownEntityError(
            "Unknown stimulus", f"Campaign {campaign.name!r} has no stimulus named {name!r}."
        )
    return Stimulus(*row)


def ensure_stimulus(
    con: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    name: str,
    kind: str,
    duration_s: float | None = None,
) -> Stimulus:
    try:
        return get_stimulus(con, campaign, name)
    except UnknownEntityError:
        return create_stimulus(con, campaign, name, kind, duration_s)


def get_stimulus_by_id(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> Stimulus:
    row = con.execute(
        "SELECT stimulus_id, campaign_id, name, kind, duration_s FROM stimuli "
        "WHERE stimulus_id = ?",
        [stimulus_id],
    ).fetchone()
    if row is None:
        raise UnknownEntityError("Unknown stimulus", f"No stimulus with id {stimulus_id}.")
    return Stimulus(*row)


def list_stimuli(con: duckdb.DuckDBPyConnection, campaign: Campaign) -> list[Stimulus]:
    rows = con.execute(
        "SELECT stimulus_id, campaign_id, name, kind, duration_s FROM stimuli "
        "WHERE campaign_id = ? ORDER BY name",
        [campaign.campaign_id],
    )
    return [Stimulus(*r) for r in rows.fetchall()]


def set_segments(
    con: duckdb.DuckDBPyConnection, stimulus: Stimulus, segments: list[Segment]
) -> None:
    """Replace an ad's named segments (e.g. 0-5 s intro, 5-12 s product shot)."""
    names = [segment.name.strip() for segment in segments]
    for segment, name in zip(segments, names, strict=True):
        if not name or len(name) > 120:
            raise InputError("Invalid segment", "A segment name needs 1 to 120 characters.")
        if not all(math.isfinite(v) for v in (segment.start_s, segment.end_s)):
            raise InputError("Invalid segment", f"{name!r}: start and end must be numbers.")
        if segment.end_s <= segment.start_s or segment.start_s < 0:
            raise InputError("Invalid segment", f"{segment.name!r}: end must follow start >= 0.")
    if len(set(names)) < len(names):
        raise InputError("Invalid segment", "Two segments have the same name.")
    segments = [Segment(n, s.start_s, s.end_s) for n, s in zip(names, segments, strict=True)]
    con.execute("DELETE FROM segments WHERE stimulus_id = ?", [stimulus.stimulus_id])
    for segment in segments:
        con.execute(
            "INSERT INTO segments VALUES (?, ?, ?, ?)",
            [stimulus.stimulus_id, segment.name, segment.start_s, segment.end_s],
        )
    from pipeline.store import rollups  # the store's rollups import this module's neighbours

    rollups.refresh_segments(con, stimulus.stimulus_id)


def list_segments(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> list[Segment]:
    rows = con.execute(
        "SELECT name, start_s, end_s FROM segments WHERE stimulus_id = ? ORDER BY start_s",
        [stimulus_id],
    )
    return [Segment(*r) for r in rows.fetchall()]


def ensure_source(
    con: duckdb.DuckDBPyConnection,
    stimulus: Stimulus,
    kind: str,
    name: str,
    location: str = "",
    placement: str = "",
    exclusion_zones: list[list[tuple[float, float]]] | None = None,
) -> Source:
    """The named source of a stimulus, created on first use; zones are updated when given."""
    if kind not in SOURCE_KINDS:
        raise InputError("Unknown source kind", f"{kind!r} is not one of {SOURCE_KINDS}.")
    name = clean_name(name, "source", longest=255)  # named after a file by default
    zones = validate_zones(exclusion_zones or [])
    row = con.execute(
        f"SELECT source_id FROM sources WHERE stimulus_id = $stimulus AND {SAME_NAME} "
        f"{EXACT_FIRST}",
        {"stimulus": stimulus.stimulus_id, "name": name},
    ).fetchone()
    if row is None:
        row = con.execute(
            "INSERT INTO sources (stimulus_id, kind, name, location, placement, exclusion_zones) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING source_id",
            [stimulus.stimulus_id, kind, name, location, placement, json.dumps(zones)],
        ).fetchone()
    elif exclusion_zones is not None:
        con.execute(
            "UPDATE sources SET exclusion_zones = ? WHERE source_id = ?",
            [json.dumps(zones), row[0]],
        )
    assert row is not None
    return get_source(con, row[0])


def get_source(con: duckdb.DuckDBPyConnection, source_id: int) -> Source:
    row = con.execute(
        "SELECT source_id, stimulus_id, kind, name, location, placement, exclusion_zones, "
        "coalesce(yaw_offset_deg, 0), coalesce(pitch_offset_deg, 0) "
        "FROM sources WHERE source_id = ?",
        [source_id],
    ).fetchone()
    if row is None:
        raise UnknownEntityError("Unknown source", f"No source with id {source_id}.")
    zones = [[(float(x), float(y)) for x, y in polygon] for polygon in json.loads(row[6])]
    return Source(
        row[0], row[1], row[2], row[3], row[4], row[5], zones, float(row[7]), float(row[8])
    )


# A camera further off the display's line of sight than this cannot judge who looks at it.
MAX_VIEW_OFFSET_DEG = 60.0


def set_view_offsets(
    con: duckdb.DuckDBPyConnection, source: Source, yaw_deg: float, pitch_deg: float
) -> Source:
    """Centre the source's looking cone on these head angles (degrees): for a camera mounted
    beside or above the display, the angles at which a person faces the display."""
    for name, value in (("yaw", yaw_deg), ("pitch", pitch_deg)):
        if not (math.isfinite(value) and abs(value) <= MAX_VIEW_OFFSET_DEG):
            raise InputError(
                "Invalid camera angle",
                f"{name} offset {value} must be a number of degrees between "
                f"-{MAX_VIEW_OFFSET_DEG:g} and {MAX_VIEW_OFFSET_DEG:g}.",
            )
    con.execute(
        "UPDATE sources SET yaw_offset_deg = ?, pitch_offset_deg = ? WHERE source_id = ?",
        [yaw_deg, pitch_deg, source.source_id],
    )
    return get_source(con, source.source_id)


def validate_zones(zones: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    """Polygons of >= 3 points in relative coordinates (0..1); anything else is refused."""
    clean = []
    for polygon in zones:
        points = [(float(x), float(y)) for x, y in polygon]
        if len(points) < 3 or not all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points):
            raise InputError(
                "Invalid exclusion zone", "Each zone needs 3+ points with x and y between 0 and 1."
            )
        clean.append(points)
    return clean


def clean_name(name: str, what: str, longest: int = 120) -> str:
    """A name as stored: trimmed, 1 to ``longest`` characters, none of them a control or
    format character (a line break, a tab, a terminal escape, a right-to-left mark), which
    would break a report's line or a table's row, or disguise the name."""
    # NFC: "Café" typed with a combining accent (macOS file names, some keyboards) is the
    # same campaign as "Café" typed precomposed, not a second one that splits its people.
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name or len(name) > longest:
        raise InputError(f"Invalid {what} name", f"A {what} name needs 1 to {longest} characters.")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise InputError(
            f"Invalid {what} name",
            f"{name!r} holds a line break, tab or other control character; "
            "give a name without them.",
        )
    return name
