"""Admin endpoints (scope ``admin``) over HTTP: what the engine sent and recorded for a
customer, customer search, the audit chain, trial extension, export and erasure."""
