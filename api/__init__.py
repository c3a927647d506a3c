"""The HTTP API: one folder per concern (``routes``, ``service``, ``schemas``), with auth,
errors and the workflow client shared. Reads the read model; every lifecycle command goes
through the customer's workflow."""
