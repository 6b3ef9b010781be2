"""Subscription keys of the HTTP service: made, listed, revoked and checked.

A key is 32 hex characters (the original service's format), shown once when it is made; only
its SHA-256 is stored, so a copied database cannot be used to call the service. Keys are long
random strings, not passwords, so a plain SHA-256 is enough (no slow hash needed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import duckdb

from pipeline.errors import InputError, UnknownEntityError
from pipeline.store import catalog

SCOPES = ("recognize", "push", "video")


@dataclass(frozen=True)
class ApiKey:
    """A key's record (never the key itself). ``campaign``/``stimulus``/``camera`` bound
    push and video keys; a recognize key has none."""

    key_id: int
    name: str
    prefix: str
    scope: str
    campaign_id: int | None
    campaign: str | None
    stimulus: str | None
    camera: str | None
    rate_per_min: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def describe(self) -> str:
        where = "/".join(p for p in (self.campaign, self.stimulus, self.camera) if p)
        return f"{self.scope}" + (f" {where}" if where else "")


def digest(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()


def infer_scope(campaign: str | None, stimulus: str | None, camera: str | None) -> str:
    """``keys add NAME`` alone makes a recognize key; a camera makes a push key; a campaign
    and stimulus without a camera make a video key."""
    if camera:
        return "push"
    if campaign or stimulus:
        return "video"
    return "recognize"


def create_key(
    con: duckdb.DuckDBPyConnection,
    name: str,
    scope: str = "recognize",
    campaign: str | None = None,
    stimulus: str | None = None,
    camera: str | None = None,
    rate_per_min: int | None = None,
) -> tuple[str, ApiKey]:
    """A new key and its record. Push keys need campaign, stimulus and camera; video keys a
    campaign and stimulus; recognize keys none of them. The campaign must exist."""
    name = name.strip()
    if not name:
        raise InputError("Invalid key name", "A key needs a name (e.g. the camera or client).")
    if scope not in SCOPES:
        raise InputError("Invalid scope", f"{scope!r} is not one of {', '.join(SCOPES)}.")
    needed = {"recognize": (), "push": ("campaign", "stimulus", "camera")}.get(
        scope, ("campaign", "stimulus")
    )
    given = {"campaign": campaign, "stimulus": stimulus, "camera": camera}
    missing = [k for k in needed if not given[k]]
    extra = [k for k, v in given.items() if v and k not in needed]
    if missing or extra:
        raise InputError(
            "Invalid key scope",
            f"a {scope} key needs {', '.join('--' + k for k in needed) or 'no campaign'}"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + (f" (not allowed: {', '.join(extra)})" if extra else "")
            + ".",
        )
    if rate_per_min is not None and rate_per_min < 1:
        raise InputError("Invalid rate", f"--rate must be at least 1, not {rate_per_min}.")
    if any(k.name == name and k.active for k in list_keys(con)):
        raise InputError("Key exists", f"An active key is already named {name!r}.")
    campaign_id = catalog.get_campaign(con, campaign).campaign_id if campaign else None
    # Stored as clean_name stores them, so a rename or deletion of the stimulus finds the key.
    stimulus = catalog.clean_name(stimulus, "stimulus") if stimulus else None
    camera = catalog.clean_name(camera, "source", longest=255) if camera else None
    key = secrets.token_hex(16)
    row = con.execute(
        "INSERT INTO api_keys (name, key_sha256, key_prefix, scope, campaign_id, stimulus, "
        "camera, rate_per_min) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING key_id",
        [name, digest(key), key[:6], scope, campaign_id, stimulus, camera, rate_per_min],
    ).fetchone()
    assert row is not None
    return key, _get(con, "k.key_id = ?", [row[0]])[0]


_SELECT = (
    "SELECT k.key_id, k.name, k.key_prefix, k.scope, k.campaign_id, c.name, k.stimulus, "
    "k.camera, k.rate_per_min, k.created_at, k.revoked_at FROM api_keys k "
    "LEFT JOIN campaigns c ON c.campaign_id = k.campaign_id"
)


def _get(con: duckdb.DuckDBPyConnection, where: str, args: list[object]) -> list[ApiKey]:
    rows = con.execute(f"{_SELECT} WHERE {where} ORDER BY k.key_id", args).fetchall()
    return [ApiKey(*row) for row in rows]


def list_keys(con: duckdb.DuckDBPyConnection) -> list[ApiKey]:
    return _get(con, "true", [])


def revoke_key(con: duckdb.DuckDBPyConnection, name_or_id: str) -> list[ApiKey]:
    """Revoke the active key(s) with this name (or id); raises when there is none."""
    found = [
        k
        for k in list_keys(con)
        if k.active and (k.name == name_or_id or str(k.key_id) == name_or_id)
    ]
    if not found:
        raise UnknownEntityError("Unknown key", f"No active key named {name_or_id!r}.")
    con.execute(
        "UPDATE api_keys SET revoked_at = current_timestamp WHERE key_id IN (SELECT unnest(?))",
        [[k.key_id for k in found]],
    )
    return _get(con, "k.key_id IN (SELECT unnest(?))", [[k.key_id for k in found]])


def find_key(con: duckdb.DuckDBPyConnection, key: str) -> ApiKey | None:
    """The record of a presented key (revoked ones too, so the caller can say so), or None."""
    found = _get(con, "k.key_sha256 = ?", [digest(key)])
    return found[0] if found else None
