"""Benchmarks of the whole system: ``python -m bench.run`` (see bench/run.py)."""
