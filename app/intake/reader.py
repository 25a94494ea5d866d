"""Read a work-order export (xlsx with openpyxl, or csv) into rows of text keyed by column header."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from app.services.errors import Invalid

MAX_ROWS = 20_000  # a day's export of a whole district is a few thousand rows
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # Excel in China saves CSV in GBK


def read_rows(name: str, content: bytes, max_rows: int = MAX_ROWS) -> list[dict[str, Any]]:
    """The data rows under the header row; a file that cannot be read, or has more than
    ``max_rows`` rows → 422 naming ``file``."""
    rows = _xlsx_rows(content) if name.lower().endswith(".xlsx") else _csv_rows(content, name)
    header = [str(cell).strip() if cell is not None else "" for cell in next(rows, [])]
    if not any(header):
        raise Invalid("the file has no header row", {"file": "no header row"})
    out: list[dict[str, Any]] = []
    for cells in rows:
        if all(cell in (None, "") for cell in cells):
            continue
        if len(out) >= max_rows:
            raise Invalid(f"the file has more than {max_rows} rows: split it, or import it with the command "
                          "`flask import-orders`", {"file": f"over {max_rows} rows"})
        out.append({h: cells[i] if i < len(cells) else None for i, h in enumerate(header) if h})
    return out


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    try:
        # data_only: a formula cell gives its saved value, never the formula
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise Invalid("the file is not a readable .xlsx workbook", {"file": "not a readable .xlsx"}) from exc
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(values_only=True):
        yield list(row)


def _csv_rows(content: bytes, name: str) -> Iterator[list[Any]]:
    if not name.lower().endswith(".csv"):
        raise Invalid("only .xlsx and .csv files can be imported", {"file": "not .xlsx or .csv"})
    for encoding in CSV_ENCODINGS:
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("the CSV file is neither UTF-8 nor GB18030 text", {"file": "unknown text encoding"})
    if "\x00" in text:
        raise Invalid("the CSV file contains NUL characters", {"file": "NUL characters"})
    yield from csv.reader(io.StringIO(text))


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a trailing .0 (order numbers read as numbers), dates in ISO."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value).strip()


DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d",
                "%Y/%m/%d", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日")


def cell_time(value: Any) -> datetime | None:
    """A cell as a local time; None when empty; ValueError when it is not a time."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    text = str(value).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(text)
