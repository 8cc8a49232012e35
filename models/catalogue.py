"""Reading the service catalogue: categories and sub-services in menu order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models.entities import ServiceCategory, SubService
from models.errors import ValidationError


def active_categories(session: Session) -> list[ServiceCategory]:
    """Categories not retired, in menu order, with their sub-services loaded."""
    stmt = (
        select(ServiceCategory)
        .where(ServiceCategory.retired.is_(False))
        .order_by(ServiceCategory.position)
        .options(selectinload(ServiceCategory.sub_services))
    )
    return list(session.scalars(stmt))


def active_sub_services(category: ServiceCategory) -> list[SubService]:
    """A category's sub-services that are not retired, in keypad order."""
    return [s for s in category.sub_services if not s.retired]


def sub_service_by_code(session: Session, code: str) -> SubService:
    """The active sub-service with this stable code; unknown or retired codes are refused."""
    if not isinstance(code, str) or not code or len(code) > 24:
        raise ValidationError(f"sub-service code {code!r} is not a catalogue code")
    found = session.scalars(select(SubService).where(SubService.code == code)).one_or_none()
    if found is None:
        raise ValidationError(f"unknown sub-service code {code!r}")
    if found.retired:
        raise ValidationError(f"sub-service {code!r} is retired and can no longer be requested")
    return found


def category_by_code(session: Session, code: str) -> ServiceCategory:
    """The active category with this code; unknown or retired codes are refused."""
    found = session.scalars(select(ServiceCategory).where(ServiceCategory.code == code)).one_or_none()
    if found is None:
        raise ValidationError(f"unknown service category code {code!r}")
    if found.retired:
        raise ValidationError(f"service category {code!r} is retired")
    return found
