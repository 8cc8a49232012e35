"""The AGI argument encoder: what Asterisk parses back is exactly what we meant, always."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi_scripts.encoding import (
    MAX_COMMAND_BYTES,
    UnsafeAgiArgument,
    decode_arguments,
    encode_argument,
    encode_command,
)

safe_text = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=200)


@given(st.lists(safe_text, max_size=6))
def test_arguments_survive_asterisk_parsing(values: list[str]) -> None:
    line = encode_command("SET VARIABLE", values)
    assert line.endswith("\n") and line.count("\n") == 1
    assert decode_arguments(line[:-1]) == ["SET", "VARIABLE", *values]


@given(safe_text)
def test_one_value_is_one_argument(value: str) -> None:
    assert decode_arguments(encode_argument(value)) == [value]


@given(st.text(max_size=50), st.sampled_from("\r\n\0"), st.text(max_size=50))
def test_line_breaks_and_nul_are_refused(before: str, bad: str, after: str) -> None:
    with pytest.raises(UnsafeAgiArgument):
        encode_argument(before + bad + after)


@pytest.mark.parametrize("hostile", [
    '"; EXEC System "rm -rf /',
    'name\\" "HANGUP',
    "$(reboot)",
    "`id`",
    "trailing backslash \\",
    '""',
    "\\\\\\",
    "\t tabs \t",
    "",
])
def test_hostile_caller_values_stay_one_argument(hostile: str) -> None:
    assert decode_arguments(encode_command("SET VARIABLE", ["CALLERNAME", hostile])[:-1]) == [
        "SET", "VARIABLE", "CALLERNAME", hostile]


def test_integers_are_encoded_and_other_types_refused() -> None:
    assert encode_argument(5000) == '"5000"'
    for bad in (None, 1.5, True, b"x", ["x"]):
        with pytest.raises(UnsafeAgiArgument):
            encode_argument(bad)


def test_over_long_lines_are_refused() -> None:
    with pytest.raises(UnsafeAgiArgument):
        encode_command("SET VARIABLE", ["X", "长" * (MAX_COMMAND_BYTES // 3)])
    assert encode_command("SET VARIABLE", ["X", "a" * 1000])


@pytest.mark.parametrize("command", ["", "SET VARIABLE\nHANGUP", "stream file", "EXEC;"])
def test_command_words_are_checked(command: str) -> None:
    with pytest.raises(UnsafeAgiArgument):
        encode_command(command)
