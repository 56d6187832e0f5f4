"""Normalizers: one per wire format, each mapping its fields onto `LogRecord`."""
