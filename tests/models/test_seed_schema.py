"""The full seed, its idempotency, and that the migrations match the models on both databases."""

from __future__ import annotations

from sqlalchemy import func, select

from models.entities import ProviderCompany, ServiceCategory, Station, SubService, User, Worker
from models.enums import StationLevel
from models.schema import schema_differences
from models.seed import seed_all
from tests.plugins.db import Database


def _count(db: Database, entity: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(entity)) or 0


def test_full_seed_has_the_article_numbers_and_is_idempotent(db: Database) -> None:
    with db.sessions.begin() as s:
        seed_all(s, companies=480)
    counts = {e.__name__: _count(db, e) for e in (ServiceCategory, SubService, ProviderCompany, Worker, User)}
    with db.sessions.begin() as s:
        report = seed_all(s, companies=480)
    assert report.companies == report.workers == report.sub_services == report.users == 0
    assert counts == {e.__name__: _count(db, e) for e in (ServiceCategory, SubService, ProviderCompany, Worker,
                                                          User)}
    assert counts["ServiceCategory"] == 14 and counts["SubService"] >= 120 and counts["ProviderCompany"] == 480
    with db.session() as s:
        levels = {level: s.scalar(select(func.count()).where(Station.level == level)) for level in StationLevel}
    assert levels[StationLevel.CITY] == 1 and levels[StationLevel.TOWN] == 9 and levels[StationLevel.COMMUNITY] >= 20


def test_catalogue_codes_keypad_and_bilingual_names(db: Database) -> None:
    with db.session() as s:
        for category in s.scalars(select(ServiceCategory)):
            positions = [sub.position for sub in category.sub_services]
            assert positions == list(range(1, len(positions) + 1)) and len(positions) <= 9
            assert category.name_zh and category.name_en
            for sub in category.sub_services:
                assert sub.code.startswith(category.code + "-") and sub.keywords_zh and sub.name_en
                assert sub.sla_dispatch_minutes <= sub.sla_complete_minutes


def test_migrations_match_models(db: Database) -> None:
    assert schema_differences(db.engine) == []
