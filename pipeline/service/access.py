"""Who may call what, how often: key checks (401/403) and per-key rate limits (429).

Checked keys are remembered for EMOTION_API_KEY_CACHE_S seconds so a busy camera does not
open the database on every request; a revoked key therefore stops working within that time
(0 asks the database every time). Rate limits are token buckets per key, in this process.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from pipeline.service import errors
from pipeline.service.keys import ApiKey, digest, find_key
from pipeline.settings import get_float, get_int
from pipeline.store.database import connect


class _Bucket:
    """Up to ``rate`` requests at once, refilled at ``rate`` per minute."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.at = time.monotonic()

    def take(self) -> int:
        """0 when the request may go ahead, else the whole seconds until it could."""
        now = time.monotonic()
        per_s = self.rate / 60.0
        self.tokens = min(float(self.rate), self.tokens + (now - self.at) * per_s)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / per_s))


class Gate:
    """The service's door: one per server process."""

    def __init__(self, db_path: Path | None) -> None:
        self._db_path = db_path
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    def _lookup(self, presented: str) -> ApiKey | None:
        ttl = get_float("EMOTION_API_KEY_CACHE_S")
        hashed = digest(presented)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(hashed)
        if cached is not None and now < cached[0]:
            return cached[1]
        with connect(self._db_path) as con:
            record = find_key(con, presented)
        if ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[hashed] = (now + ttl, record)
        return record

    def admit(self, presented: str | None, needed: str) -> ApiKey:
        """The caller's key record if it may call an operation needing ``needed`` now.

        Raises ApiError: 401 (no, unknown or revoked key), 403 (key of another scope),
        429 with Retry-After (too many requests for this key).
        """
        if not presented or not presented.strip():
            raise errors.no_key()
        record = self._lookup(presented.strip())
        if record is None:
            raise errors.no_key()
        if not record.active:
            raise errors.revoked_key()
        if needed != "recognize" and record.scope != needed:
            raise errors.wrong_scope(needed, record.scope)
        rate = record.rate_per_min or get_int("EMOTION_API_RATE_PER_MIN")
        with self._lock:
            bucket = self._buckets.get(record.key_id)
            if bucket is None or bucket.rate != rate:
                bucket = self._buckets[record.key_id] = _Bucket(rate)
            wait = bucket.take()
        if wait:
            raise errors.too_many(wait)
        return record
