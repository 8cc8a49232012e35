"""Run benchmarks by name and write their sections of BENCHMARKS.md: ``python -m bench.run claims``.

``--set NAME=VALUE`` passes a keyword argument to each named benchmark's ``run()`` that takes it,
e.g. ``python -m bench.run calllog --set calls=2130000`` (integers, floats and strings; a
comma-separated value becomes a tuple).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
from typing import Any

from bench.common import write_section

BENCHMARKS = {
    "claims": "bench.claims",
    "calllog": "bench.calllog",
    "calls": "bench.calls",
    "console": "bench.console",
    "scheduler": "bench.scheduler",
}


def parse_value(text: str) -> Any:
    """``2130000`` → int, ``0.5`` → float, ``a,b`` → tuple, anything else stays a string."""
    if "," in text:
        return tuple(parse_value(part) for part in text.split(",") if part)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(items: list[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The ``--set`` options as keyword arguments."""
    options: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            parser.error(f"--set {item!r}: expected NAME=VALUE")
        options[name] = parse_value(value)
    return options


def main() -> None:
    """Parse the names, run each benchmark, print and record its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--set", dest="options", action="append", default=[], metavar="NAME=VALUE",
                        help="a keyword argument for the benchmarks' run() that accept it")
    args = parser.parse_args()
    options = parse_options(args.options, parser)
    for name in args.names:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    used: set[str] = set()
    runs = []
    for name in args.names:
        run = importlib.import_module(BENCHMARKS[name]).run
        accepted = set(inspect.signature(run).parameters)
        used |= accepted & set(options)
        runs.append((run, {k: v for k, v in options.items() if k in accepted}))
    unknown = set(options) - used
    if unknown:
        parser.error(f"no chosen benchmark takes {', '.join(sorted(unknown))}")
    for run, kwargs in runs:
        result = run(**kwargs)
        print(result.text(), flush=True)
        write_section(result)


if __name__ == "__main__":
    main()
