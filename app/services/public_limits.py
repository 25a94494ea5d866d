"""Limits on what the public pages (no login) take from one address: reports per hour, uploaded
photos per day (and all public uploads together per day), tracking lookups per hour. Counted in the
shared ``throttles`` table, so they hold across workers; each count is a transaction of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from app.db import Database
from app.services import throttle
from app.services.errors import TooMany

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ALL_UPLOADS = "upload:all"


@dataclass(frozen=True)
class PublicLimits:
    reports_per_hour: int = 10
    upload_mb_per_day: int = 100
    upload_total_mb_per_day: int = 2048
    lookups_per_hour: int = 120


def count_report(db: Database, address: str | None, limits: PublicLimits) -> None:
    """One more public report from ``address``; TooMany past the hourly limit."""
    with db.unit_of_work() as s:
        count = throttle.hit(s, f"report:{_address(address)}", HOUR)
    if count.count > limits.reports_per_hour:
        wait = count.resets_in(HOUR)
        most = limits.reports_per_hour
        raise TooMany(f"上报过于频繁：同一网络每小时最多上报 {most} 次，请 {_minutes(wait)} 分钟后再试 / too many "
                      f"reports from your network: at most {most} an hour; try again in {_minutes(wait)} min", wait)


def count_upload(db: Database, address: str | None, size: int, limits: PublicLimits) -> None:
    """``size`` more bytes of public photos from ``address``; TooMany (and not counted) when they
    would pass the address's daily quota or the quota of all public uploads."""
    if size <= 0:
        return
    kb = math.ceil(size / 1024)  # counted in KiB: a day's quota in bytes would not fit an INTEGER
    quotas = ((f"upload:{_address(address)}", limits.upload_mb_per_day), (ALL_UPLOADS, limits.upload_total_mb_per_day))
    with db.unit_of_work() as s:
        counts = [throttle.hit(s, key, DAY, kb) for key, _ in quotas]
        over = next(((c, mb) for c, (_, mb) in zip(counts, quotas, strict=True) if c.count > mb * 1024), None)
        if over is None:
            return
        for key, _ in quotas:  # give the refused bytes back: nothing of them is stored
            throttle.hit(s, key, DAY, -kb)
    wait = over[0].resets_in(DAY)
    raise TooMany(f"今日上传照片已达上限（{over[1]} MB），请 {_hours(wait)} 小时后再试，或不带照片上报"
                  f" / today's photo quota ({over[1]} MB) is used up: try again in {_hours(wait)} h, or report "
                  "without photos", wait, {"photo": "daily quota used up"})


def count_lookup(db: Database, address: str | None, limits: PublicLimits) -> None:
    """One more tracking lookup from ``address``; TooMany past the hourly limit."""
    with db.unit_of_work() as s:
        count = throttle.hit(s, f"track:{_address(address)}", HOUR)
    if count.count > limits.lookups_per_hour:
        wait = count.resets_in(HOUR)
        raise TooMany(f"查询过于频繁，请 {_minutes(wait)} 分钟后再试 / too many tracking lookups from your network: "
                      f"try again in {_minutes(wait)} min", wait)


def _address(address: str | None) -> str:
    return (address or "unknown")[:64]


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _hours(seconds: int) -> int:
    return max(1, math.ceil(seconds / 3600))
