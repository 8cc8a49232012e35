"""What a simulated party does once the call is answered, as steps the sim dialplan runs.

Text form (the CLI's ``--digits``): comma-separated tokens, each either digits to press
(``0-9 * # A-D``, sent as RFC 4733 events), ``wN`` (wait N seconds, decimals allowed) or ``h``
(hang up now).  ``1,w2,3`` presses 1, waits two seconds, presses 3.  Each step becomes one
``kind:arg`` value of a fixed alphabet (``dtmf:1``, ``wait:2``, ``play:/path``, ``hangup``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGITS = re.compile(r"^[0-9*#A-D]{1,32}$")
_WAIT = re.compile(r"^w(\d{1,4}(?:\.\d{1,3})?)$")
_SOUND = re.compile(r"^[A-Za-z0-9/_-]{1,200}$")
MAX_STEPS = 50


class ScriptError(ValueError):
    """A step the simulator cannot send."""


@dataclass(frozen=True)
class Step:
    """One step: ``dtmf``, ``wait``, ``play`` or ``hangup`` with its argument."""

    kind: str
    arg: str = ""

    def encoded(self) -> str:
        """The value of a SIM_STEP_n variable."""
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


def dtmf(digits: str) -> Step:
    """Press ``digits``."""
    if not _DIGITS.match(digits):
        raise ScriptError(f"cannot press {digits!r}: digits 0-9 * # A-D only")
    return Step("dtmf", digits)


def wait(seconds: float) -> Step:
    """Wait ``seconds``."""
    if not 0 <= seconds <= 3600:
        raise ScriptError(f"cannot wait {seconds} s")
    return Step("wait", f"{seconds:.3f}".rstrip("0").rstrip("."))


def play(sound: str) -> Step:
    """Play a sound file (an Asterisk sound name or absolute path without extension)."""
    if not _SOUND.match(sound):
        raise ScriptError(f"sound name {sound!r}: letters, digits, / _ - only")
    return Step("play", sound)


def hangup() -> Step:
    """Hang up."""
    return Step("hangup")


def parse_digits(text: str) -> list[Step]:
    """Parse the ``1,w2,3`` form into steps."""
    steps: list[Step] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token == "h":
            steps.append(hangup())
        elif match := _WAIT.match(token):
            steps.append(wait(float(match.group(1))))
        else:
            steps.append(dtmf(token))
    return check_steps(steps)


def check_steps(steps: list[Step]) -> list[Step]:
    """Refuse too many steps."""
    if len(steps) > MAX_STEPS:
        raise ScriptError(f"at most {MAX_STEPS} steps")
    return steps


def step_variables(steps: list[Step]) -> dict[str, str]:
    """SIM_STEPS and SIM_STEP_n for an originate."""
    variables = {"SIM_STEPS": str(len(steps))}
    variables.update({f"SIM_STEP_{n}": step.encoded() for n, step in enumerate(steps, start=1)})
    return variables
