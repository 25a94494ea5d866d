"""Helpers that walk cases through the JSON API, one user and one task at a time."""

from __future__ import annotations

from typing import Any

GRID = "dc-s1-c1-g1"
TWO_DEPTS = "illegal_advertising"  # lead dept-cgzf, cooperating dept-hw
DEPT_USERS = {"dept-cgzf": "cgzf", "dept-hw": "hw"}

APPROVE = {"decision": "approve"}
FORMS: dict[str, dict[str, Any]] = {
    "triage_whistle": {"grade": 3, "matter": TWO_DEPTS, "level": "community", "urgent": False},
    "prepare_whistle": {"summary": "三个小区交界处违规广告屡禁不止", "situation": "enforcement"},
    "file_whistle": {"filing_no": "BA-001", "note": "备案"},
    "report_in": {"on_site": True, "attendees": "张三", "note": "到场"},
    "coordinate": {"meeting_held": True, "attendees": ["社区", "城管"], "decisions": "分工清理",
                   "decision": "proceed"},
    "handle": {"actions": "已清理", "result": "完成"},
    "lead_confirm": {"summary": "全部完成"},
    "verify_ok": {"fixed": True, "note": "现场核查通过"},
    "verify_rework": {"fixed": False, "note": "仍有残留"},
    "feedback": {"feedback": "已电话告知处理结果", "contacted": True},
    "callback": {"satisfaction": "satisfied", "comment": "满意"},
    "evaluate": {"efficiency": 5, "cooperation": 4, "professionalism": 4, "responsibility": 5, "comment": "好"},
}

REVIEWERS = {
    "community": {"prefix": "s1c1", "filing": None, "verifier": "op-s1"},
    "street": {"prefix": "s1", "filing": "op-dc", "verifier": "op-dc"},
    "district": {"prefix": "dc", "filing": None, "verifier": "op-dc"},
}


class Flow:
    def __init__(self, api: Any) -> None:
        self.api = api

    def report(self, user: str = "gw-s1c1g1", **fields: Any) -> dict[str, Any]:
        body = {"title": "垃圾堆放", "grid": GRID, "channel": "grid_patrol", "description": "三个小区交界处"} | fields
        resp = self.api.post(user, "/api/reports", json=body)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def case(self, case_id: int) -> dict[str, Any]:
        resp = self.api.get("auditor", f"/api/cases/{case_id}")
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def open_types(self, case_id: int) -> list[str]:
        return sorted(t["task_type"] for t in self.case(case_id)["open_tasks"])

    def task(self, case_id: int, task_type: str, unit: str | None = None) -> dict[str, Any]:
        tasks = [t for t in self.case(case_id)["open_tasks"] if t["task_type"] == task_type
                 and (unit is None or t["unit"] == unit)]
        assert tasks, f"no open {task_type} ({unit}) in {self.open_types(case_id)}"
        return tasks[0]

    def do(self, user: str, case_id: int, task_type: str, form: dict[str, Any], unit: str | None = None,
           expect: int = 200) -> Any:
        task = self.task(case_id, task_type, unit)
        resp = self.api.post(user, f"/api/tasks/{task['id']}/complete", json=form)
        assert resp.status_code == expect, (task_type, resp.get_json())
        return resp.get_json()

    # --- whole stretches of the lifecycle ---------------------------------------------------------

    def review_chain(self, case_id: int, level: str) -> None:
        p = REVIEWERS[level]["prefix"]
        self.do(f"staff-{p}", case_id, "prepare_whistle", FORMS["prepare_whistle"])
        self.do(f"section-{p}", case_id, "review", APPROVE)
        self.do(f"deputy-{p}", case_id, "review", APPROVE)
        self.do(f"sec-{p}", case_id, "review_head", APPROVE)
        if REVIEWERS[level]["filing"]:
            self.do(REVIEWERS[level]["filing"], case_id, "file_whistle", FORMS["file_whistle"])

    def report_in_all(self, case_id: int, departments: list[str]) -> None:
        for dept in departments:
            self.do(f"{DEPT_USERS[dept]}-staff", case_id, "report_in", FORMS["report_in"], unit=dept)

    def handle_all(self, case_id: int, departments: list[str]) -> None:
        for dept in departments:
            self.do(f"{DEPT_USERS[dept]}-staff", case_id, "handle", FORMS["handle"], unit=dept)
        self.do(f"{DEPT_USERS[departments[0]]}-head", case_id, "lead_confirm", FORMS["lead_confirm"])

    def close_whistle(self, case_id: int, level: str, departments: list[str]) -> None:
        p = REVIEWERS[level]["prefix"]
        self.do(REVIEWERS[level]["verifier"], case_id, "verify", FORMS["verify_ok"])
        self.do(f"staff-{p}", case_id, "feedback", FORMS["feedback"])
        self.do("callback", case_id, "callback", FORMS["callback"])
        for _ in departments:  # one evaluation per department, all for the whistling unit's secretary
            self.do(f"sec-{p}", case_id, "evaluate", FORMS["evaluate"])
