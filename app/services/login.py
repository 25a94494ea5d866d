"""Logging in, for the web page and the API alike: back-off per account and per address, answers
that take the same time whether the user exists or not, and failures recorded in the audit log
without letting anyone grow it at will.

Each step is a transaction of its own (the check, then the failure count), so a refused login still
counts, whatever happens to the request around it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from app.db import Database
from app.services import auth, clock, throttle
from app.services.errors import TooMany, Unauthorized

WINDOW = timedelta(hours=1)
# At most this many login_failed events an hour in all (then one per power of ten), and from one
# address the first failure of its hour and each power of ten after (10th, 100th ...): the event's
# ``failures`` says how many there were from the address so far this hour.
AUDIT_KEY = "audit:login_failed"
AUDIT_PER_HOUR = 100


@dataclass(frozen=True)
class LoginLimits:
    account_failures: int = 5
    address_failures: int = 20
    lockout_seconds: int = 30
    lockout_max_seconds: int = 900

    def lockout(self, beyond: int) -> timedelta:
        """The back-off after ``beyond`` failures past the free ones: doubling, up to the maximum."""
        return timedelta(seconds=min(self.lockout_seconds * 2 ** min(beyond, 20), self.lockout_max_seconds))


def attempt(db: Database, username: str, password: str, address: str | None, limits: LoginLimits) -> int:
    """The id of the user these credentials belong to; TooMany while the account or the address is
    locked (even for the right password), Unauthorized otherwise."""
    keys = [account_key(username), address_key(address)]
    with db.unit_of_work() as s:
        wait = throttle.blocked_for(s, keys)
        if wait:
            raise locked(wait)
        user = auth.check_credentials(s, username, password)
        if user is not None:
            throttle.clear(s, keys[0])  # the address keeps its count: one good login must not reset it
            return user.id
    with db.unit_of_work() as s:
        _count_failure(s, keys, username, address, limits)
    raise Unauthorized("wrong username or password")


def locked(seconds: int) -> TooMany:
    return TooMany(f"登录失败次数过多，请 {seconds} 秒后再试 / too many failed logins: try again in {seconds} s",
                   seconds)


def account_key(username: str) -> str:
    return "login-user:" + hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()


def address_key(address: str | None) -> str:
    return f"login-addr:{(address or 'unknown')[:64]}"


def _count_failure(s: Session, keys: list[str], username: str, address: str | None, limits: LoginLimits) -> None:
    per_account = throttle.hit(s, keys[0], WINDOW)
    per_address = throttle.hit(s, keys[1], WINDOW)
    for key, count, free in ((keys[0], per_account.count, limits.account_failures),
                             (keys[1], per_address.count, limits.address_failures)):
        if count >= free:
            throttle.block(s, key, clock.now() + limits.lockout(count - free))
    if _worth_recording(per_address.count) and _worth_recording(throttle.hit(s, AUDIT_KEY, WINDOW).count,
                                                                 AUDIT_PER_HOUR):
        auth.record_login_failure(s, username, address, per_address.count)


def _worth_recording(count: int, free: int = 1) -> bool:
    """Every one up to ``free``, then the powers of ten."""
    return count <= free or (count % 10 == 0 and str(count).rstrip("0") == "1")
