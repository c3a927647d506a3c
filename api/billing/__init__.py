"""Billing over HTTP: ``routes`` (thin), the use cases in ``service`` (lifecycle commands,
add-ons, address, reads) and ``hosted`` (the provider's Checkout and portal pages), and
``schemas``."""
