"""Why a use case of the services could not be carried out. Each entry point answers them
its own way (the API with problem documents, the demo seeder by stopping)."""

from __future__ import annotations


class ServiceError(Exception):
    """A use case could not be carried out; nothing half-done is left that a retry would
    not finish."""


class WorkflowServiceUnavailable(ServiceError):
    """The workflow service (Temporal) did not answer; the message is its error's."""


class InvalidPaymentEvent(ServiceError):
    """The payload is not a provider event the engine can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a valid event: {reason}")
        self.reason = reason


class PaymentProviderCallFailed(ServiceError):
    """A call to the payment provider a use case needed failed; ``operation`` says which."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"could not {operation}")
        self.operation = operation
