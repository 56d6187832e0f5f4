"""The ingest gateway: sources -> normalize -> filter -> sinks (stats, bus).

It is the only process that opens the stats DuckDB file; everyone else asks its query API.
It never imports Dagster.
"""
