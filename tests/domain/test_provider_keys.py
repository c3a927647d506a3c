"""Provider idempotency keys name one intent: Stripe replays a key's first answer for a day."""

from datetime import UTC, datetime, timedelta

from domain.provider_keys import address_key, checkout_key, provider_customer_key

A = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
B = {**A, "line1": "2 Elm St"}
T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_an_address_set_again_later_the_same_day_gets_a_new_key() -> None:
    first = address_key("c1", A, T0)
    second = address_key("c1", B, T0 + timedelta(minutes=1))
    third = address_key("c1", A, T0 + timedelta(minutes=2))
    # Before: the key was the address digest alone, so A -> B -> A replayed A's first
    # answer and Stripe kept B.
    assert len({first, second, third}) == 3
    assert address_key("c1", A, T0) == first  # a retry of the same write


def test_a_checkout_key_stays_short_whatever_the_return_url() -> None:
    url = "https://app.example.com/billing?" + "x" * 5000
    key = checkout_key("7c9e6679-7425-40de-944b-e07fc1f90ae7", "business", "year", url, T0)
    assert len(key) <= 255
    assert key == checkout_key("7c9e6679-7425-40de-944b-e07fc1f90ae7", "business", "year", url, T0)
    assert key != checkout_key(
        "7c9e6679-7425-40de-944b-e07fc1f90ae7", "business", "year", url, T0 + timedelta(seconds=1)
    )


def test_the_provider_customer_key_is_the_one_the_workflow_sends() -> None:
    # workflows/customer/effects.py spells it out; both must create one customer.
    assert provider_customer_key("c1") == "c1:provider_customer"
