"""One writer at a time inside the server process.

The server answers requests on many threads, and the store's get-or-create steps (campaign,
stimulus, source, job claim) are not atomic across connections of one process: two snapshots
pushed at the same moment raced to create the same source and one failed. Every write the
service makes (snapshot ingest, queuing a video, recording stale jobs) holds this lock, so the
service writes like a single CLI process does. Recognition never writes and never waits here.
"""

from __future__ import annotations

import threading

WRITE_LOCK = threading.Lock()
