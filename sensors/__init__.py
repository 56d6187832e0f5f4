"""Dagster sensors of Log Insight: bus topics in, runs out."""

from sensors.bus_batch_sensor import BatchCursor, BatchPolicy, make_bus_batch_sensor

__all__ = ["BatchCursor", "BatchPolicy", "make_bus_batch_sensor"]
