"""Benchmarks: each module has ``run(...) -> Result``; ``python -m bench.run NAME`` writes BENCHMARKS.md."""
