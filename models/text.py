"""Text hygiene for every field a caller, agent or API client controls.

Two policies:

* :func:`require_clean_text` for input a person typed into a form or API: over-long text or
  control characters are refused with a clear :class:`ValidationError`.
* :func:`neutralise_received_text` for values that arrive from the telephone network (caller ID
  name): they must still be recorded, so control characters are escaped visibly and the length is
  capped; the result is only ever stored and shown as text.
"""

from __future__ import annotations

import unicodedata

from models.errors import ValidationError

_ALLOWED_CONTROLS_MULTILINE = {"\n", "\t"}


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} and ch not in {"\u200d"}


def require_clean_text(value: str | None, field: str, max_length: int, *, multiline: bool = False,
                       required: bool = False) -> str | None:
    """Return ``value`` stripped, or raise ValidationError naming ``field``."""
    if value is None:
        if required:
            raise ValidationError(f"{field}: a value is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field}: text is required")
    text = value.replace("\r\n", "\n").strip()
    if required and not text:
        raise ValidationError(f"{field}: a value is required")
    if len(text) > max_length:
        raise ValidationError(f"{field}: at most {max_length} characters (got {len(text)})")
    allowed = _ALLOWED_CONTROLS_MULTILINE if multiline else set()
    bad = next((ch for ch in text if _is_control(ch) and ch not in allowed), None)
    if bad is not None:
        raise ValidationError(f"{field}: control character U+{ord(bad):04X} is not allowed")
    return text


def neutralise_received_text(value: str | None, max_length: int = 256) -> str | None:
    """Keep a network-received value as inert text: controls escaped as ``\\xNN``, length capped."""
    if value is None:
        return None
    out: list[str] = []
    for ch in value:
        if _is_control(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return text
