"""Sources: one module per protocol the gateway speaks."""
