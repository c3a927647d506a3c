"""What both entry points (the API and the worker) run beside requests and activities:
the usage-notice relay, the email dispatcher, and the wiring that picks the payment and
email adapters from the settings. And the use cases the API shares with the demo seeder,
each given an ``EngineContext`` (``context``) and raising ``errors``: starting and reaching
a customer's workflow (``customer_workflows``), taking a provider event in
(``payment_events``)."""
