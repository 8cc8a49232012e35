"""Exports (CSV, XLSX) with formula cells neutralised; recordings by call id with range requests."""

from __future__ import annotations

import csv
import io
import zipfile
from html import unescape

import pytest
from sqlalchemy import update

from callcenter.supervisor.export import neutralise_cell
from models.audit import audit_entries
from models.entities import Call
from tests.plugins.db import Database
from tests.supervisor.conftest import CallSet, add_call


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+2", "'=1+2"), ("+8613800000001", "'+8613800000001"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("13800000001", "13800000001"), (None, ""),
    (42, "42"), ("a=b", "a=b"),
])
def test_neutralise_cell(value: object, expected: str) -> None:
    assert neutralise_cell(value) == expected


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_csv_export_neutralises_formulas_and_keeps_numbers_readable(as_user, call_set: CallSet,
                                                                     db: Database) -> None:
    add_call(db, "evil", minutes=50, number="13800000007", station="DH-JSHT", caller_name="@cmd|' /C calc'!A0")
    with db.sessions.begin() as session:
        session.execute(update(Call).where(Call.uniqueid == "1772000000.evil").values(caller_number_raw="-1+1"))
    response = as_user("supervisor").get("/supervisor/calls/export.csv?from=2026-03-02&to=2026-03-02")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv_rows(response.get_data(as_text=True))
    assert len(rows) == 6
    by_number = {r["caller_number"]: r for r in rows}
    assert "'+8613800000002" in by_number  # readable, not a formula
    assert by_number["'+8613800000002"]["caller_name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    evil = by_number["'+8613800000007"]
    assert evil["caller_name"] == "'@cmd|' /C calc'!A0" and evil["caller_number_raw"] == "'-1+1"
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+-@\t\r"
    with db.sessions() as session:
        assert [e.action for e in audit_entries(session, action="export_csv")] == ["export_csv"]


def test_xlsx_export_is_a_workbook_with_neutralised_strings(as_user, call_set: CallSet, db: Database) -> None:
    response = as_user("supervisor").get("/supervisor/calls/export.xlsx")
    assert response.status_code == 200
    book = zipfile.ZipFile(io.BytesIO(response.get_data()))
    sheet = unescape(book.read("xl/worksheets/sheet1.xml").decode())
    strings = unescape(book.read("xl/sharedStrings.xml").decode()) if "xl/sharedStrings.xml" in book.namelist() \
        else ""
    text = sheet + strings
    assert "'=HYPERLINK(\"http://x\",\"y\")" in text and "'+8613800000001" in text
    assert "<f>" not in sheet  # no formula cell at all
    with db.sessions() as session:
        assert len(audit_entries(session, action="export_xlsx")) == 1


def test_recording_is_served_with_ranges_and_audited(as_user, call_set: CallSet, db: Database) -> None:
    browser = as_user("supervisor")
    url = f"/supervisor/calls/{call_set.ids['dh1']}/recording"
    whole = browser.get(url)
    assert whole.status_code == 200 and whole.mimetype == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    size = len(whole.get_data())
    part = browser.get(url, headers={"Range": "bytes=4-13"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 4-13/{size}"
    assert part.get_data() == bytes(range(10))
    tail = browser.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert tail.status_code == 416
    with db.sessions() as session:
        assert len(audit_entries(session, action="recording", target_id=call_set.ids["dh1"])) >= 2


def test_no_recording_is_404(as_user, call_set: CallSet) -> None:
    assert as_user("supervisor").get(f"/supervisor/calls/{call_set.ids['dh2']}/recording").status_code == 404


@pytest.mark.parametrize("stored", ["../../etc/passwd", "/etc/passwd", "..", "a/../../secret.wav",
                                    "..%2Fsecret.wav", "sub/1.wav", ".hidden.wav"])
def test_a_stored_name_cannot_leave_the_recordings_folder(as_user, call_set: CallSet, db: Database,
                                                          stored: str) -> None:
    assert call_set.recordings is not None
    (call_set.recordings.parent / "secret.wav").write_bytes(b"secret")
    (call_set.recordings / "sub").mkdir(exist_ok=True)
    (call_set.recordings / "sub" / "1.wav").write_bytes(b"nested")
    with db.sessions.begin() as session:
        session.execute(update(Call).where(Call.id == call_set.ids["dh2"]).values(recording=stored))
    response = as_user("supervisor").get(f"/supervisor/calls/{call_set.ids['dh2']}/recording")
    assert response.status_code == 404
    assert b"secret" not in response.get_data() and b"nested" not in response.get_data()


@pytest.mark.parametrize("path", ["/supervisor/calls/..%2F..%2Fetc%2Fpasswd/recording",
                                  "/supervisor/calls/1/recording/../../../../etc/passwd",
                                  "/supervisor/calls/-1/recording", "/supervisor/calls/1%00/recording"])
def test_paths_from_the_request_are_never_files(as_user, call_set: CallSet, path: str) -> None:
    response = as_user("supervisor").get(path)
    assert response.status_code in (404, 308)
    assert b"root:" not in response.get_data()


def test_another_stations_recording_is_refused(as_user, call_set: CallSet, db: Database) -> None:
    browser = as_user("ld-supervisor")
    assert browser.get(f"/supervisor/calls/{call_set.ids['dh1']}/recording").status_code == 404
    assert browser.get(f"/supervisor/calls/{call_set.ids['ld1']}/recording").status_code == 200
    with db.sessions() as session:
        assert audit_entries(session, action="recording", target_id=call_set.ids["dh1"]) == []


def test_export_batches_are_seamless_and_hold_no_transaction(call_set: CallSet, db: Database) -> None:
    from models.calllog import CallFilters, iter_calls, parse_sort

    with db.sessions() as session:
        for sort in ("-started", "wait"):
            rows = iter_calls(session, CallFilters(), sort=parse_sort(sort), batch=2)
            first = next(rows)
            assert not session.in_transaction()  # between batches nothing is held
            ids = [first.id, *(r.id for r in rows)]
            assert sorted(ids) == sorted(call_set.ids.values()) and len(ids) == len(set(ids))
        assert len(list(iter_calls(session, CallFilters(), batch=4, limit=5))) == 5
