"""The ticket store: SQLAlchemy 2.0 entities and the domain operations on them.

Functions take a ``Session``; the caller owns the transaction.  This package imports only
SQLAlchemy, ``phonenumbers`` and the standard library: no Flask, no pyst2, no environment reading.
"""

from models.base import Base, make_engine, make_session_factory, utcnow

__all__ = ["Base", "make_engine", "make_session_factory", "utcnow"]
