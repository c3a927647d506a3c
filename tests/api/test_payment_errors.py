"""One table answers a failed payment, from a workflow command or the API's own call."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from adapters.payments.base import (
    CardDeclined,
    PaymentError,
    PaymentMethodRequired,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
)
from api.payment_errors import command_problem, payment_problem
from domain.failures import (
    CARD_DECLINED,
    IDEMPOTENCY_KEY_REUSED,
    PAYMENT_METHOD_REQUIRED,
    PAYMENT_PROVIDER_UNAVAILABLE,
    PAYMENT_REQUEST_REJECTED,
    TRANSITION_REFUSED,
)


def _answer(failure: ApplicationError) -> tuple[int, str]:
    problem = command_problem(failure)
    return problem.status, problem.type


def test_command_failures_map_to_their_status_and_type() -> None:
    declined = ApplicationError(
        "declined",
        {"code": "card_declined", "decline_code": "insufficient_funds"},
        type=CARD_DECLINED,
    )
    problem = command_problem(declined)
    assert (problem.status, problem.type) == (402, "card-declined")
    assert problem.extra == {"code": "card_declined", "decline_code": "insufficient_funds"}
    assert _answer(ApplicationError("no card", type=PAYMENT_METHOD_REQUIRED)) == (
        402,
        "payment-method-required",
    )
    assert _answer(ApplicationError("bad", type=PAYMENT_REQUEST_REJECTED)) == (
        422,
        "payment-request-rejected",
    )
    assert _answer(ApplicationError("again", type=IDEMPOTENCY_KEY_REUSED)) == (
        422,
        "idempotency-key-reused",
    )
    assert _answer(ApplicationError("down", type=PAYMENT_PROVIDER_UNAVAILABLE)) == (
        503,
        "payment-provider-unavailable",
    )
    assert _answer(ApplicationError("no", type=TRANSITION_REFUSED)) == (
        409,
        "transition-not-allowed",
    )
    assert _answer(ApplicationError("other", type="SomethingElse")) == (
        409,
        "transition-not-allowed",
    )
    # A decline without its details is still a 402.
    assert _answer(ApplicationError("declined", type=CARD_DECLINED)) == (402, "payment-required")


def test_the_apis_own_provider_calls_answer_by_status() -> None:
    cases: list[tuple[PaymentError, int, str]] = [
        (PaymentProviderUnavailable("down"), 503, "payment-provider-unavailable"),
        (PaymentRequestRejected("bad", code="resource_missing"), 422, "payment-request-rejected"),
        (CardDeclined("declined", code="card_declined"), 402, "payment-required"),
        (PaymentMethodRequired("no card"), 402, "payment-required"),
        (PaymentError("other"), 402, "payment-required"),
    ]
    for exc, status, problem_type in cases:
        problem = payment_problem(exc)
        assert (problem.status, problem.type, problem.detail) == (status, problem_type, str(exc))
        assert problem.extra == {}
