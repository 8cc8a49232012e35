"""Keeping residents' numbers out of logs (DESIGN.md §6.9: 138****0001)."""

from __future__ import annotations


def mask_phone(number: str) -> str:
    """Mask a phone number for logs: keep the first three and last four digits."""
    digits = "".join(c for c in number if c.isdigit())
    if not digits:
        return "anonymous" if number else "-"
    if len(digits) <= 7:
        return "*" * (len(digits) - 2) + digits[-2:]
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
