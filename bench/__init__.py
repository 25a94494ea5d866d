"""Benchmarks. ``python -m bench.lifecycle`` — see bench/README.md."""
