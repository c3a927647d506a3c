"""Activities: the only code that talks to the outside world. Each is idempotent and safe to
retry after a crash at any line."""
