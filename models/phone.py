"""Phone numbers: normalised with ``phonenumbers``, kept as received when they do not parse.

(``phonenumbers`` is a pure data library and the domain's phone-number type; it is the one
non-SQLAlchemy third-party import ``models`` allows.)
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

MAX_RAW_LENGTH = 64


@dataclass(frozen=True)
class PhoneNumber:
    """A number as received plus what we could make of it."""

    raw: str
    e164: str | None  # None when it does not parse as a possible number
    valid: bool  # a valid number of its region
    foreign: bool  # valid, but not of the home region

    @property
    def flagged(self) -> bool:
        """True when a person should look at it (malformed or foreign)."""
        return not self.valid or self.foreign

    @property
    def national(self) -> str | None:
        """The national significant number (e.g. 13800000001) for a home number."""
        if self.e164 is None:
            return None
        parsed = phonenumbers.parse(self.e164)
        return phonenumbers.national_significant_number(parsed)


def parse_phone(raw: str | None, region: str = "CN") -> PhoneNumber:
    """Normalise a number typed or received (``13800000001``, ``+86 138 0000 0001``, ``0573-85012345``)."""
    text = (raw or "").strip()[:MAX_RAW_LENGTH]
    if not text or text.lower() in {"anonymous", "unknown", "restricted", "private"}:
        return PhoneNumber(raw=text, e164=None, valid=False, foreign=False)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return PhoneNumber(raw=text, e164=None, valid=False, foreign=False)
    if not phonenumbers.is_possible_number(parsed):
        return PhoneNumber(raw=text, e164=None, valid=False, foreign=False)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    valid = phonenumbers.is_valid_number(parsed)
    home_code = phonenumbers.country_code_for_region(region)
    foreign = valid and parsed.country_code != home_code
    return PhoneNumber(raw=text, e164=e164, valid=valid, foreign=foreign)


def mask_phone(number: str | None) -> str:
    """Mask a number for logs: ``13800000001`` → ``138****0001`` (DESIGN §6, promise 9)."""
    if not number:
        return "-"
    digits = number[1:] if number.startswith("+") else number
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
    return digits[:3] + "****" + digits[-4:]
