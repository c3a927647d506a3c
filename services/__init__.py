"""What both entry points (the API and the worker) run beside requests and activities:
the usage-notice relay, the email dispatcher, and the wiring that picks the payment and
email adapters from the settings."""
