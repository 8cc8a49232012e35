"""A call through the project's own FastAGI server (``hotline agi``) instead of the probe."""

from __future__ import annotations

from hotline.simulator.calls import Simulator


def test_a_call_runs_the_projects_fastagi_ivr_route(simulator: Simulator, hotline_agi: object) -> None:
    result = simulator.place_call(caller="13800000031", digits="w1,1", hold=4)

    assert result.answered
    assert result.variables["AGISTATUS"] == "SUCCESS"
    assert result.variables.get("HOTLINE_OUTCOME") in {"agent", "queued", "emergency", "status", "abandoned",
                                                       "error"}
    assert result.variables["HOTLINE_QUEUE_NAME"].startswith("hotline-")
    assert hotline_agi.stats.started >= 1  # type: ignore[attr-defined]
