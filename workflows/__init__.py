"""Deterministic workflow code only: no I/O, no PII (ids, plans and times only)."""
