"""Text hygiene and phone numbers: pure logic, with properties checked by Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import ValidationError
from models.phone import mask_phone, parse_phone
from models.text import neutralise_received_text, require_clean_text


def test_clean_text_strips_and_accepts_chinese() -> None:
    assert require_clean_text("  下水道堵了 ", "description", 100) == "下水道堵了"


@pytest.mark.parametrize("bad", ["a\x00b", "line\rbreak", "esc\x1b[31m", "bell\x07", "rtl\u202eevil"])
def test_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        require_clean_text(bad, "address", 100)


def test_over_long_text_is_refused_with_the_limit() -> None:
    with pytest.raises(ValidationError, match="at most 10 characters"):
        require_clean_text("x" * 11, "name", 10)


def test_multiline_allows_newlines_only_where_asked() -> None:
    assert require_clean_text("a\nb", "description", 10, multiline=True) == "a\nb"
    with pytest.raises(ValidationError):
        require_clean_text("a\nb", "name", 10)


@given(st.text(max_size=600))
def test_received_text_is_always_inert_and_bounded(value: str) -> None:
    out = neutralise_received_text(value, 256)
    assert out is not None and len(out) <= 256
    assert not any(ord(ch) < 0x20 or ch == "\x7f" for ch in out)


def test_received_text_escapes_visibly() -> None:
    assert neutralise_received_text('Bob"\n;$(reboot)') == 'Bob"\\x0a;$(reboot)'


@pytest.mark.parametrize("raw, e164", [
    ("13800000001", "+8613800000001"),
    ("+86 138 0000 0001", "+8613800000001"),
    ("0573-85012345", "+8657385012345"),
    ("008613800000001", "+8613800000001"),
])
def test_chinese_numbers_normalise(raw: str, e164: str) -> None:
    phone = parse_phone(raw)
    assert phone.e164 == e164 and phone.valid and not phone.flagged


@pytest.mark.parametrize("raw", ["", "anonymous", "12", "not a number", "1380000000123456789"])
def test_malformed_numbers_are_kept_and_flagged(raw: str) -> None:
    phone = parse_phone(raw)
    assert phone.e164 is None and phone.flagged and phone.raw == raw.strip()


def test_foreign_number_is_valid_but_flagged() -> None:
    phone = parse_phone("+1 650 253 0000")
    assert phone.valid and phone.foreign and phone.flagged and phone.e164 == "+16502530000"


@pytest.mark.parametrize("number, masked", [
    ("13800000001", "138****0001"), ("+8613800000001", "138****0001"), ("", "-"), (None, "-"), ("110", "***"),
])
def test_masking_for_logs(number: str | None, masked: str) -> None:
    assert mask_phone(number) == masked
