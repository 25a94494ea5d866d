"""The journal: every change is an event appended to a hash chain — the case's own, or the system
chain for events of no case (a deploy, a login attempt). Everything that records an event uses this
module; it sits below the features so that none of them needs another to write its record."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import stage_insert
from app.models import AuditChain, Case, Event, User
from app.services import chain, clock


def record_event(
    session: Session,
    case: Case | None,
    type_: str,
    actor: User | str | None,
    *,
    role: str | None = None,
    unit_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one event to its chain: the case's, or ``system`` for events of no case. ``actor``
    is a user, a name (a login attempt, a deploy by the CLI) or None for the system itself. The
    row is written at the session's next flush (``stage_insert``)."""
    if case is not None:
        seq = case.event_count = (case.event_count or 0) + 1
        prev_hash = case.chain_head or chain.GENESIS
    else:
        head = _system_chain(session)
        seq = head.length = head.length + 1
        prev_hash = head.head
    if isinstance(actor, User):
        actor_id, actor_name = actor.id, actor.username
    else:
        actor_id, actor_name = None, (actor or "system")[:64]
    case_id = case.id if case is not None else None
    version_id = case.process_version_id if case is not None else None
    state_version = case.version if case is not None else None
    created_at = clock.now()
    # The canonical text is what the engine stores (app/db.py) and what the hash covers; the row
    # gets a parsed copy, so a later in-place change by the caller cannot reach the stored value.
    text = chain.canonical_json(data or {})
    digest = chain.text_hash(case_id, seq, type_, actor_name, actor_id, role, unit_id, version_id, state_version,
                             created_at, text, prev_hash)
    if case is not None:
        case.chain_head = digest
    else:
        head.head = digest
    stage_insert(session, Event.__table__, {
        "case_id": case_id, "seq": seq, "type": type_, "actor_id": actor_id, "actor": actor_name, "role": role,
        "unit_id": unit_id, "process_version_id": version_id, "state_version": state_version,
        "data": json.loads(text), "created_at": created_at, "prev_hash": prev_hash, "hash": digest,
    })


SYSTEM_CHAIN = "system"


def _system_chain(session: Session) -> AuditChain:
    """The head row of the no-case chain, locked until commit: appends to it queue up."""
    head = session.scalar(select(AuditChain).where(AuditChain.name == SYSTEM_CHAIN).with_for_update())
    if head is None:
        head = AuditChain(name=SYSTEM_CHAIN, head=chain.GENESIS, length=0)
        session.add(head)
    return head
