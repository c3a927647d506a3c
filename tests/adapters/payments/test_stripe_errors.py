"""How Stripe's failures reach the engine: declines with their decline code, transient
failures as retryable, everything else as a rejection; never with Stripe's own message
(which may quote personal data) and never chained to the SDK's exception.

Two ways in: SDK exceptions built by hand (the mapping itself), and real HTTP error replies
parsed by the SDK (stripe-mock cannot produce errors, so the recording client replaces its
answer with a scripted one after stripe-mock has validated the request).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import stripe

from adapters.payments.base import (
    CardDeclined,
    PaymentError,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
)
from adapters.payments.stripe_gateway import StripeGateway, stripe_errors
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from tests.factories.payments import CUSTOMER, FixtureWorld
from tests.factories.stripe_mock import API_KEY, RecordingHTTPClient

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

PII = "ada.lovelace@example.com"


def _body(**error: Any) -> dict[str, Any]:
    return {"error": error}


def _raise(err: Exception) -> PaymentError:
    with pytest.raises(PaymentError) as caught, stripe_errors("create subscription"):
        raise err
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert PII not in str(caught.value)
    return caught.value


def test_card_error_carries_the_decline_code() -> None:
    body = _body(
        type="card_error",
        code="card_declined",
        decline_code="insufficient_funds",
        message=f"Your card has insufficient funds, {PII}.",
    )
    err = _raise(
        stripe.CardError(
            body["error"]["message"], None, "card_declined", http_status=402, json_body=body
        )
    )
    assert isinstance(err, CardDeclined)
    assert err.code == "card_declined"
    assert err.decline_code == "insufficient_funds"
    assert "insufficient_funds" in str(err)


def test_card_error_without_decline_code_uses_the_code() -> None:
    body = _body(type="card_error", code="expired_card", message="Your card has expired.")
    err = _raise(
        stripe.CardError(body["error"]["message"], "exp_month", "expired_card", json_body=body)
    )
    assert isinstance(err, CardDeclined)
    assert (err.code, err.decline_code) == ("expired_card", "expired_card")


@pytest.mark.parametrize(
    "sdk_error",
    [
        stripe.RateLimitError(f"Too many requests {PII}", http_status=429),
        stripe.APIError(f"Something went wrong {PII}", http_status=500),
        stripe.APIError("Bad gateway", http_status=502),
        stripe.APIConnectionError(f"Could not connect {PII}", should_retry=True),
    ],
    ids=["429", "500", "502", "connection"],
)
def test_transient_failures_are_retryable(sdk_error: stripe.StripeError) -> None:
    assert isinstance(_raise(sdk_error), PaymentProviderUnavailable)


@pytest.mark.parametrize(
    ("sdk_error", "code"),
    [
        (
            stripe.InvalidRequestError(
                f"Invalid email address: {PII}",
                "email",
                "email_invalid",
                http_status=400,
                json_body=_body(type="invalid_request_error", code="email_invalid"),
            ),
            "email_invalid",
        ),
        (
            stripe.InvalidRequestError(
                "No such price",
                "price",
                None,
                http_status=400,
                json_body=_body(type="invalid_request_error"),
            ),
            "invalid_request_error",
        ),
        (stripe.AuthenticationError("Invalid API Key", http_status=401), "AuthenticationError"),
        (
            stripe.PermissionError("Key lacks permission", http_status=403, code="forbidden"),
            "forbidden",
        ),
        (
            stripe.IdempotencyError(
                "Keys for idempotent requests can only be used with the same parameters",
                http_status=400,
                json_body=_body(type="idempotency_error"),
            ),
            "idempotency_error",
        ),
    ],
    ids=["invalid", "invalid-no-code", "auth", "permission", "idempotency"],
)
def test_rejections_are_not_retryable(sdk_error: stripe.StripeError, code: str) -> None:
    err = _raise(sdk_error)
    assert isinstance(err, PaymentRequestRejected)
    assert err.code == code


# -- over HTTP --------------------------------------------------------------------------


async def _subscribe(gateway: StripeGateway) -> Any:
    return await gateway.create_subscription(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PriceRef("pro", BillingInterval.MONTH),
        idempotency_key="c-1:convert:1",
    )


async def test_decline_over_http(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.fail_next(
        "POST",
        "/v1/subscriptions",
        402,
        type="card_error",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
        param="",
    )
    with pytest.raises(CardDeclined) as caught:
        await _subscribe(gateway)
    assert caught.value.decline_code == "insufficient_funds"
    assert caught.value.code == "card_declined"


@pytest.mark.parametrize(
    ("status", "error_type"), [(429, "rate_limit_error"), (500, "api_error"), (503, "api_error")]
)
async def test_unavailable_over_http(
    gateway: StripeGateway,
    recorder: RecordingHTTPClient,
    world: FixtureWorld,
    status: int,
    error_type: str,
) -> None:
    recorder.fail_next("POST", "/v1/subscriptions", status, type=error_type, message="busy")
    with pytest.raises(PaymentProviderUnavailable):
        await _subscribe(gateway)
    # max_network_retries=0: the SDK did not retry on its own (Temporal's activity does).
    assert [e.path for e in recorder.take()].count("/v1/subscriptions") == 1


async def test_rejected_over_http(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.fail_next(
        "POST",
        "/v1/subscriptions",
        400,
        type="invalid_request_error",
        code="resource_missing",
        param="customer",
        message=f"No such customer ({PII})",
    )
    with pytest.raises(PaymentRequestRejected) as caught:
        await _subscribe(gateway)
    assert caught.value.code == "resource_missing"
    assert PII not in str(caught.value)


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    gateway = StripeGateway(API_KEY, api_base=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(PaymentProviderUnavailable):
            await gateway.get_subscription("sub_1")
    finally:
        await gateway.aclose()


async def test_stripe_mock_validates_requests(
    stripe_mock: str, recorder: RecordingHTTPClient
) -> None:
    """The contract check means something: stripe-mock refuses an unknown parameter."""
    gateway = StripeGateway(API_KEY, api_base=stripe_mock, http_client=recorder)
    with pytest.raises(stripe.InvalidRequestError):
        await gateway.client.v1.customers.create_async(
            {"no_such_parameter": "x"},  # type: ignore[arg-type]
            {"idempotency_key": "k"},
        )
    (exchange,) = recorder.take()
    assert exchange.status == 400
