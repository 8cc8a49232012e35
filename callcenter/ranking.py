"""Dispatch ranking (pure): which workers to offer a job to first, and why.

Order: status first (idle, then dispatched, then busy — off-duty workers are never candidates),
then a score from distance, stars, points, current load and station coverage.  Every factor is
returned as a reason so the agent sees why a worker is where they are in the list.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from models.enums import WorkerStatus

EARTH_RADIUS_KM = 6371.0088
STATUS_ORDER = {WorkerStatus.IDLE: 0, WorkerStatus.DISPATCHED: 1, WorkerStatus.BUSY: 2}

# Score weights (points): a worker 1 km further away loses what half a star gains.
DISTANCE_PER_KM = 3.0
DISTANCE_CAP_KM = 30.0
UNKNOWN_DISTANCE_KM = 15.0
PER_STAR = 6.0
PER_100_POINTS = 2.0
POINTS_CAP = 1000
PER_JOB_IN_HAND = 10.0
COVERAGE_BONUS = 12.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class JobSite:
    """Where the job is and which stations it belongs to (the community and its parents)."""

    lat: float | None
    lon: float | None
    stations: frozenset[int] = frozenset()


@dataclass(frozen=True)
class CandidateFacts:
    """What is known of a skilled, on-duty worker."""

    worker_id: int
    name: str
    company: str
    company_station_id: int
    status: WorkerStatus
    lat: float | None
    lon: float | None
    stars: int
    points: int
    jobs_in_hand: int  # accepted or in-service jobs plus unanswered offers


@dataclass(frozen=True)
class Ranked:
    """A candidate with its score; :attr:`reasons` lists the factors behind it."""

    facts: CandidateFacts
    score: float
    distance_km: float | None
    covers: bool

    @property
    def worker_id(self) -> int:
        """The worker's id."""
        return self.facts.worker_id

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """Every factor of the score, for the agent (built when asked: most ranked workers are never shown)."""
        facts = self.facts
        return [
            {"code": "status", "status": str(facts.status)},
            {"code": "distance", "km": None if self.distance_km is None else round(self.distance_km, 1)},
            {"code": "rating", "stars": facts.stars, "points": facts.points},
            {"code": "load", "jobs": facts.jobs_in_hand},
            {"code": "coverage", "covers": self.covers},
        ]

    def as_offer_reasons(self) -> dict[str, Any]:
        """What is stored with the offer (DispatchOffer.reasons)."""
        return {"score": round(self.score, 1), "distance_km": None if self.distance_km is None
                else round(self.distance_km, 2), "status": str(self.facts.status),
                "stars": self.facts.stars, "points": self.facts.points, "load": self.facts.jobs_in_hand,
                "covers": self.covers}


def _distance(site: JobSite, facts: CandidateFacts) -> float | None:
    if None in (site.lat, site.lon, facts.lat, facts.lon):
        return None
    return haversine_km(site.lat, site.lon, facts.lat, facts.lon)  # type: ignore[arg-type]


def score_candidate(site: JobSite, facts: CandidateFacts) -> Ranked:
    """Score one candidate (distance, stars, points, load, coverage)."""
    distance = _distance(site, facts)
    covers = facts.company_station_id in site.stations
    km = UNKNOWN_DISTANCE_KM if distance is None else min(distance, DISTANCE_CAP_KM)
    points = max(0, min(facts.points, POINTS_CAP))
    score = (100.0 - km * DISTANCE_PER_KM + facts.stars * PER_STAR + points / 100 * PER_100_POINTS
             - facts.jobs_in_hand * PER_JOB_IN_HAND + (COVERAGE_BONUS if covers else 0.0))
    return Ranked(facts, score, distance, covers)


def _offer_order(ranked: Ranked) -> tuple[int, float, float, int]:
    return (STATUS_ORDER[ranked.facts.status], -ranked.score,
            ranked.distance_km if ranked.distance_km is not None else math.inf, ranked.facts.worker_id)


def rank(site: JobSite, candidates: Iterable[CandidateFacts], *, exclude: frozenset[int] = frozenset(),
         limit: int | None = 20) -> list[Ranked]:
    """Candidates in offer order: idle first, then by score (ties: nearer, then lower id)."""
    scored = [score_candidate(site, c) for c in candidates
              if c.worker_id not in exclude and c.status in STATUS_ORDER]
    if limit is not None and limit < len(scored):
        return heapq.nsmallest(limit, scored, key=_offer_order)
    return sorted(scored, key=_offer_order)
