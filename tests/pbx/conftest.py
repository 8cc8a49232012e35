"""Every test here places real SIP calls through the session's sandbox Asterisk."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the PBX tests (they share one Asterisk per session)."""
    for item in items:
        if "tests/pbx/" in str(item.fspath) and "test_units" not in str(item.fspath):
            item.add_marker(pytest.mark.pbx)
