"""The indicators: each defined once, with the formula the pages, the API and the docs show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.assessment.scoring import Scoring, parse_scoring
from app.definitions import configuration
from app.services.locality import CAPABILITIES

RULES_FILE = configuration.CONFIG_DIR / "assessment.yaml"


@dataclass(frozen=True)
class Indicator:
    code: str
    zh: str
    en: str
    formula_zh: str
    formula_en: str
    unit: str  # "%" (a rate, 0–100), "h" (working hours), "n" (a count), "score" (1–5)

    @property
    def lower_is_better(self) -> bool:
        """Rankings put the smallest value first (response times, rework, send-backs, 督办)."""
        return self.code in LOWER_IS_BETTER


LOWER_IS_BETTER = frozenset({"report_in_hours_median", "report_in_hours_p90", "rework_rate", "sent_back_rate",
                             "supervised", "supervised_open", "close_hours_avg"})

DEPARTMENT_INDICATORS: tuple[Indicator, ...] = (
    Indicator("summoned", "被吹哨次数", "Whistles summoned to", "期内召集本部门报到的吹哨数",
              "whistles in the period that summoned the department", "n"),
    Indicator("report_in_rate", "报到率", "Report-in rate", "已报到 ÷ 被召集", "reported in ÷ summoned", "%"),
    Indicator("on_time_report_in_rate", "按时报到率", "On-time report-in rate", "时限内报到 ÷ 被召集",
              "reported in within the limit ÷ summoned", "%"),
    Indicator("report_in_hours_median", "报到响应时长（中位数）", "Report-in response (median)",
              "吹哨到报到的工作时长，中位数", "working hours from the whistle to the report-in, median", "h"),
    Indicator("report_in_hours_p90", "报到响应时长（90%分位）", "Report-in response (p90)",
              "吹哨到报到的工作时长，90% 分位", "working hours from the whistle to the report-in, 90th percentile",
              "h"),
    Indicator("handled_on_time_rate", "按期办结率", "Handled on time", "时限内办结 ÷ 到期应办结",
              "handled within the limit ÷ handling tasks due (done, or open past their limit)", "%"),
    Indicator("rework_rate", "返工率", "Rework rate", "经核查返工的案件 ÷ 办理的案件",
              "cases sent back for rework after verification ÷ cases handled", "%"),
    Indicator("sent_back_rate", "回退率", "Send-back rate", "回退 ÷ 派单（二级）", "sent back ÷ dispatched (grade 2)",
              "%"),
    Indicator("supervised", "督办次数", "督办 entries", "期内挂账督办的条目", "supervised-ledger entries opened",
              "n"),
    Indicator("supervised_open", "未销号督办", "Open 督办 entries", "尚未销号的督办条目", "ledger entries still open",
              "n"),
    Indicator("efficiency", "报到效率", "Report-in efficiency", "一哨一考平均分", "average 一哨一考 rating", "score"),
    Indicator("cooperation", "配合度", "Cooperation", "一哨一考平均分", "average 一哨一考 rating", "score"),
    Indicator("professionalism", "专业性", "Professionalism", "一哨一考平均分", "average 一哨一考 rating", "score"),
    Indicator("responsibility", "担当意识", "Sense of responsibility", "一哨一考平均分", "average 一哨一考 rating",
              "score"),
    Indicator("evaluation_score", "一哨一考综合分", "一哨一考 overall", "四项平均分的平均",
              "mean of the four ratings", "score"),
    Indicator("satisfaction_rate", "满意率", "Satisfaction rate", "（满意 + 0.9 × 基本满意）÷ 有效回访",
              "(satisfied + 0.9 × basically satisfied) ÷ valid call-backs (weights in config/assessment.yaml)", "%"),
)
# 考核得分: the locality's scoring rules applied to the indicators above (scoring.py, docs/assessment.md).
SCORE = Indicator("score", "考核得分", "Score", "本地考核规则：基础分 + Σ 权重 × 各项得分",
                  "the locality's rules: base + Σ weight × each term's points (assessment.yaml scoring)", "score")

UNIT_INDICATORS: tuple[Indicator, ...] = (
    Indicator("whistles_started", "吹哨数", "Whistles started", "期内本单位吹响的哨", "whistles the unit blew", "n"),
    Indicator("whistles_closed", "办结数", "Whistles closed", "其中已办结", "of them closed (solved)", "n"),
    Indicator("close_rate", "办结率", "Close rate", "办结 ÷ 吹哨", "closed ÷ started", "%"),
    Indicator("closed_at_once_rate", "一次办结率", "Closed at once", "未返工即办结 ÷ 办结",
              "closed without rework ÷ closed", "%"),
    Indicator("escalated", "上报上级", "Escalated", "协调不了而上报上级的哨", "whistles escalated a level up", "n"),
    Indicator("close_hours_avg", "平均办结时长", "Average time to close", "受理到办结的工作时长，平均",
              "working hours from report to closure, mean", "h"),
    Indicator("closed_on_time_rate", "按期办结率（哨件）", "Whistles closed on time", "期限内办结 ÷ 办结",
              "closed by the case's time limit ÷ closed", "%"),
    Indicator("whistles_pushed", "推送市级", "Pushed to the city", "其中已办结并记录推送市级的哨",
              "of them closed and recorded as pushed to the city's assessment", "n"),
)


INDICATORS = {"departments": (*DEPARTMENT_INDICATORS, SCORE), "units": (*UNIT_INDICATORS, SCORE)}
# The dashboard's headline figures: (side, indicator), each the sum over the units seen. Only figures
# whose counted rows belong to one unit each (a report-in, a task, a case's whistling unit, a ledger
# entry), so the total is exact: a call-back shared by two departments would count twice.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("units", "whistles_started"), ("units", "whistles_closed"), ("units", "close_rate"),
    ("departments", "report_in_rate"), ("departments", "on_time_report_in_rate"),
    ("departments", "handled_on_time_rate"), ("departments", "supervised_open"),
)


def indicator(side: str, code: str) -> Indicator:
    """The indicator of a side (``departments`` or ``units``) by code; KeyError for an unknown one."""
    found = {i.code: i for i in INDICATORS[side]}
    return found[code]


@dataclass(frozen=True)
class Ranking:
    """How a side is ranked: by one indicator, ties broken by the next (config/assessment.yaml)."""

    order: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """How the indicators read the record (config/assessment.yaml)."""

    handling_stages: frozenset[str]
    sent_back_stage: str
    sent_back_field: str
    sent_back_value: Any
    satisfaction_weights: dict[str, float]
    rankings: dict[str, Ranking]
    red_list: int  # 红榜: the first N of a ranking
    black_list: int  # 黑榜: the last N
    scoring: Scoring  # 考核得分、等次 (scoring.py)
    push: Push | None = None  # 推送市级: who records whistles as pushed, when the locality does


@dataclass(frozen=True)
class Push:
    """推送市级 (官渡): a user whose role grants ``capability`` over the whistling unit records a closed
    whistle of one of ``levels`` as pushed to the city."""

    capability: str
    levels: frozenset[str]


def load_rules() -> Rules:
    """The scoring rules in effect (assessment.yaml, deployed with the processes like the catalogue)."""
    return configuration.load("assessment")  # type: ignore[no-any-return]


@configuration.loader("assessment")
def _read(config: configuration.Configuration) -> Rules:
    raw, lines = configuration.yaml_with_lines(config.text("assessment.yaml"), "assessment.yaml",
                                               configuration.ConfigurationError)
    if not isinstance(raw or {}, dict):
        raise ValueError("assessment.yaml: must be a mapping (satisfaction, handling_stages, ranking ...)")
    return parse_rules(raw or {}, lines=lines)


def parse_rules(raw: dict[str, Any], path: Path = RULES_FILE, lines: dict[tuple[str, ...], int] | None = None) -> Rules:
    sent_back = raw.get("sent_back") or {}
    weights = {str(k): float(v) for k, v in (raw.get("satisfaction") or {}).items()}
    if not weights or any(not 0 <= w <= 1 for w in weights.values()):
        raise ValueError(f"{path.name}: satisfaction: give each answer a weight from 0 to 1")
    ranking = raw.get("ranking") or {}
    return Rules(frozenset(raw.get("handling_stages") or ()), str(sent_back.get("stage", "")),
                 str(sent_back.get("field", "")), sent_back.get("value"), weights,
                 {side: _ranking(path, side, ranking.get(side)) for side in INDICATORS},
                 _count(path, "red_list", ranking.get("red_list", 3)),
                 _count(path, "black_list", ranking.get("black_list", 3)),
                 parse_scoring(raw.get("scoring"), lines or {}, {side: {i.code for i in INDICATORS[side]} - {"score"}
                                                                 for side in INDICATORS}),
                 _push(path, raw.get("push")))


def _push(path: Path, raw: Any) -> Push | None:
    if raw is None:
        return None
    section = raw if isinstance(raw, dict) else {}
    capability, levels = section.get("capability"), section.get("levels")
    if capability not in CAPABILITIES or not isinstance(levels, list) or not levels:
        raise ValueError(f"{path.name}: push: give a capability ({', '.join(sorted(CAPABILITIES))}) and levels")
    return Push(str(capability), frozenset(str(level) for level in levels))


def _ranking(path: Path, side: str, raw: Any) -> Ranking:
    order = tuple(str(code) for code in (raw or {}).get("by") or ())
    known = {i.code for i in INDICATORS[side]}
    if not order or not set(order) <= known:
        raise ValueError(f"{path.name}: ranking.{side}.by: give one or more of {', '.join(sorted(known))}")
    return Ranking(order)


def _count(path: Path, name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 50:
        raise ValueError(f"{path.name}: ranking.{name}: a whole number from 0 to 50")
    return value
