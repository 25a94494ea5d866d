"""The dossier of one case (案卷): its full chain, its snapshots' hashes and both checks, to file.

The JSON form is for machines (and can be re-verified: every event carries what its hash covers);
``dossier_hash`` is the SHA-256 of the canonical JSON of everything else in it. The HTML form is
one self-contained page (no scripts, no external files, everything escaped) that prints on A4.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Event, ProcessVersion, Snapshot, Unit
from app.services import chain, clock
from app.services.audit import case_header, event_view, steps_of, verify
from app.services.auth import Principal
from app.services.cases import iso, visible
from app.services.replay import replay_case

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
<title>案卷 Dossier {{ d.case.number }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; margin: 2em;
       color: #111; font-size: 11pt; }
h1 { font-size: 16pt; margin-bottom: .2em; } h2 { font-size: 13pt; border-bottom: 1px solid #999; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #bbb; padding: 3px 5px;
        vertical-align: top; text-align: left; font-size: 9.5pt; }
th { background: #eee; } tr { page-break-inside: avoid; } thead { display: table-header-group; }
.ok { color: #064; font-weight: bold; } .bad { color: #a00; font-weight: bold; }
.hash, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all;
             white-space: pre-wrap; margin: 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; } dt { font-weight: bold; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
</style></head>
<body>
<h1>吹哨全留痕 案卷 · Case dossier {{ d.case.number }}</h1>
<p>{{ d.case.title }}</p>
<dl>
<dt>流程 Process</dt><dd>{{ d.case.process_id }} · 版本 version {{ d.case.process_version }}
  <span class="hash">{{ d.case.process_content_hash }}</span></dd>
<dt>状态 Status</dt><dd>{{ d.case.status }}{% if d.case.outcome %} ({{ d.case.outcome }}){% endif %}</dd>
<dt>创建 Created</dt><dd>{{ d.case.created_at }}</dd>
<dt>生成 Generated</dt><dd>{{ d.generated_at }} · {{ d.generated_by }}</dd>
<dt>链头 Chain head</dt><dd class="hash">{{ d.chain.head }} ({{ d.chain.length }} 事件 events)</dd>
<dt>校验 Verification</dt><dd>{% if d.verification.ok %}<span class="ok">✓ 哈希链完整 chain intact</span>
  ({{ d.verification.events }} events, {{ d.verification.snapshots }} snapshots){% else %}
  <span class="bad">✗ {{ d.verification.first_break.line }}</span>{% endif %}</dd>
<dt>重放 Replay</dt><dd>{% if d.replay.ok %}<span class="ok">✓ 重放一致 no divergence</span>
  ({{ d.replay.engine_steps }} steps){% elif d.replay.error %}<span class="bad">✗ 重放出错（非不一致）
  replay error, not a divergence, 第 {{ d.replay.error.step }} 步 step {{ d.replay.error.step }}:
  {{ d.replay.error.message }}</span>{% else %}<span class="bad">✗ 第 {{ d.replay.divergence.step }} 步
  step {{ d.replay.divergence.step }}: {{ d.replay.divergence.message }}</span>{% endif %}</dd>
<dt>案卷哈希 Dossier hash</dt><dd class="hash">{{ d.dossier_hash }}</dd>
</dl>
<h2>步骤 Steps</h2>
<table><thead><tr><th>步 Step</th><th>时间 At</th><th>操作人 Actor</th><th>内容 What</th><th>状态哈希 State hash</th>
</tr></thead><tbody>
{% for s in d.steps %}<tr><td>{{ s.step }}</td><td>{{ s.at }}</td><td>{{ s.actor }}</td>
<td>{{ s.kind }}{% if s.task %} · {{ s.task }}{% endif %}</td><td class="hash">{{ s.state_hash or "—" }}</td></tr>
{% endfor %}</tbody></table>
<h2>事件 Events</h2>
<table><thead><tr><th>#</th><th>时间 At</th><th>事件 Event</th><th>操作人 Actor · 角色 role · 单位 unit</th>
<th>数据 Data</th><th>哈希 Hash</th></tr></thead><tbody>
{% for e in d.events %}<tr><td>{{ e.seq }}</td><td>{{ e.at }}</td><td>{{ e.type }}<br>v{{ e.state_version }}</td>
<td>{{ e.actor }}{% if e.role %} · {{ e.role }}{% endif %}{% if e.unit %} · {{ e.unit }}{% endif %}</td>
<td><pre>{{ e.data | tojson_pretty }}</pre></td><td class="hash">{{ e.hash }}</td></tr>
{% endfor %}</tbody></table>
</body></html>
"""

_env = Environment(autoescape=True)
_env.filters["tojson_pretty"] = lambda value: chain.canonical_json(value)
_page = _env.from_string(_TEMPLATE)


def dossier_html(body: dict[str, Any]) -> str:
    return _page.render(d=body)


def filename(body: dict[str, Any], suffix: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", f"dossier-{body['case']['number']}") + suffix
