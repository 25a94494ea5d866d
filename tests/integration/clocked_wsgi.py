"""The app (``wsgi:app``) on a test clock that every process shares: the file named by
``WHISTLE_TEST_CLOCK_FILE`` holds the seconds to add to the real time, read on every ``clock.now()``.
A test moves time for the gunicorn workers and the schedulers at once by rewriting it (never import
this module in the test process itself: it replaces the clock of the process that imports it)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from app import create_app
from app.services import clock

_real_now = clock.now


def shared_now() -> datetime:
    text = Path(os.environ["WHISTLE_TEST_CLOCK_FILE"]).read_text().strip()
    return _real_now() + timedelta(seconds=float(text or 0))


clock.now = shared_now  # type: ignore[assignment]
app = create_app()
