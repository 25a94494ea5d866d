"""The dossier of one case (案卷): its full chain, its snapshots' hashes and both checks, to file.

The JSON form is for machines (and can be re-verified: every event carries what its hash covers);
``dossier_hash`` is the SHA-256 of the canonical JSON of everything else in it. The HTML form is
one self-contained page (no scripts, no external files, everything escaped) that prints on A4 and
reads as a paper 案卷: local time, Chinese labels, people's and units' names, what people did first
and the hashes, the engine's bookkeeping and the raw data in appendices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Case, Event, ProcessVersion, Snapshot, Unit, User
from app.services import chain, clock
from app.services.audit import case_header, event_view, steps_of, verify
from app.services.auth import Principal
from app.services.cases import iso, visible
from app.services.catalogue import load_catalogue
from app.services.locality import load_locality
from app.services.lookups import FormLabels, form_labels
from app.services.names import DUTIES, EVENTS, OUTCOMES, RECORD_EVENTS, SATISFACTION, STATUSES
from app.services.record_keys import LEGACY_PLACE_FIELD, PLACE_FIELD, RESPONDING_UNIT
from app.services.replay import replay_case
from app.services.worktime import load_calendar

FORMAT = "whistle-dossier/1"


def dossier(session: Session, principal: Principal, case_id: int) -> dict[str, Any]:
    case = visible(session, principal, case_id)
    events = list(session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq)))
    units = {u.id: u for u in session.scalars(select(Unit))}
    snapshots = session.execute(
        select(Snapshot.state_version, Snapshot.state_hash, Snapshot.projection_hash, Snapshot.created_at)
        .where(Snapshot.case_id == case.id).order_by(Snapshot.state_version)
    ).all()
    version = session.get(ProcessVersion, case.process_version_id)
    body: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": iso(clock.now()),
        "generated_by": principal.user.username,
        "case": case_header(case) | {"process_content_hash": version.content_hash if version else None},
        "chain": {"algorithm": "sha256", "canonical_form": f"chain format {chain.FORMAT}: JSON array, sorted keys",
                  "head": case.chain_head, "length": case.event_count},
        "verification": verify(session, [case.id], snapshots=True, system=False).as_dict(),
        "replay": replay_case(session, case.id, events).as_dict(),
        "steps": steps_of(events),
        # with the ids and the exact time, so every hash can be recomputed from the dossier alone
        "events": [event_view(e, units) | {"actor_id": e.actor_id, "unit_id": e.unit_id,
                                           "created_at": e.created_at.isoformat()} for e in events],
        "snapshots": [{"step": s.state_version, "state_hash": s.state_hash, "projection_hash": s.projection_hash,
                       "at": iso(s.created_at)} for s in snapshots],
    }
    body["dossier_hash"] = chain.sha256_text(chain.canonical_json(body))
    return body


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>案卷 {{ d.case.number }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; margin: 2em;
       color: #111; font-size: 11pt; }
h1 { font-size: 18pt; text-align: center; margin-bottom: .2em; } h2 { font-size: 13pt; border-bottom: 1px solid #999;
     margin-top: 1.5em; } .sub { text-align: center; margin-top: 0; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #bbb; padding: 3px 5px;
        vertical-align: top; text-align: left; font-size: 9.5pt; }
th { background: #eee; } tr { page-break-inside: avoid; } thead { display: table-header-group; }
.ok { color: #064; font-weight: bold; } .bad { color: #a00; font-weight: bold; } .muted { color: #555; }
.hash, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all;
             white-space: pre-wrap; margin: 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; } dt { font-weight: bold; }
dl.form { gap: 0 .6em; margin: 0; } dl.form dt { font-weight: normal; color: #555; }
.appendix { page-break-before: always; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
</style></head>
<body>
<h1>吹哨全留痕 · 案卷</h1>
<p class="sub">{{ d.case.number }} · {{ d.case.title }}</p>
<dl>
<dt>案件编号</dt><dd>{{ d.case.number }}</dd>
<dt>标题</dt><dd>{{ d.case.title }}</dd>
<dt>状态</dt><dd>{{ r.status(d.case.status) }}{% if d.case.outcome %}（{{ r.outcome(d.case.outcome) }}）{% endif %}</dd>
<dt>立案时间</dt><dd>{{ r.local(d.case.created_at) }}</dd>
<dt>流程</dt><dd>{{ d.case.process_id }} · 第 {{ d.case.process_version }} 版</dd>
<dt>哈希链校验</dt><dd>{% if d.verification.ok %}<span class="ok">✓ 哈希链完整 chain intact</span>
  （{{ d.verification.events }} 个事件，{{ d.verification.snapshots }} 个快照）{% else %}
  <span class="bad">✗ 哈希链不完整：{{ d.verification.first_break.line }}</span>{% endif %}</dd>
<dt>重放校验</dt><dd>{% if d.replay.ok %}<span class="ok">✓ 重放一致</span>（{{ d.replay.steps }} 步）
  {% elif d.replay.error %}<span class="bad">✗ 第 {{ d.replay.error.step }} 步无法重放（不说明记录有误）：
  {{ d.replay.error.message }}</span>{% else %}<span class="bad">✗ 第 {{ d.replay.divergence.step }} 步与记录不符：
  {{ d.replay.divergence.message }}</span>{% endif %}</dd>
<dt>制卷</dt><dd>{{ r.local(d.generated_at) }} · {{ r.person(d.generated_by) }}</dd>
<dt>时间</dt><dd class="muted">均为{{ r.zone_name }}时间</dd>
</dl>
<h2>办理过程</h2>
<table><thead><tr><th>步</th><th>时间</th><th>办理人</th><th>环节</th><th>办理内容</th></tr></thead><tbody>
{% for e in d.events if e.type not in r.bookkeeping %}<tr><td>{{ e.state_version }}</td><td>{{ r.local(e.at) }}</td>
<td>{{ r.person(e.actor) }}{% if e.role %}<br><span class="muted">{{ r.role(e.role) }}
{%- if e.unit %} · {{ r.unit(e.unit) }}{% endif %}</span>
{% elif e.unit %}<br><span class="muted">{{ r.unit(e.unit) }}</span>{% endif %}</td>
<td>{{ r.event(e.type) }}{% if e.data.task %}<br>{{ r.task(e.data.task) }}{% endif %}</td>
<td>{% set fields = r.fields(e) %}{% if fields %}<dl class="form">{% for label, value in fields %}
<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>{% endif %}</td></tr>
{% endfor %}</tbody></table>

<div class="appendix">
<h2>附录一 校验数据</h2>
<dl>
<dt>链头哈希</dt><dd class="hash">{{ d.chain.head }}（共 {{ d.chain.length }} 个事件）</dd>
<dt>算法</dt><dd>{{ d.chain.algorithm }} · {{ d.chain.canonical_form }}</dd>
<dt>流程内容哈希</dt><dd class="hash">{{ d.case.process_content_hash }}</dd>
<dt>案卷哈希</dt><dd class="hash">{{ d.dossier_hash }}</dd>
</dl>
<h2>附录二 事件哈希链</h2>
<table><thead><tr><th>#</th><th>步</th><th>时间</th><th>事件</th><th>前一哈希</th><th>本事件哈希</th></tr></thead><tbody>
{% for e in d.events %}<tr><td>{{ e.seq }}</td><td>{{ e.state_version }}</td><td>{{ r.local(e.at) }}</td>
<td>{{ r.event(e.type) }}<br><span class="muted">{{ e.type }}</span></td><td class="hash">{{ e.prev_hash }}</td>
<td class="hash">{{ e.hash }}</td></tr>
{% endfor %}</tbody></table>
<h2>附录三 状态快照哈希</h2>
<table><thead><tr><th>步</th><th>时间</th><th>状态哈希</th><th>投影哈希</th></tr></thead><tbody>
{% for s in d.snapshots %}<tr><td>{{ s.step }}</td><td>{{ r.local(s.at) }}</td><td class="hash">{{ s.state_hash }}</td>
<td class="hash">{{ s.projection_hash }}</td></tr>
{% endfor %}</tbody></table>
<h2>附录四 事件原始数据</h2>
<table><thead><tr><th>#</th><th>数据</th></tr></thead><tbody>
{% for e in d.events %}<tr><td>{{ e.seq }}</td><td><pre>{{ e.data | tojson_pretty }}</pre></td></tr>
{% endfor %}</tbody></table>
</div>
</body></html>
"""

_env = Environment(autoescape=True)
_env.filters["tojson_pretty"] = lambda value: chain.canonical_json(value)
_page = _env.from_string(_TEMPLATE)
# The engine's bookkeeping: in the appendices, not in the account of what people did.
BOOKKEEPING = frozenset({"task_ready", "handler_called", "state_saved", "process_started"})


@dataclass(frozen=True)
class Reading:
    """The names a paper dossier uses for the record's codes, in Chinese and local time."""

    people: dict[str, str]
    units: dict[str, str]
    titles: dict[str, str]  # task type → its Chinese title
    forms: FormLabels
    zone: ZoneInfo
    bookkeeping: frozenset[str] = BOOKKEEPING

    @property
    def zone_name(self) -> str:
        return "北京" if self.zone.key == "Asia/Shanghai" else self.zone.key

    def local(self, value: str | None) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value.removesuffix("Z"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def person(self, username: str) -> str:
        if username == "system":
            return "系统"
        return f"{self.people[username]}（{username}）" if username in self.people else username

    def unit(self, code: str) -> str:
        return self.units.get(code, code)

    def role(self, code: str) -> str:
        role = load_locality().roles.get(code)
        return role.label.text(False) if role else code

    def event(self, kind: str) -> str:
        return (EVENTS | RECORD_EVENTS).get(kind, kind)

    def task(self, code: str) -> str:
        return self.titles.get(code, code)

    def status(self, code: str) -> str:
        return STATUSES.get(code, code)

    def outcome(self, code: str) -> str:
        return OUTCOMES.get(code, code)

    def fields(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        """An event's content as labelled fields: a form under the form's titles, else its data."""
        data = event["data"] if isinstance(event["data"], dict) else {}
        if event["type"] == "task_completed" and isinstance(data.get("form"), dict):
            task_id = data.get("task_id")
            return [(self.forms.field(task_id, k), self._value(k, v, self.forms.choice(task_id, k, v)))
                    for k, v in data["form"].items()]
        return [(DATA_LABELS.get(k, k), self._value(k, v, None)) for k, v in data.items() if k not in HIDDEN_DATA]

    def _value(self, key: str, value: Any, choice: str | None) -> str:
        if choice:
            return choice
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, (dict, list)):
            return "、".join(map(str, value)) if isinstance(value, list) and all(
                isinstance(v, (str, int)) for v in value) else chain.canonical_json(value)
        return self._code(key, "" if value is None else str(value))

    def _code(self, key: str, text: str) -> str:
        if key == "matter" and (matter := load_catalogue().matter(text)):
            return matter.name
        if key == "level" and (level := load_locality().levels.get(text)):
            return level.label.text(False)
        if key == "satisfaction":
            return SATISFACTION.get(text, text)
        if key == "outcome":
            return OUTCOMES.get(text, text)
        if key == "duty":
            return DUTIES.get(text, text)
        return self.units.get(text, text)


# Labels of the data events carry besides forms; the engine's own keys stay in the appendix.
DATA_LABELS = {
    "number": "案件编号", "title": "标题", "channel": "渠道", PLACE_FIELD: "地点", LEGACY_PLACE_FIELD: "地点",
    "level": "层级", "whistle_unit": "吹哨单位", RESPONDING_UNIT: "部门", "duty": "责任", "on_time": "按时",
    "score": "得分", "reason": "理由", "outcome": "结果", "satisfaction": "满意度", "comment": "意见", "name": "附件",
    "assignee": "指派给", "public": "公开", "efficiency": "报到效率", "cooperation": "配合度",
    "professionalism": "专业性", "responsibility": "担当意识", "parent": "原案件", "matter": "事项",
}
HIDDEN_DATA = frozenset({"engine_task_id", "task", "task_id", "process", "attachment_id", "sha256", "size",
                         "content_type", "state_hash", "projection_hash"})


def reading_of(session: Session, body: dict[str, Any]) -> Reading:
    """The names behind the codes of one dossier, read once."""
    events = body["events"]
    usernames = sorted({e["actor"] for e in events} | {body["generated_by"]})
    people = dict(session.execute(select(User.username, User.name).where(User.username.in_(usernames))).all())
    titles = {e["data"]["task"]: str(e["data"].get("title", e["data"]["task"])).split(" ")[0]
              for e in events if e["type"] == "task_ready" and isinstance(e["data"], dict) and "task" in e["data"]}
    units = dict(session.execute(select(Unit.code, Unit.name)).all())
    case = session.get(Case, body["case"]["id"])
    return Reading(people, units, titles, form_labels(session, case), load_calendar().zone)


def dossier_html(body: dict[str, Any], reading: Reading) -> str:
    return _page.render(d=body, r=reading)


def filename(body: dict[str, Any], suffix: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", f"dossier-{body['case']['number']}") + suffix
