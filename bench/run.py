"""Run benchmarks by name and write their sections of BENCHMARKS.md: ``python -m bench.run claims``."""

from __future__ import annotations

import argparse
import importlib

from bench.common import write_section

BENCHMARKS = {
    "claims": "bench.claims",
    "calllog": "bench.calllog",
    "calls": "bench.calls",
    "console": "bench.console",
}


def main() -> None:
    """Parse the names, run each benchmark, print and record its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"any of {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    for name in args.names:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        result = importlib.import_module(BENCHMARKS[name]).run()
        print(result.text(), flush=True)
        write_section(result)


if __name__ == "__main__":
    main()
