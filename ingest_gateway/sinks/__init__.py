"""Sinks: where normalized, filtered records go (hot stats in DuckDB, matches to the bus)."""
