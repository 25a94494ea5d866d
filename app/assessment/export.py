"""Excel exports (openpyxl): indicators, rankings and the 督办 ledger, with Chinese headers and real
number and date cells — a rate is a number formatted as a percentage, a time a date-time in the
working-time calendar's zone, so a reader can sort and sum in Excel.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.assessment.indicators import INDICATORS, Indicator, indicator
from app.assessment.service import Period, Row
from app.services.locality import load_locality
from app.services.worktime import load_calendar

FORMATS = {"%": "0.0%", "n": "0", "h": "0.00", "score": "0.00"}
UNIT_SUFFIX = {"%": "（%）", "n": "（个）", "h": "（工作时）", "score": "（分）"}
DATE_TIME = "yyyy-mm-dd hh:mm"
SIDE_TITLES = {"departments": "部门指标", "units": "吹哨单位指标"}
LEVEL_HEADER = "吹哨层级"


def header(item: Indicator) -> str:
    return f"{item.zh}{UNIT_SUFFIX[item.unit]}"


def _cell_value(item: Indicator, value: float | None) -> float | None:
    """Rates are stored 0–100; Excel's percentage format wants 0–1."""
    if value is None:
        return None
    return value / 100 if item.unit == "%" else value


def local(moment: str | datetime | None) -> datetime | None:
    """A stored time (naive UTC, or its ISO text) as the local wall-clock time Excel shows."""
    if moment is None:
        return None
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(load_calendar().zone).replace(tzinfo=None)


def _sheet(book: Workbook, title: str, headers: list[str]) -> Worksheet:
    sheet = book.create_sheet(title)
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, text in enumerate(headers, 1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, min(40, 2 * len(text) + 2))
    return sheet


def _append(sheet: Worksheet, values: Iterable[Any], formats: Iterable[str | None]) -> None:
    sheet.append(list(values))
    for cell, number_format in zip(sheet[sheet.max_row], formats, strict=False):
        if number_format:
            cell.number_format = number_format


def _save(book: Workbook) -> bytes:
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _new_book(period: Period) -> Workbook:
    book = Workbook()
    info = book.active
    info.title = "说明"
    info.append(["统计周期", period.first, period.last])
    for cell in info[1][1:]:
        cell.number_format = "yyyy-mm-dd"
    info.append([])
    info.append(["指标", "公式", "单位", "代码"])
    for side in INDICATORS:
        for item in INDICATORS[side]:
            info.append([item.zh, item.formula_zh, UNIT_SUFFIX[item.unit].strip("（）"), item.code])
    info.column_dimensions["A"].width, info.column_dimensions["B"].width = 24, 48
    return book


def indicators_workbook(period: Period, departments: list[Row], units: list[Row]) -> bytes:
    """部门指标 and 吹哨单位指标: a row per unit, a column per indicator."""
    book = _new_book(period)
    for side, rows in (("departments", departments), ("units", units)):
        items = INDICATORS[side]
        extra = [LEVEL_HEADER] if side == "units" else []
        sheet = _sheet(book, SIDE_TITLES[side], ["单位编码", "单位名称", *extra, *(header(i) for i in items)])
        for row in rows:
            level = [_level_name(row.level)] if side == "units" else []
            values = [_cell_value(i, row.figures[i.code].value) for i in items]
            _append(sheet, [row.unit.code, row.unit.name, *level, *values],
                    [None, None, *([None] * len(level)), *(FORMATS[i.unit] for i in items)])
    return _save(book)


def _level_name(code: str | None) -> str:
    level = load_locality().levels.get(code or "")
    return level.label.zh if level else str(code or "")


def rankings_workbook(period: Period, ranking: dict[str, Any]) -> bytes:
    """部门排名 and one sheet per whistle level: rank, 红黑榜, unit, the ranking's indicators."""
    book = _new_book(period)
    _ranking_sheet(book, "部门排名", "departments", ranking["departments"])
    for group in ranking["units"]:
        _ranking_sheet(book, f"吹哨单位排名-{_level_name(group['level'])}"[:31], "units", group)
    return _save(book)


def _score_columns(group: dict[str, Any]) -> dict[str, str]:
    """Header → key of the score and grade columns: the score unless the ranking is by it already."""
    columns = {"考核得分（分）": "score", "建议等次": "grade", "评定等次": "given_grade"}
    if "score" in group["by"]:
        columns.pop("考核得分（分）")
    return {name: key for name, key in columns.items() if any(row.get(key) is not None for row in group["rows"])}


def _ranking_sheet(book: Workbook, title: str, side: str, group: dict[str, Any]) -> None:
    """Rank, list, unit, the ranking's indicators, then 考核得分 and 建议等次 where the rules give them."""
    items = [indicator(side, code) for code in group["by"]]
    extra = _score_columns(group)
    sheet = _sheet(book, title, ["名次", "榜单", "单位编码", "单位名称", *(header(i) for i in items), *extra])
    boards = {"red": "红榜", "black": "黑榜"}
    for row in group["rows"]:
        values = [_cell_value(i, row["values"][i.code]) for i in items]
        more = [row[key] for key in extra.values()]
        _append(sheet, [row["rank"], boards.get(row["board"] or "", ""), row["unit"], row["name"], *values, *more],
                ["0", None, None, None, *(FORMATS[i.unit] for i in items), *("0.00" for _ in extra.values())])


LEDGER_HEADERS = ["案件编号", "案件标题", "超时单位", "任务", "办理时限", "超时（小时）", "挂账时间", "状态",
                  "销号或转办时间", "超时原因", "整改措施", "承诺完成日期"]
LEDGER_STATUS = {"open": "挂账中", "cleared": "已销号", "transferred": "已转办"}


def supervision_workbook(period: Period, items: list[dict[str, Any]]) -> bytes:
    """督办台账: the entries (supervision_ledger's items) with local times and hours late."""
    book = _new_book(period)
    sheet = _sheet(book, "督办台账", LEDGER_HEADERS)
    for e in items:
        answer = e["answer"] or {}
        promised = answer.get("promised_date")
        late = round(e["late_minutes"] / 60, 2) if e["late_minutes"] is not None else None
        _append(sheet, [e["case_number"], e["case_title"], e["unit_name"], e["task_type"], local(e["due_at"]), late,
                        local(e["opened_at"]), LEDGER_STATUS.get(e["status"], e["status"]), local(e["closed_at"]),
                        answer.get("reason"), answer.get("measures"),
                        datetime.fromisoformat(promised).date() if promised else None],
                [None, None, None, None, DATE_TIME, "0.00", DATE_TIME, None, DATE_TIME, None, None, "yyyy-mm-dd"])
    return _save(book)
