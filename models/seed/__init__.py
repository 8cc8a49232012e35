"""Seed data loaders: the catalogue, Pinghu's stations, demo providers and demo accounts.

Every loader is idempotent: it adds what is missing (by stable code) and leaves existing rows,
so running ``hotline db seed`` twice changes nothing the second time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from models.entities import ProviderCompany, ServiceCategory, Station, SubService, User, Worker, WorkerSkill
from models.enums import Priority, Role, StationLevel, WorkerStatus
from models.seed.catalogue_data import CATALOGUE
from models.seed.stations_data import CITY, TOWNS
from models.users import hash_password

DEMO_PASSWORD = "demo96345"
DEFAULT_DISPATCH_MINUTES = 30
DEFAULT_COMPLETE_MINUTES = 1440


@dataclass
class SeedReport:
    """How many rows each loader added."""

    categories: int = 0
    sub_services: int = 0
    stations: int = 0
    companies: int = 0
    workers: int = 0
    users: int = 0


def seed_catalogue(session: Session, report: SeedReport | None = None) -> SeedReport:
    """Load the 14 categories and their sub-services (adds missing codes, keeps existing rows)."""
    report = report or SeedReport()
    existing_cats = {c.code: c for c in session.scalars(select(ServiceCategory))}
    existing_subs = set(session.scalars(select(SubService.code)))
    for position, (code, name_zh, name_en, queue, keywords, subs) in enumerate(CATALOGUE, start=1):
        category = existing_cats.get(code)
        if category is None:
            category = ServiceCategory(code=code, name_zh=name_zh, name_en=name_en, position=position,
                                       queue=queue, keywords_zh=[name_zh, *keywords],
                                       keywords_en=[name_en.lower()])
            session.add(category)
            session.flush()
            report.categories += 1
        for sub_position, (suffix, sub_zh, sub_en, sub_keywords, opts) in enumerate(subs, start=1):
            sub_code = f"{code}-{suffix}"
            if sub_code in existing_subs:
                continue
            session.add(SubService(
                code=sub_code, category_id=category.id, name_zh=sub_zh, name_en=sub_en,
                position=sub_position, keywords_zh=[sub_zh, *sub_keywords], keywords_en=[sub_en.lower()],
                sla_dispatch_minutes=opts.get("d", DEFAULT_DISPATCH_MINUTES),
                sla_complete_minutes=opts.get("c", DEFAULT_COMPLETE_MINUTES),
                default_priority=Priority(opts.get("p", "normal")), queue=opts.get("q"),
                needs_provider=not opts.get("np", False),
            ))
            report.sub_services += 1
    session.flush()
    return report


def seed_stations(session: Session, report: SeedReport | None = None) -> SeedReport:
    """Load the city centre, its towns/sub-districts and sample communities."""
    report = report or SeedReport()
    existing = {s.code: s for s in session.scalars(select(Station))}

    def ensure(code: str, name_zh: str, name_en: str, level: StationLevel, lat: float, lon: float,
               parent: Station | None) -> Station:
        if code in existing:
            return existing[code]
        station = Station(code=code, name_zh=name_zh, name_en=name_en, level=level, lat=lat, lon=lon,
                          parent_id=parent.id if parent else None)
        session.add(station)
        session.flush()
        existing[code] = station
        report.stations += 1
        return station

    city = ensure(CITY[0], CITY[1], CITY[2], StationLevel.CITY, CITY[3], CITY[4], None)
    for code, name_zh, name_en, lat, lon, communities in TOWNS:
        town = ensure(code, name_zh, name_en, StationLevel.TOWN, lat, lon, city)
        for suffix, c_zh, c_en, dlat, dlon in communities:
            ensure(f"{code}-{suffix}", c_zh, c_en, StationLevel.COMMUNITY, lat + dlat, lon + dlon, town)
    return report


_BRANDS = ["鑫源", "顺达", "安家", "惠民", "诚信", "邻里", "便民", "快修", "金牌", "温馨", "佳园", "同心",
           "万家", "乐居", "恒信", "好帮手", "民安", "福临", "众诚", "平安"]
_FORMS = ["服务部", "有限公司", "工作室", "服务站", "维修中心"]
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁沈")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国文辉鹏飞斌宇浩凯")


def _company_trades(rng: random.Random, provider_categories: list[ServiceCategory]) -> list[ServiceCategory]:
    first = rng.choice(provider_categories)
    trades = [first]
    if rng.random() < 0.35:
        second = rng.choice(provider_categories)
        if second is not first:
            trades.append(second)
    return trades


def seed_providers(session: Session, companies: int = 480, workers_per_company: tuple[int, int] = (2, 6),
                   report: SeedReport | None = None, seed: int = 96345) -> SeedReport:
    """Create demo provider companies (加盟商) with workers around their towns (deterministic)."""
    report = report or SeedReport()
    have = session.scalar(select(func.count()).select_from(ProviderCompany)) or 0
    if have >= companies:
        return report
    rng = random.Random(seed)
    towns = list(session.scalars(select(Station).where(Station.level == StationLevel.TOWN).order_by(Station.id)))
    categories = list(session.scalars(select(ServiceCategory).order_by(ServiceCategory.position)))
    subs_by_category: dict[int, list[SubService]] = {}
    for sub in session.scalars(select(SubService).where(SubService.needs_provider.is_(True))):
        subs_by_category.setdefault(sub.category_id, []).append(sub)
    provider_categories = [c for c in categories if c.id in subs_by_category]
    existing_codes = set(session.scalars(select(ProviderCompany.code)))
    worker_seq = session.scalar(select(func.count()).select_from(Worker)) or 0
    skill_rows: list[dict[str, int]] = []
    for index in range(1, companies + 1):
        code = f"C{index:04d}"
        town = towns[(index - 1) % len(towns)]
        trades = _company_trades(rng, provider_categories)
        if code in existing_codes:
            continue
        company = ProviderCompany(
            code=code, station_id=town.id, stars=rng.choice([3, 3, 4, 4, 5, 2]),
            name=f"平湖{town.name_zh[:2]}{rng.choice(_BRANDS)}{trades[0].name_zh}{rng.choice(_FORMS)}",
            phone=f"+86573{rng.randrange(85000000, 85999999)}",
        )
        session.add(company)
        session.flush()
        report.companies += 1
        for _ in range(rng.randint(*workers_per_company)):
            worker_seq += 1
            worker = Worker(
                company_id=company.id, code=f"W{worker_seq:05d}",
                name=rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice([1, 2]))),
                phone=f"+8613{rng.randrange(100000000, 999999999)}",
                lat=(town.lat or 0) + rng.uniform(-0.03, 0.03), lon=(town.lon or 0) + rng.uniform(-0.03, 0.03),
                status=rng.choice([WorkerStatus.IDLE, WorkerStatus.IDLE, WorkerStatus.IDLE, WorkerStatus.BUSY,
                                   WorkerStatus.OFF_DUTY]),
                stars=max(1, min(5, company.stars + rng.choice([-1, 0, 0, 1]))),
                volunteer=rng.random() < 0.1,
            )
            session.add(worker)
            session.flush()
            report.workers += 1
            for trade in trades:
                skill_rows.extend({"worker_id": worker.id, "sub_service_id": s.id}
                                  for s in subs_by_category[trade.id])
    if skill_rows:
        session.execute(insert(WorkerSkill), skill_rows)
    session.flush()
    return report


DEMO_ACCOUNTS: list[tuple[str, str, Role, str, str | None]] = [
    # username, display name, role, station code, seat (agent phone endpoint)
    ("admin", "系统管理员", Role.ADMIN, "PH", None),
    ("supervisor", "质检主管 沈主任", Role.SUPERVISOR, "PH", None),
    ("agent01", "话务员 陈晓", Role.AGENT, "PH", "agent01"),
    ("agent02", "话务员 李静", Role.AGENT, "PH", "agent02"),
    ("agent03", "话务员 王芳", Role.AGENT, "PH", "agent03"),
    ("agent04", "话务员 张敏", Role.AGENT, "PH", "agent04"),
    ("ld-supervisor", "林埭分站 站长", Role.SUPERVISOR, "LD", None),
    ("ld-agent", "林埭分站 话务员", Role.AGENT, "LD", "agent05"),
]


def seed_demo_users(session: Session, report: SeedReport | None = None,
                    password: str = DEMO_PASSWORD) -> SeedReport:
    """Create the demo accounts (password ``demo96345``) and a provider login for a few workers."""
    report = report or SeedReport()
    stations = {s.code: s for s in session.scalars(select(Station))}
    existing = set(session.scalars(select(User.username)))
    password_hash = hash_password(password)  # one hash shared by the demo accounts: seeding stays fast
    for username, display, role, station_code, seat in DEMO_ACCOUNTS:
        if username in existing:
            continue
        session.add(User(username=username, password_hash=password_hash, display_name=display, role=role,
                         station_id=stations[station_code].id, seat=seat))
        report.users += 1
    for worker in session.scalars(select(Worker).order_by(Worker.id).limit(5)):
        username = f"worker{worker.code[1:]}"
        if username in existing:
            continue
        company = session.get_one(ProviderCompany, worker.company_id)
        session.add(User(username=username, password_hash=password_hash, display_name=f"{worker.name}师傅",
                         role=Role.PROVIDER, station_id=company.station_id, worker_id=worker.id))
        report.users += 1
    session.flush()
    return report


def seed_all(session: Session, companies: int = 480) -> SeedReport:
    """Everything a demo or a fresh installation needs, idempotently."""
    report = SeedReport()
    seed_catalogue(session, report)
    seed_stations(session, report)
    seed_providers(session, companies=companies, report=report)
    seed_demo_users(session, report)
    return report
