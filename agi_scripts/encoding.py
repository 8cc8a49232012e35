"""Safe framing of AGI commands.

Asterisk splits an AGI command line into arguments at blanks; a double quote toggles quoting and a
backslash makes the next character literal.  A caller-controlled value (caller ID name, DTMF,
recognised text) put on that line unescaped could close its quotes and add arguments, and a line
break in it would start a second command.  So every argument goes through :func:`encode_argument`,
which quotes and escapes, and refuses CR, LF and NUL outright (they cannot be escaped in AGI).
"""

from __future__ import annotations

from collections.abc import Iterable

# res_agi reads commands into a 2048-byte buffer; a longer line would be cut and misparsed.
MAX_COMMAND_BYTES = 2047
FORBIDDEN = frozenset("\r\n\0")
_COMMAND_WORDS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ ")


class UnsafeAgiArgument(ValueError):
    """An argument or command that cannot be framed safely."""


def encode_argument(value: object) -> str:
    """Quote one AGI argument, escaping ``\\`` and ``"``; refuse CR, LF and NUL."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnsafeAgiArgument(f"AGI arguments are text or integers, not {type(value).__name__}")
    text = str(value)
    bad = FORBIDDEN.intersection(text)
    if bad:
        raise UnsafeAgiArgument(f"AGI argument contains {', '.join(repr(c) for c in sorted(bad))}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decode_arguments(line: str) -> list[str]:
    """Split an AGI command line the way Asterisk's ``parse_args`` does (for tests and fakes)."""
    args: list[str] = []
    current: list[str] = []
    in_arg = quoted = escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
            in_arg = True
        elif char == "\\":
            escaped = True
            in_arg = True
        elif char == '"':
            quoted = not quoted
            in_arg = True
        elif char in " \t" and not quoted:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(char)
            in_arg = True
    if in_arg:
        args.append("".join(current))
    return args


def encode_command(command: str, arguments: Iterable[object] = ()) -> str:
    """One complete AGI command line (with its newline), every argument encoded."""
    if not command or not set(command) <= _COMMAND_WORDS:
        raise UnsafeAgiArgument(f"not an AGI command word: {command!r}")
    line = " ".join([command, *(encode_argument(a) for a in arguments)])
    size = len(line.encode("utf-8"))
    if size > MAX_COMMAND_BYTES:
        raise UnsafeAgiArgument(f"AGI command of {size} bytes exceeds {MAX_COMMAND_BYTES}")
    return line + "\n"
