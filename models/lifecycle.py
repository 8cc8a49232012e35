"""The request lifecycle (全程量化监管) as a table of allowed transitions.

受理 accepted → 派单 dispatched → 接单 provider_accepted → 服务中 in_service → 完工 completed
→ 回访 followed_up → 办结 closed, plus cancelled, escalated and reopened.
"""

from __future__ import annotations

from models.enums import TicketStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    # An agent may resolve an enquiry or counselling call directly (accepted → completed).
    S.ACCEPTED: frozenset({S.DISPATCHED, S.COMPLETED, S.CANCELLED, S.ESCALATED}),
    # A declined or expired offer returns the ticket to accepted for the next candidate.
    S.DISPATCHED: frozenset({S.PROVIDER_ACCEPTED, S.ACCEPTED, S.CANCELLED, S.ESCALATED}),
    S.PROVIDER_ACCEPTED: frozenset({S.IN_SERVICE, S.ACCEPTED, S.CANCELLED, S.ESCALATED}),
    S.IN_SERVICE: frozenset({S.COMPLETED, S.ESCALATED}),
    S.COMPLETED: frozenset({S.FOLLOWED_UP, S.REOPENED, S.CLOSED}),
    S.FOLLOWED_UP: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.CANCELLED: frozenset(),
    # Escalated tickets continue in the flow with supervisors watching.
    S.ESCALATED: frozenset({S.ACCEPTED, S.DISPATCHED, S.PROVIDER_ACCEPTED, S.IN_SERVICE, S.COMPLETED,
                            S.CANCELLED}),
    S.REOPENED: frozenset({S.ACCEPTED, S.DISPATCHED, S.COMPLETED, S.CANCELLED, S.ESCALATED}),
}

OPEN_STATUSES: frozenset[S] = frozenset(
    {S.ACCEPTED, S.DISPATCHED, S.PROVIDER_ACCEPTED, S.IN_SERVICE, S.ESCALATED, S.REOPENED}
)

LABELS_ZH: dict[S, str] = {
    S.ACCEPTED: "受理", S.DISPATCHED: "派单", S.PROVIDER_ACCEPTED: "接单", S.IN_SERVICE: "服务中",
    S.COMPLETED: "完工", S.FOLLOWED_UP: "回访", S.CLOSED: "办结", S.CANCELLED: "已取消",
    S.ESCALATED: "已升级", S.REOPENED: "重新处理",
}


def can_transition(current: S, target: S) -> bool:
    """Whether the lifecycle allows ``current`` → ``target``."""
    return target in ALLOWED[current]


def allowed_targets(current: S) -> frozenset[S]:
    """The statuses reachable from ``current`` (the console shows only these buttons)."""
    return ALLOWED[current]
