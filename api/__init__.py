"""The HTTP API: routers, auth, schemas and error mapping. Reads the read model; every
lifecycle command goes through the customer's workflow."""
