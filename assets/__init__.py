"""Dagster assets of Log Insight, one module per asset, in data-flow order."""

from assets.error_events import error_events
from assets.incidents import incidents
from assets.log_templates import log_templates
from assets.rca_insights import rca_insights
from assets.user_insights import user_insights

__all__ = ["error_events", "incidents", "log_templates", "rca_insights", "user_insights"]
