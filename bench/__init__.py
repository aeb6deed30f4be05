"""Benchmarks (run with ``./dev bench``); not part of the test suite."""
