"""Settings per environment, from environment variables (WHISTLE_*) with safe defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'whistle.db'}"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    processes_dir: Path = ROOT / "processes"
    config_dir: Path = ROOT / "config"
    upload_dir: Path = ROOT / "instance" / "uploads"  # outside the web root; files under generated names
    max_body_bytes: int = 1 * 1024 * 1024
    script_time_limit: float = 1.0
    testing: bool = False
    # Run the timer scheduler inside each web process, from its first request (WHISTLE_SCHEDULER=1);
    # or run `flask --app wsgi scheduler` as processes of their own. Any number may run at once.
    scheduler: bool = False
    scheduler_scan_seconds: float = 10.0
    # The anchor ledger (docs/audit.md, *Anchors*): outside the database, append-only. Keep it on
    # storage the database's administrators cannot write, and file its lines elsewhere too.
    anchor_path: Path = ROOT / "instance" / "anchors.jsonl"
    # Schedulers anchor every chain head this often (0: only `flask anchor`); several may run at once.
    anchor_hours: float = 6.0
    # Login sessions: the cookie is Secure when served over HTTPS (WHISTLE_SECURE_COOKIES=1); a session
    # ends after this long without a request, and this long after the login whatever happens.
    secure_cookies: bool = False
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
    trusted_proxies: int = 0
    # Failed logins: this many per account (per address) within an hour go unhindered, then each
    # further failure locks the account (address) for lockout × 2ⁿ seconds, at most lockout_max.
    login_account_failures: int = 5
    login_address_failures: int = 20
    login_lockout_seconds: int = 30
    login_lockout_max_seconds: int = 900
    # Public pages (no login), per address: reports per hour, uploaded MB per day, tracking lookups
    # per hour; and the MB all public uploads together may add per day.
    public_reports_per_hour: int = 10
    public_upload_mb_per_day: int = 100
    public_upload_total_mb_per_day: int = 2048
    track_lookups_per_hour: int = 120

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        env = os.environ
        if env.get("WHISTLE_DATABASE_URL") or env.get("DATABASE_URL"):
            values["database_url"] = env.get("WHISTLE_DATABASE_URL") or env["DATABASE_URL"]
        if env.get("WHISTLE_SECRET_KEY"):
            values["secret_key"] = env["WHISTLE_SECRET_KEY"]
        if env.get("WHISTLE_PROCESSES_DIR"):
            values["processes_dir"] = Path(env["WHISTLE_PROCESSES_DIR"])
        if env.get("WHISTLE_SCHEDULER", "").lower() in ("1", "true", "yes", "on"):
            values["scheduler"] = True
        if env.get("WHISTLE_SCHEDULER_SCAN_SECONDS"):
            values["scheduler_scan_seconds"] = float(env["WHISTLE_SCHEDULER_SCAN_SECONDS"])
        if env.get("WHISTLE_ANCHOR_PATH"):
            values["anchor_path"] = Path(env["WHISTLE_ANCHOR_PATH"])
        if env.get("WHISTLE_ANCHOR_HOURS"):
            values["anchor_hours"] = float(env["WHISTLE_ANCHOR_HOURS"])
        if env.get("WHISTLE_UPLOAD_DIR"):
            values["upload_dir"] = Path(env["WHISTLE_UPLOAD_DIR"])
        if env.get("WHISTLE_SECURE_COOKIES", "").lower() in ("1", "true", "yes", "on"):
            values["secure_cookies"] = True
        for name in INT_SETTINGS:
            if env.get(f"WHISTLE_{name.upper()}"):
                values[name] = int(env[f"WHISTLE_{name.upper()}"])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


# Whole-number settings read from WHISTLE_<NAME> (e.g. WHISTLE_SESSION_IDLE_MINUTES=30).
INT_SETTINGS = (
    "session_idle_minutes", "session_max_hours", "trusted_proxies", "login_account_failures",
    "login_address_failures", "login_lockout_seconds", "login_lockout_max_seconds", "public_reports_per_hour",
    "public_upload_mb_per_day", "public_upload_total_mb_per_day", "track_lookups_per_hour",
)
