"""Three-party evaluation → points → stars → dispatch weight (优派优待, 积分兑换).

The rules, all in this module and all values of :class:`PointsRules` (configurable):

* **Points per evaluation** (one ledger entry per evaluation, idempotent):
  resident score 5/4/3/2/1 → +10/+5/0/−5/−10, and −5 more when the resident says the problem is
  not solved; platform quality rating (agent or supervisor) 5/4/3/2/1 → +8/+4/0/−4/−8; the
  provider's own evaluation of the job 4–5 → +2 (a completed report), else 0.  A negative award
  never takes the balance below zero (it is capped at the balance).
* **Stars** (1–5), recomputed on schedule from the last ``window_days`` of resident and platform
  scores, weighted 2:1: mean ≥ 4.6 → 5, ≥ 4.0 → 4, ≥ 3.2 → 3, ≥ 2.5 → 2, else 1; with fewer than
  ``min_evaluations`` scores the stars stay as they are.
* **Dispatch weight** used by the console's ranking: ``1 + 0.1 × (stars − 3) + min(points, 500) / 2000``
  (between 0.8 and 1.45), so better-rated workers are offered jobs first among equals.
* **Redemption** (积分兑换): a ledger entry of −amount; refused beyond the balance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import Evaluation, PointsEntry, Worker
from models.enums import EvaluationParty
from models.errors import ValidationError
from models.evaluations import add_points, points_balance


@dataclass(frozen=True)
class PointsRules:
    """Every number the rules use."""

    resident: dict[int, int] = field(default_factory=lambda: {5: 10, 4: 5, 3: 0, 2: -5, 1: -10})
    not_solved: int = -5
    platform: dict[int, int] = field(default_factory=lambda: {5: 8, 4: 4, 3: 0, 2: -4, 1: -8})
    provider_report: int = 2
    window_days: int = 90
    min_evaluations: int = 3
    star_thresholds: tuple[tuple[float, int], ...] = ((4.6, 5), (4.0, 4), (3.2, 3), (2.5, 2))
    resident_weight: int = 2
    platform_weight: int = 1


def points_for(evaluation: Evaluation, rules: PointsRules) -> int:
    """The points one evaluation is worth to the worker."""
    if evaluation.party == EvaluationParty.RESIDENT:
        value = rules.resident[evaluation.score]
        return value + (rules.not_solved if evaluation.solved is False else 0)
    if evaluation.party == EvaluationParty.PLATFORM:
        return rules.platform[evaluation.score]
    return rules.provider_report if evaluation.score >= 4 else 0


def apply_evaluation_points(session: Session, rules: PointsRules, *, batch: int = 500,
                            now: dt.datetime | None = None) -> int:
    """Turn up to ``batch`` evaluations not yet in the ledger into their entries; returns how many."""
    now = now or utcnow()
    ref_of = literal("eval:") + cast(Evaluation.id, String)
    pending = session.scalars(
        select(Evaluation).where(Evaluation.worker_id.is_not(None),
                                 ~exists().where(PointsEntry.ref == ref_of))
        .order_by(Evaluation.id).limit(batch)).all()
    applied = 0
    for evaluation in pending:
        worker = session.get_one(Worker, evaluation.worker_id)
        delta = max(points_for(evaluation, rules), -points_balance(session, worker.id))
        add_points(session, worker, delta, reason=f"{evaluation.party} {evaluation.score}",
                   ref=f"eval:{evaluation.id}", now=now)
        applied += 1
    return applied


def stars_from_scores(scores: list[tuple[int, int]], rules: PointsRules) -> int | None:
    """Stars from (score, weight) pairs, or None when there are too few to judge."""
    if len(scores) < rules.min_evaluations:
        return None
    mean = sum(s * w for s, w in scores) / sum(w for _, w in scores)
    return next((stars for threshold, stars in rules.star_thresholds if mean >= threshold), 1)


def recompute_stars(session: Session, rules: PointsRules, *, now: dt.datetime | None = None) -> int:
    """Recompute every evaluated worker's stars from the recent window; returns how many changed."""
    now = now or utcnow()
    since = now - dt.timedelta(days=rules.window_days)
    rows = session.execute(
        select(Evaluation.worker_id, Evaluation.party, Evaluation.score)
        .where(Evaluation.worker_id.is_not(None), Evaluation.created_at >= since,
               Evaluation.party.in_([EvaluationParty.RESIDENT, EvaluationParty.PLATFORM]))
    ).all()
    per_worker: dict[int, list[tuple[int, int]]] = {}
    for worker_id, party, score in rows:
        weight = rules.resident_weight if party == EvaluationParty.RESIDENT else rules.platform_weight
        per_worker.setdefault(worker_id, []).append((score, weight))
    changed = 0
    for worker_id, scores in per_worker.items():
        stars = stars_from_scores(scores, rules)
        worker = session.get_one(Worker, worker_id)
        if stars is not None and stars != worker.stars:
            worker.stars = stars
            changed += 1
    session.flush()
    return changed


def dispatch_weight(stars: int, points: int) -> float:
    """The ranking bonus of a worker (优派优待): 0.8 to 1.45."""
    return 1 + 0.1 * (stars - 3) + min(max(points, 0), 500) / 2000


def redeem_points(session: Session, worker: Worker, amount: int, *, item: str, ref: str,
                  now: dt.datetime | None = None) -> PointsEntry:
    """Exchange points for a reward (积分兑换); refused beyond the balance, idempotent by ``ref``."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError(f"amount must be a positive whole number of points, got {amount!r}")
    return add_points(session, worker, -amount, reason=f"redeem {item}"[:64], ref=f"redeem:{ref}", now=now)
