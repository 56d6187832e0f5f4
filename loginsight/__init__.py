"""Log Insight shared core: the `LogRecord` model, settings, and the bus and store adapters.

Both the gateway and the Dagster code location import this package; nothing else is shared.
"""

from loginsight.model import Level, LogRecord

__all__ = ["Level", "LogRecord"]
