"""A real import of a large export as a background job: checked whole before it starts, filed in
chunks with its progress (rows done / total) polled, the caller's own, a 10,000-row file."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.intake import jobs
from app.intake.orders import OUTCOMES
from app.models import Case, ImportedOrder, ImportJob, User
from app.services import clock
from tests.conftest import Api
from tests.fixtures.work_orders import HEADER, bad_rows, csv_bytes, good_rows, prefix, xlsx


def _start(api: Api, content: bytes, name: str = "day.xlsx", user: str = "op-dc") -> Any:
    return api.post(user, "/api/intake/jobs", data={"source": "hotline_12345", "file": (io.BytesIO(content), name)},
                    content_type="multipart/form-data")


def wait_for(api: Api, job_id: int, user: str = "op-dc", seconds: float = 120) -> dict[str, Any]:
    """Poll the job as the import page does until it has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = api.get(user, f"/api/intake/jobs/{job_id}").get_json()
        if job["status"] in ("done", "failed"):
            return job
        assert 0 <= job["done"] <= job["total"] and "rows" not in job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end in {seconds} s")


def _count(app: Flask, model: type, *where: object) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_job_imports_in_the_background_and_reports_each_row(app: Flask, api: Api) -> None:
    p = prefix()
    started = _start(api, xlsx(good_rows(p) + bad_rows(p)))
    assert started.status_code == 202 and started.get_json()["total"] == 7
    assert started.headers["Location"] == f"/api/intake/jobs/{started.get_json()['id']}"
    job = wait_for(api, started.get_json()["id"])
    assert (job["status"], job["done"], job["percent"]) == ("done", 7, 100)
    assert job["counts"] == {"created": 3, "would_create": 0, "skipped": 0, "refused": 4}
    assert [r["row"] for r in job["rows"]] == list(range(2, 9))
    assert _count(app, ImportedOrder, ImportedOrder.number.like(f"{p}%")) == 3
    again = wait_for(api, _start(api, csv_bytes(good_rows(p)), "day.csv").get_json()["id"])
    assert again["counts"]["skipped"] == 3 and again["counts"]["created"] == 0


def test_a_job_is_its_callers_own_and_bad_files_start_none(app: Flask, api: Api) -> None:
    jobs_before, cases = _count(app, ImportJob), _count(app, Case)
    assert _start(api, b"not a spreadsheet").status_code == 422
    assert _start(api, xlsx(good_rows(prefix())), user="gw-s1c1g1").status_code == 403
    assert _count(app, ImportJob) == jobs_before and _count(app, Case) == cases
    job_id = _start(api, xlsx(bad_rows(prefix()))).get_json()["id"]
    assert api.get("op-s1", f"/api/intake/jobs/{job_id}").status_code == 404
    assert wait_for(api, job_id)["counts"]["refused"] == 4


def test_progress_is_kept_chunk_by_chunk_and_a_broken_chunk_fails_the_job(app: Flask) -> None:
    p = prefix()
    rows: list[Any] = [dict(zip(HEADER, row, strict=True)) for row in good_rows(p)[:2]] + [None]
    with app.extensions["whistle.db"].unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == "op-dc"))
        job = ImportJob(user_id=user.id, source="hotline_12345", filename="x.xlsx", status="queued", total=3,
                        done=0, counts=json.dumps(dict.fromkeys(OUTCOMES, 0)), results="", error="",
                        created_at=clock.now())
        s.add(job)
        s.flush()
        job_id = job.id
    jobs.run(app, job_id, rows, chunk=2)  # the third "row" cannot be read: its chunk fails
    with app.extensions["whistle.db"].unit_of_work() as s:
        job = s.get(ImportJob, job_id)
        assert (job.status, job.done) == ("failed", 2) and job.error and job.finished_at is not None
        assert [r["outcome"] for r in jobs.describe(job)["rows"]] == ["created", "created"]


def test_a_10000_row_file_runs_as_a_job(app: Flask, api: Api) -> None:
    p = prefix()
    row = bad_rows(p)[1]  # no place for the address: checked, refused, quick
    started = _start(api, csv_bytes([[f"{p}-{i:05d}", *row[1:]] for i in range(10_000)]), "day.csv")
    assert started.status_code == 202 and started.get_json()["total"] == 10_000
    job = wait_for(api, started.get_json()["id"], seconds=300)
    assert job["status"] == "done" and job["done"] == 10_000 and job["counts"]["refused"] == 10_000
