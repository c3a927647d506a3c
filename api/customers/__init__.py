"""Customers over HTTP: sign-up (which starts the trial) and the customer view."""
