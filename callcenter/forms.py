"""Reading form fields with clear errors (a 400 with the field's name, never a stack trace)."""

from __future__ import annotations

import math

from flask import request

from models.errors import ValidationError
from models.text import require_clean_text


def text_field(name: str, max_length: int, *, multiline: bool = False) -> str | None:
    """A stripped text field, or None when absent or empty."""
    value = request.form.get(name)
    if value is None:
        return None
    return require_clean_text(value, name, max_length, multiline=multiline) or None


def optional_int(name: str) -> int | None:
    """An integer field, or None when absent or empty."""
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise ValidationError(f"{name}: a whole number is required")
    return int(value)


def optional_float(name: str) -> float | None:
    """A decimal field (a coordinate), or None when absent or empty."""
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"{name}: a number is required") from None
    if not math.isfinite(number):
        raise ValidationError(f"{name}: a number is required")
    return number
