"""The console's side of issue 7: alerts on the workspace, ticket page and wallboard; the platform's
quality rating and the provider's evaluation (three-party evaluation), with their bad inputs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models.alerts import open_alerts
from models.entities import Evaluation, Station, Ticket, TicketEvent, User
from models.enums import EvaluationParty, EventKind
from models.points_rules import PointsRules, apply_evaluation_points
from models.sla import escalate_sla_breaches
from tests.callcenter.conftest import login, make_app, ticket_maker
from tests.plugins.db import Database
from tests.scheduler.helpers import completed_job


def _breached_ticket(db: Database) -> tuple[int, str]:
    ticket_id = ticket_maker(db)("DH-JSHT", "DRAIN-SEWER")
    with db.sessions.begin() as s:
        escalate_sla_breaches(s, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        return ticket_id, s.get_one(Ticket, ticket_id).number


def test_alerts_on_the_workspace_and_wallboard_and_resolved_on_the_ticket(db: Database) -> None:
    app = make_app(db)
    ticket_id, number = _breached_ticket(db)
    agent = login(app, "agent01")
    fragment = agent.get("/agent/fragments/alerts").get_data(as_text=True)
    assert number in fragment and "超时未派单" in fragment
    assert 'id="alerts-panel"' in agent.get("/agent").get_data(as_text=True)
    assert "超时未派单" not in login(app, "ld-agent").get("/agent/fragments/alerts").get_data(as_text=True)
    board = login(app, "supervisor").get("/supervisor/wallboard/data").get_json()
    assert board["alerts"]["open"] >= 1
    assert {"kind": "sla_dispatch", "ticket": number} in [{"kind": a["kind"], "ticket": a["ticket"]}
                                                         for a in board["alerts"]["latest"]]
    page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    with db.session() as s:
        [alert] = [a for a in open_alerts(s) if a.ticket_id == ticket_id]
    assert f'id="ticket-alert-{alert.id}"' in page
    other = ticket_maker(db)("DH-JSHT")
    resolve = f"/tickets/{ticket_id}/alerts/resolve"
    assert agent.post(f"/tickets/{other}/alerts/resolve", {"alert_id": alert.id}).status_code == 404  # not its
    for bad in ("", "x", "1 OR 1=1", "-1"):
        assert agent.post(resolve, {"alert_id": bad}).status_code == 400, bad
    assert agent.post(resolve, {"alert_id": "999999"}).status_code == 404
    assert agent.post(resolve, {"alert_id": alert.id}).status_code == 302
    assert agent.post(resolve, {"alert_id": alert.id}).status_code == 302  # again: no change
    with db.session() as s:
        assert [a for a in open_alerts(s) if a.ticket_id == ticket_id] == []
        notes = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                    TicketEvent.kind == EventKind.NOTE)).all()
        assert [n.detail.get("alert_resolved") for n in notes] == [alert.id]
    assert number not in agent.get("/agent/fragments/alerts").get_data(as_text=True)


def test_platform_quality_rating_once_per_user_bad_scores_refused(db: Database) -> None:
    app = make_app(db)
    with db.sessions.begin() as s:
        ticket_id, _worker = completed_job(s, "13800000091")
        s.get_one(Ticket, ticket_id).station_id = s.scalars(select(Station.id).where(Station.code == "DH-JSHT")).one()
    supervisor = login(app, "supervisor")
    assert 'id="quality-form"' in supervisor.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    for bad in ("", "0", "6", "45", "4; DROP TABLE evaluations", "<script>"):
        response = supervisor.post(f"/tickets/{ticket_id}/quality", {"score": bad})
        assert response.status_code == 400, bad
    assert supervisor.post(f"/tickets/{ticket_id}/quality", {"score": "4", "comment": "bad\x00text"}).status_code == 400
    assert supervisor.post(f"/tickets/{ticket_id}/quality", {"score": "4", "comment": "<b>准时</b>"}).status_code == 302
    assert supervisor.post(f"/tickets/{ticket_id}/quality", {"score": "1"}).status_code == 302  # already rated
    page = supervisor.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="quality-form"' not in page and "&lt;b&gt;准时&lt;/b&gt;" in page
    assert login(app, "agent01").post(f"/tickets/{ticket_id}/quality", {"score": "5"}).status_code == 302
    with db.session() as s:
        supervisor_id = s.scalars(select(User.id).where(User.username == "supervisor")).one()
        rows = s.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id).order_by(Evaluation.id)).all()
        assert [(e.party, e.score) for e in rows] == [("platform", 4), ("platform", 5)]
        assert rows[0].actor == f"user:{supervisor_id}"
    open_ticket = ticket_maker(db)("DH-JSHT")
    assert supervisor.post(f"/tickets/{open_ticket}/quality", {"score": "5"}).status_code == 400  # not finished


def test_provider_evaluates_their_own_finished_job_once(db: Database) -> None:
    app = make_app(db)
    with db.session() as s:
        worker_id = s.scalars(select(User.worker_id).where(User.username == "worker00001")).one()
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000092")
        s.get_one(Ticket, ticket_id).worker_id = worker_id  # this worker's job
        other_id, _ = completed_job(s, "13800000093")
    provider = login(app, "worker00001")
    jobs = provider.get("/provider/fragments/jobs").get_data(as_text=True)
    assert f'id="evaluate-{ticket_id}"' in jobs and f'id="evaluate-{other_id}"' not in jobs
    assert provider.post(f"/provider/jobs/{ticket_id}/evaluate", {"score": "x"}).status_code == 400
    assert provider.post(f"/provider/jobs/{other_id}/evaluate", {"score": "5"}).status_code == 404
    assert provider.post(f"/provider/jobs/{ticket_id}/evaluate", {"score": "5", "comment": "顺利"}).status_code == 302
    assert provider.post(f"/provider/jobs/{ticket_id}/evaluate", {"score": "2"}).status_code == 302
    assert f'id="evaluate-{ticket_id}"' not in provider.get("/provider/fragments/jobs").get_data(as_text=True)
    with db.sessions.begin() as s:
        [evaluation] = s.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id)).all()
        assert (evaluation.party, evaluation.score, evaluation.actor) == (EvaluationParty.PROVIDER, 5,
                                                                         f"worker:{worker_id}")
        assert apply_evaluation_points(s, PointsRules()) == 1  # a completed report is worth points
