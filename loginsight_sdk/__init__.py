"""Log Insight's Python SDK: `LogInsightHandler`, a `logging.Handler` that ships records to the
gateway's gRPC `LogIngest` service (records arrive with source `sdk`).

    import logging
    from loginsight_sdk import LogInsightHandler

    logging.getLogger().addHandler(LogInsightHandler("127.0.0.1:4317", service="checkout"))
"""

from loginsight_sdk.handler import LogInsightHandler

__all__ = ["LogInsightHandler"]
