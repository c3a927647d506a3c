"""Maker-checker's use cases: an approval request stored, a second admin key's decision,
and the outcome of running the approved action, each step appended to the ledger in the
same transaction as the request's change. Running the action itself is the caller's (the
API's use cases), given the request this module hands back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.approvals import add_request, get_request, list_requests, mark_decided, move
from db.engine import SessionFactory
from db.ledger import append_ledger
from db.models import ApprovalRequest
from domain.approvals import Action, ApprovalStatus
from services.errors import ServiceError


class ApprovalNotFound(ServiceError):
    pass


class SelfApprovalRefused(ServiceError):
    """The key that asked for the action cannot approve (or reject) it."""


class ApprovalAlreadyDecided(ServiceError):
    def __init__(self, request_id: str, status: str) -> None:
        super().__init__(f"approval request {request_id} is {status}, not pending")
        self.status = status


@dataclass(frozen=True)
class Admin:
    """Who acts: the actor string recorded in the ledger and the key it stands for."""

    actor: str
    key_id: str


@dataclass(frozen=True)
class Approval:
    id: str
    action: str
    customer_id: str | None
    parameters: dict[str, Any]
    reason: str
    requested_by: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    executed_at: datetime | None


def _approval(row: ApprovalRequest) -> Approval:
    return Approval(
        id=row.id,
        action=row.action,
        customer_id=row.customer_id,
        parameters=dict(row.parameters),
        reason=row.reason,
        requested_by=row.requested_by,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        result=row.result,
        error=row.error,
        created_at=row.created_at,
        executed_at=row.executed_at,
    )


def _ledger_row(
    approval_id: str,
    stage: str,
    *,
    customer_id: str | None,
    actor: str,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "event_key": f"approval:{approval_id}:{stage}",
        "customer_id": customer_id,
        "kind": f"approval_{stage}",
        "actor": actor,
        "from_status": None,
        "to_status": None,
        "plan": None,
        "interval": None,
        "mrr_delta_cents": 0,
        "data": {"approval_id": approval_id, **data},
        "occurred_at": now,
        "recorded_at": now,
    }


async def request_approval(
    sessions: SessionFactory,
    *,
    action: Action,
    customer_id: str | None,
    parameters: dict[str, Any],
    reason: str,
    requester: Admin,
    now: datetime,
) -> Approval:
    row = ApprovalRequest(
        id=str(uuid.uuid4()),
        action=action.value,
        customer_id=customer_id,
        parameters=parameters,
        reason=reason,
        requested_by=requester.actor,
        requester_key_id=requester.key_id,
        status=ApprovalStatus.PENDING.value,
        created_at=now,
    )
    async with sessions.begin() as session:
        await add_request(session, row)
        await append_ledger(
            session,
            _ledger_row(
                row.id,
                "requested",
                customer_id=customer_id,
                actor=requester.actor,
                data={"action": action.value, "parameters": parameters, "reason": reason},
                now=now,
            ),
        )
    return _approval(row)


async def approvals(
    sessions: SessionFactory, *, status: ApprovalStatus | None, limit: int
) -> list[Approval]:
    async with sessions() as session:
        rows = await list_requests(
            session, status=status.value if status is not None else None, limit=limit
        )
    return [_approval(row) for row in rows]


async def approval(sessions: SessionFactory, request_id: str) -> Approval:
    async with sessions() as session:
        row = await get_request(session, request_id)
    if row is None:
        raise ApprovalNotFound(f"approval request {request_id!r} does not exist")
    return _approval(row)


async def decide(
    sessions: SessionFactory,
    request_id: str,
    *,
    approve: bool,
    checker: Admin,
    note: str | None,
    now: datetime,
) -> Approval:
    """Approve or reject a pending request with a key other than the requester's. Only one
    decision wins: a second (or concurrent) one raises ``ApprovalAlreadyDecided``. An
    approved request is the caller's to run now, once."""
    to = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    async with sessions.begin() as session:
        row = await get_request(session, request_id)
        if row is None:
            raise ApprovalNotFound(f"approval request {request_id!r} does not exist")
        if row.requester_key_id == checker.key_id:
            raise SelfApprovalRefused(
                "the key that requested this action cannot decide it: another admin key must"
            )
        moved = await mark_decided(
            session, request_id, to=to.value, decided_by=checker.actor, note=note, at=now
        )
        if not moved:
            await session.refresh(row)
            raise ApprovalAlreadyDecided(request_id, row.status)
        await append_ledger(
            session,
            _ledger_row(
                request_id,
                to.value,
                customer_id=row.customer_id,
                actor=checker.actor,
                data={"action": row.action, "requested_by": row.requested_by, "note": note},
                now=now,
            ),
        )
        await session.refresh(row)
        return _approval(row)


async def record_outcome(
    sessions: SessionFactory,
    request_id: str,
    *,
    result: dict[str, Any] | None,
    error: str | None,
    now: datetime,
) -> Approval:
    """The approved action ran: ``executed`` with its answer, or ``failed`` with why."""
    to = ApprovalStatus.FAILED if error is not None else ApprovalStatus.EXECUTED
    async with sessions.begin() as session:
        row = await get_request(session, request_id)
        if row is None:
            raise ApprovalNotFound(f"approval request {request_id!r} does not exist")
        moved = await move(
            session,
            request_id,
            expected=ApprovalStatus.APPROVED.value,
            to=to.value,
            result=result,
            error=error,
            executed_at=now,
        )
        if not moved:
            await session.refresh(row)
            raise ApprovalAlreadyDecided(request_id, row.status)
        await append_ledger(
            session,
            _ledger_row(
                request_id,
                to.value,
                customer_id=row.customer_id,
                actor=row.decided_by or row.requested_by,
                data={"action": row.action, "error": error},
                now=now,
            ),
        )
        await session.refresh(row)
        return _approval(row)
