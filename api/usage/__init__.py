"""Usage metering over HTTP: ``routes`` (thin), the use cases ``ingest``, ``entitlements``
and ``service`` (views, limits), ``schemas``, ``signals`` (threshold notices after the
commit) and ``hot`` (the two hot operations served in front of the framework)."""
