"""月度/季度通报 as a PDF (reportlab): the same content as the A4 HTML bulletin — headline figures, the
rankings with 红黑榜 and the SHA-256 recorded in the audit chain — from the stored content, so the PDF
carries exactly the published figures. Chinese is set in reportlab's built-in CID font STSong-Light
(the reader's PDF viewer supplies the glyphs): no font file, no system package.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.assessment.bulletin import Bulletin
from app.assessment.indicators import INDICATORS, Indicator
from app.assessment.labels import figure_text, indicator_formula, indicator_name
from app.web.labels import model_label, when

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, spaceAfter=4)
HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
TEXT = ParagraphStyle("text", fontName=FONT, fontSize=9, leading=13)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=11)
GRID = TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 8),
                   ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0"))])
BOARDS = {"red": colors.HexColor("#fde8e8"), "black": colors.HexColor("#e8e8e8")}


def _p(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(text), style)


def _indicators() -> dict[str, dict[str, Indicator]]:
    return {side: {i.code: i for i in items} for side, items in INDICATORS.items()}


def render(bulletin: Bulletin) -> bytes:
    """The bulletin's PDF: A4, its figures as published, its hash and audit-chain link in the footer."""
    body, known = bulletin.content, _indicators()
    buffer = BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                                 bottomMargin=15 * mm, title=f"{body['unit']['name']} {_('吹哨报到考核通报')}",
                                 subject=f"sha256:{bulletin.sha256}", author=bulletin.event.actor)
    story: list[Any] = [
        _p(f"{body['unit']['name']} · {_('吹哨报到考核通报')}", TITLE),
        _p(f"{_('统计周期')}：{body['period']['start']} — {body['period']['end']} · {_('发布')}："
           f"{when(bulletin.event.created_at)} {bulletin.event.actor}", TEXT),
        _p(_("总体情况"), HEADING), _headline(body, known)]
    for title, side, groups in ((_("职能部门排名"), "departments", {"": body["departments"]}),
                                (_("吹哨单位排名"), "units", body["units"])):
        for level, rows in sorted(groups.items()):
            if rows:
                heading = f"{title} · {model_label('level', level)}" if level else title
                story += [_p(heading, HEADING), _ranking(body, side, rows, known)]
    story += [Spacer(1, 6 * mm), _p(f"{_('本通报内容的 SHA-256（记入审计链）')}：{bulletin.sha256}", TEXT),
              _p(f"{_('审计链事件')} #{bulletin.event.seq} · {bulletin.event.hash}", TEXT)]
    document.build(story)
    return buffer.getvalue()


def _headline(body: dict[str, Any], known: dict[str, dict[str, Indicator]]) -> Table:
    rows = []
    for h in body["headline"]:
        item = known[h["side"]][h["code"]]
        rows.append([_p(indicator_name(item)), _p(figure_text(h["value"], item.unit)), _p(indicator_formula(item))])
    table = Table(rows, colWidths=[45 * mm, 25 * mm, 110 * mm])
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]))
    return table


def _ranking(body: dict[str, Any], side: str, rows: list[dict[str, Any]],
             known: dict[str, dict[str, Indicator]]) -> Table:
    order = [known[side][code] for code in body["ranking"]["by"][side]]
    boards = {"red": _("红榜"), "black": _("黑榜")}
    data = [[_p(_("名次")), _p(_("单位")), *(_p(indicator_name(i)) for i in order), _p("")]]
    for r in rows:
        data.append([_p(str(r["rank"]) if r["rank"] is not None else _("未排名")), _p(r["name"]),
                     *(_p(figure_text(r["figures"][i.code]["value"], i.unit)) for i in order),
                     _p(boards.get(r["board"] or "", ""))])
    width = 180 * mm
    table = Table(data, colWidths=[14 * mm, 50 * mm, *([(width - 80 * mm) / len(order)] * len(order)), 16 * mm],
                  repeatRows=1)
    style = TableStyle(GRID.getCommands())
    for index, r in enumerate(rows, 1):
        if r["board"] in BOARDS:
            style.add("BACKGROUND", (0, index), (-1, index), BOARDS[r["board"]])
    table.setStyle(style)
    return table
