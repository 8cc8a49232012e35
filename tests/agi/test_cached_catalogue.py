"""The IVR's catalogue cache: one load at first, then reloads that never make a call wait."""

from __future__ import annotations

import threading
import time

import pytest

from agi_scripts.store import CachedCatalogue
from ivr.catalogue import Catalogue
from tests.ivr.fakes import small_catalogue


class Loader:
    """Hands out catalogues; can be made slow or failing."""

    def __init__(self) -> None:
        self.loads = 0
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def __call__(self) -> Catalogue:
        assert self.gate.wait(5)
        self.loads += 1
        if self.fail:
            raise RuntimeError("store down")
        return small_catalogue()  # a new object each load


def _wait_for(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def test_the_first_call_loads_and_later_calls_reuse_it() -> None:
    loader = Loader()
    cache = CachedCatalogue(loader, ttl_seconds=60)
    first = cache()
    assert cache() is first and loader.loads == 1


def test_a_stale_catalogue_is_served_while_one_reload_runs_in_the_background() -> None:
    loader = Loader()
    cache = CachedCatalogue(loader, ttl_seconds=0)
    first = cache()
    loader.gate.clear()  # the store is slow now
    started = time.monotonic()
    assert all(cache() is first for _ in range(50))  # nobody waits for it
    assert time.monotonic() - started < 1.0
    loader.gate.set()
    _wait_for(lambda: cache() is not first)
    assert loader.loads <= 3  # one reload at a time, not one per call


def test_a_failed_reload_keeps_the_old_catalogue_and_is_tried_again() -> None:
    loader = Loader()
    cache = CachedCatalogue(loader, ttl_seconds=0)
    first = cache()
    loader.fail = True
    assert cache() is first
    _wait_for(lambda: loader.loads >= 2)
    loader.fail = False
    _wait_for(lambda: cache() is not first)


def test_without_any_catalogue_the_failure_reaches_the_call() -> None:
    loader = Loader()
    loader.fail = True
    with pytest.raises(RuntimeError, match="store down"):
        CachedCatalogue(loader)()
