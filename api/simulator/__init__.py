"""The payment simulator over HTTP (only without a Stripe key): the test clock, the hosted
checkout and portal pages (``routes``), and the redelivery of its events (``delivery``)."""
