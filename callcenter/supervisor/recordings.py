"""Recording playback: served by call id (never by a path from the request), with range requests.

The file name comes from the call record (written from Asterisk's uniqueid), is checked against a
strict pattern and must resolve to a file directly inside the configured recordings folder, so no
request can reach another file.  Calls of other stations are not found; each play is audited.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import abort, current_app, send_file
from flask_login import current_user
from werkzeug.wrappers import Response

from callcenter.db import db
from callcenter.supervisor import bp
from callcenter.supervisor.audit import audit
from models.calllog import visible_call

RECORDING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.(wav|WAV|gsm|mp3|ogg|opus)$")
MIMETYPES = {"wav": "audio/wav", "gsm": "audio/x-gsm", "mp3": "audio/mpeg", "ogg": "audio/ogg",
             "opus": "audio/ogg"}


def recordings_dir() -> Path | None:
    """The configured recordings folder (``RECORDINGS_DIR``), if any."""
    configured = current_app.config.get("RECORDINGS_DIR")
    return Path(configured).resolve() if configured else None


def recording_file(folder: Path, name: str | None) -> Path | None:
    """The recording's file inside ``folder``, or None when the name is unsafe or the file is absent."""
    if not name or not RECORDING_NAME.match(name) or ".." in name:
        return None
    candidate = (folder / name).resolve()
    if candidate.parent != folder or not candidate.is_file():
        return None
    return candidate


@bp.get("/calls/<int:call_id>/recording")
def recording(call_id: int) -> Response:
    """The call's recording (HTTP range requests supported, for seeking in the browser's player)."""
    call, _ticket = visible_call(db(), call_id, current_user.scope)
    folder = recordings_dir()
    path = recording_file(folder, call.recording) if folder else None
    if path is None:
        abort(404)
    audit("recording", target_id=call_id)
    extension = path.suffix.lower().lstrip(".")
    response = send_file(path, mimetype=MIMETYPES.get(extension, "application/octet-stream"), conditional=True,
                         etag=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
