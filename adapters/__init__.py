"""Adapters to the outside world (payments, email) behind small interfaces: one real
implementation each and one embedded implementation for offline use."""
