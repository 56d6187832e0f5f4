"""The Dagster code location of Log Insight: Definitions, resources, jobs and the analyzer."""
