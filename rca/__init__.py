"""The RCA engine: message templates, incident grouping, root-cause ranking and the analyzers
(local by default, OpenAI when configured). Used by the Dagster assets; never by the gateway."""
