"""12345 work-order import: dry run, refusals with their reasons, real import, idempotence, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.intake.orders import import_orders
from app.intake.sources import find_source
from app.models import Case, Event, ImportedOrder, User
from app.services.auth import principal_for
from app.services.errors import Forbidden, Invalid
from tests.fixtures.work_orders import bad_rows, csv_bytes, good_rows, prefix, xlsx

OPERATOR = "op-dc"  # the district platform operator: may import for every grid of the district


def _run(app: Flask, content: bytes, name: str = "orders.xlsx", dry_run: bool = False,
         username: str = OPERATOR) -> dict:
    with app.extensions["whistle.db"].unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == username))
        report = import_orders(s, principal_for(s, user), find_source("hotline_12345"), name, content,
                               dry_run=dry_run)
        return report.as_dict()


def _count(app: Flask, model: type, *where: object) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_dry_run_reports_each_row_and_stores_nothing(app: Flask) -> None:
    p = prefix()
    cases_before = _count(app, Case)
    report = _run(app, xlsx(good_rows(p) + bad_rows(p)), dry_run=True)
    outcomes = {r["number"]: (r["outcome"], r["field"]) for r in report["rows"]}
    assert outcomes[f"{p}-001"] == ("would_create", "")
    assert outcomes[f"{p}-101"] == ("refused", "subcategory")
    assert outcomes[f"{p}-102"] == ("refused", "address")
    assert outcomes[f"{p}-103"] == ("refused", "title")
    assert outcomes[f"{p}-104"] == ("refused", "dispatched_at")
    assert report["counts"] == {"created": 0, "would_create": 3, "skipped": 0, "refused": 4}
    assert "unknown category" in report["rows"][3]["reason"]
    assert _count(app, Case) == cases_before
    assert _count(app, ImportedOrder, ImportedOrder.number.like(f"{p}%")) == 0


def test_import_creates_cases_that_keep_their_number_and_a_second_import_creates_nothing(app: Flask) -> None:
    p = prefix()
    content = xlsx(good_rows(p) + bad_rows(p))
    first = _run(app, content)
    assert first["counts"]["created"] == 3 and first["counts"]["refused"] == 4
    with app.extensions["whistle.db"].unit_of_work() as s:
        order = s.scalar(select(ImportedOrder).where(ImportedOrder.number == f"{p}-001"))
        case = s.get(Case, order.case_id)
        assert case.channel == "hotline_12345" and case.matter == "garbage_overflow"
        assert case.place.code == "dc-s1-c1-g1" and case.reporter_phone == "13800138000"
        assert order.promised_at is not None and order.promised_at.hour == 10  # 18:00 Beijing = 10:00 UTC
        event = s.scalar(select(Event).where(Event.case_id == case.id, Event.type == "order_imported"))
        assert event.data["number"] == f"{p}-001"
        masked = s.scalar(select(Case).join(ImportedOrder, ImportedOrder.case_id == Case.id)
                          .where(ImportedOrder.number == f"{p}-002"))
        assert masked.reporter_phone == ""  # 139****5678 cannot be called back
    cases = _count(app, Case)
    second = _run(app, content)
    assert second["counts"] == {"created": 0, "would_create": 0, "skipped": 3, "refused": 4}
    assert _count(app, Case) == cases


def test_csv_in_gb18030_and_a_number_repeated_in_the_file(app: Flask) -> None:
    p = prefix()
    rows = good_rows(p)
    report = _run(app, csv_bytes([rows[0], rows[0]], "gb18030"), name="orders.csv")
    assert [r["outcome"] for r in report["rows"]] == ["created", "skipped"]


@pytest.mark.parametrize(("name", "content", "field"), [
    ("orders.xlsx", b"PK\x03\x04 not really a workbook", "file"),
    ("orders.txt", b"a,b\n", "file"),
    ("orders.csv", b"\xff\xfe\x00\x00garbage", "file"),
    ("orders.csv", b"", "file"),
])
def test_a_bad_file_is_refused_naming_the_file(app: Flask, name: str, content: bytes, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        _run(app, content, name=name)
    assert field in caught.value.fields


def test_a_user_without_the_capability_imports_nothing(app: Flask) -> None:
    with pytest.raises(Forbidden):
        _run(app, xlsx(good_rows(prefix())), username="cgzf-staff")


def test_a_street_operator_imports_only_for_its_own_street(app: Flask) -> None:
    p = prefix()
    outside = [[f"{p}-201", "12345热线", "垃圾满溢", "建设路垃圾", "市容环卫", "垃圾清运", "吴先生", "13100131000",
                "建设路10号", "2026-12-01 12:00:00", "", "建设街道", "已派发"]]
    report = _run(app, xlsx(outside), username="op-s1", dry_run=True)
    assert report["rows"][0]["outcome"] == "refused" and report["rows"][0]["field"] == "address"


def test_cli_dry_run_then_import(app: Flask, tmp_path: Path) -> None:
    p = prefix()
    file = tmp_path / "orders.xlsx"
    file.write_bytes(xlsx(good_rows(p)))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["import-orders", str(file), "--dry-run", "--user", OPERATOR])
    assert dry.exit_code == 0, dry.output
    assert "would_create 3" in dry.output
    real = runner.invoke(args=["import-orders", str(file), "--user", OPERATOR])
    assert real.exit_code == 0 and "created 3" in real.output
    again = runner.invoke(args=["import-orders", str(file), "--user", OPERATOR])
    assert "skipped 3" in again.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"nope")
    bad = runner.invoke(args=["import-orders", str(broken), "--user", OPERATOR])
    assert bad.exit_code == 2 and "xlsx" in bad.output


def test_a_file_over_the_row_limit_is_refused_whole(app: Flask) -> None:
    p = prefix()
    rows = [[f"{p}-{i}", *good_rows(p)[0][1:]] for i in range(25)]
    cases = _count(app, Case)
    with app.extensions["whistle.db"].unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == OPERATOR))
        with pytest.raises(Invalid) as caught:
            import_orders(s, principal_for(s, user), find_source("hotline_12345"), "big.xlsx", xlsx(rows),
                          dry_run=False, max_rows=20)
    assert caught.value.fields == {"file": "over 20 rows"}
    assert _count(app, Case) == cases


def test_formula_cells_are_read_as_their_value_never_as_a_formula(app: Flask) -> None:
    p = prefix()
    row = good_rows(p)[0]
    row[3] = '=HYPERLINK("http://evil.example","点我")'  # no saved value: openpyxl wrote only the formula
    report = _run(app, xlsx([row]))
    assert report["rows"][0]["outcome"] == "created"
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.scalar(select(Case).where(Case.number == report["rows"][0]["case_number"]))
        assert "HYPERLINK" not in case.description
