"""`hot_stats`: the gateway's hot stats, observed through its query API (`GET /v1/stats`).

An observable source asset: Dagster does not make it, it looks at it. Each observation records a
data version (a hash of the counts per service), so the UI shows when the stats changed, and the
counts per service as metadata. Dagster never opens the gateway's DuckDB file.
"""

import hashlib
import json
from typing import Any

import dagster as dg

from loginsight.client import GatewayError
from loginsight_dagster.report_resources import GatewayStatsResource

HOT_STATS_WINDOW = "1h"
UNAVAILABLE = dg.DataVersion("gateway-unreachable")


def counts_version(rows: list[dict[str, Any]]) -> dg.DataVersion:
    """The same counts always give the same version, in whatever order the rows come."""
    canonical = json.dumps(sorted(rows, key=lambda r: str(r.get("service"))), sort_keys=True)
    return dg.DataVersion(hashlib.sha256(canonical.encode()).hexdigest()[:16])


def _services_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {"service": str(r["service"]), "count": int(r["count"]), "errors": int(r["errors"])}
            )
            for r in rows[:100]
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("service", "string"),
                dg.TableColumn("count", "int"),
                dg.TableColumn("errors", "int"),
            ]
        ),
    )


@dg.observable_source_asset(
    group_name="rca",
    description="Record and error counts per service over the last hour, from the gateway's "
    "stats API (GET /v1/stats). Observed with every report; observe it by hand from the UI.",
    tags={"dagster/kind/duckdb": "", "dagster/kind/fastapi": ""},
)
def hot_stats(context: dg.AssetExecutionContext, gateway: GatewayStatsResource) -> dg.ObserveResult:
    try:
        body = gateway.stats(HOT_STATS_WINDOW, "service")
    except GatewayError as exc:
        # A report still runs while the gateway is down; the observation says why it is empty.
        context.log.warning(f"hot stats unavailable: {exc}")
        return dg.ObserveResult(
            data_version=UNAVAILABLE, metadata={"error": str(exc), "window": HOT_STATS_WINDOW}
        )
    rows: list[dict[str, Any]] = list(body.get("rows", []))
    return dg.ObserveResult(
        data_version=counts_version(rows),
        metadata={
            "window": HOT_STATS_WINDOW,
            "records": sum(int(r["count"]) for r in rows),
            "errors": sum(int(r["errors"]) for r in rows),
            "services": _services_table(rows),
            "source": dg.MetadataValue.url(f"{gateway.base_url}/v1/stats?window=1h&by=service"),
        },
    )
