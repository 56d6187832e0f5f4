"""Benchmarks and evaluation harnesses (`python -m bench.<name>`); not part of the test suite."""
