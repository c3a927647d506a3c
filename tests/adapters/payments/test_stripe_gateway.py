"""Contract tests of ``StripeGateway`` against stripe-mock: every gateway method, the exact
requests it makes (method, path, parameters, idempotency keys), and that stripe-mock's
OpenAPI validation accepts each of them (checked for every test by the ``recorder``
fixture's teardown). ``world`` (see ``tests/factories/payments.py``) makes stripe-mock's
fixture answers consistent with one engine customer.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.payments.base import (
    STRIPE_API_VERSION,
    CardDeclined,
    PaymentGateway,
    PaymentMethodRequired,
    PaymentRequestRejected,
)
from adapters.payments.stripe_gateway import ADD_REQUEST_METADATA, StripeGateway, idempotency_key
from domain.lifecycle import BillingInterval
from domain.payments import Address, addon_lookup_key
from tests.factories.payments import (
    CUSTOMER,
    CUSTOMER_WITHOUT_PM,
    DEFAULT_PAYMENT_METHOD,
    PENDING_SCHEDULE,
    PERIOD_END,
    PERIOD_START,
    PLAN_ITEM,
    PRO_MONTH,
    PRO_YEAR,
    SCHEDULED_SUBSCRIPTION,
    STARTER_MONTH,
    SUBSCRIPTION,
    FixtureWorld,
    addon_item_id,
    price_id,
)
from tests.factories.stripe_mock import Exchange, RecordingHTTPClient
from tests.factories.stripe_spec import fixtures

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR
ENGINE_PORTAL = "bpc_engine"
CHECKOUT_SUBSCRIPTION = "sub_from_checkout"
CHECKOUT_CARD = "pm_saved_by_checkout"
EXTRA_CHATBOT = addon_lookup_key("extra_chatbot", MONTH)
MESSAGE_PACK = addon_lookup_key("message_pack")

# The SDK's HTTPXClient posts form bodies with ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def posts(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.method == "POST"]


def calls(exchanges: list[Exchange]) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in exchanges]


def test_stripe_gateway_satisfies_the_protocol(gateway: StripeGateway) -> None:
    implementation: PaymentGateway = gateway
    assert implementation.name == "stripe"


# -- customers ------------------------------------------------------------------------


async def test_ensure_customer(gateway: StripeGateway, recorder: RecordingHTTPClient) -> None:
    provider_id = await gateway.ensure_customer(
        customer_id="c-1", email="ada@example.com", name="Ada", idempotency_key="c-1:customer"
    )
    assert provider_id.startswith("cus_")
    (request,) = recorder.take()
    assert (request.method, request.path) == ("POST", "/v1/customers")
    assert request.params == {
        "metadata[customer_id]": "c-1",
        "email": "ada@example.com",
        "name": "Ada",
    }
    assert request.idempotency_key == "c-1:customer"

    # The same call again (a retried activity) sends the same key; another customer another.
    await gateway.ensure_customer(
        customer_id="c-1", email="ada@example.com", name="Ada", idempotency_key="c-1:customer"
    )
    await gateway.ensure_customer(
        customer_id="c-2", email=None, name=None, idempotency_key="c-2:customer"
    )
    again, other = recorder.take()
    assert again.idempotency_key == "c-1:customer"
    assert again.params == request.params
    assert other.idempotency_key == "c-2:customer"
    assert other.params == {"metadata[customer_id]": "c-2"}


async def test_update_customer(gateway: StripeGateway, recorder: RecordingHTTPClient) -> None:
    await gateway.update_customer(
        CUSTOMER,
        idempotency_key="c-1:profile:3",
        email="grace@example.com",
        name="Grace",
        address=Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE"),
    )
    (request,) = recorder.take()
    assert (request.method, request.path) == ("POST", f"/v1/customers/{CUSTOMER}")
    assert request.idempotency_key == "c-1:profile:3"
    assert request.params == {
        "email": "grace@example.com",
        "name": "Grace",
        "address[line1]": "1 Main St",
        "address[city]": "Berlin",
        "address[postal_code]": "10115",
        "address[country]": "DE",
    }
    # Nothing to change: no request at all.
    await gateway.update_customer(CUSTOMER, idempotency_key="c-1:profile:4")
    assert recorder.take() == []


async def test_erase_customer(gateway: StripeGateway, recorder: RecordingHTTPClient) -> None:
    await gateway.erase_customer(CUSTOMER, idempotency_key="c-1:erase")
    (request,) = recorder.take()
    assert (request.method, request.path) == ("DELETE", f"/v1/customers/{CUSTOMER}")
    assert request.idempotency_key == "c-1:erase"

    # Erasing again finds the customer gone: that is success, not an error.
    recorder.fail_next(
        "DELETE",
        f"/v1/customers/{CUSTOMER}",
        404,
        type="invalid_request_error",
        code="resource_missing",
        message=f"No such customer: '{CUSTOMER}'",
    )
    await gateway.erase_customer(CUSTOMER, idempotency_key="c-1:erase")


async def test_attach_payment_method(gateway: StripeGateway, recorder: RecordingHTTPClient) -> None:
    info = await gateway.attach_payment_method(CUSTOMER, "pm_card_visa", idempotency_key="c-1:pm:1")
    assert info.brand == "visa"
    assert info.last4 == "4242"
    assert info.exp_year is not None
    attach, default = recorder.take()
    assert (attach.method, attach.path) == ("POST", "/v1/payment_methods/pm_card_visa/attach")
    assert attach.params == {"customer": CUSTOMER}
    assert attach.idempotency_key == "c-1:pm:1:attach"
    assert (default.method, default.path) == ("POST", f"/v1/customers/{CUSTOMER}")
    assert default.params == {"invoice_settings[default_payment_method]": "pm_card_visa"}
    assert default.idempotency_key == "c-1:pm:1:default"

    await gateway.attach_payment_method(CUSTOMER, "pm_card_visa", idempotency_key="c-1:pm:1")
    assert [e.idempotency_key for e in recorder.take()] == ["c-1:pm:1:attach", "c-1:pm:1:default"]


async def test_default_payment_method(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    method = await gateway.default_payment_method(CUSTOMER)
    assert method is not None
    assert (method.id, method.brand, method.last4) == (DEFAULT_PAYMENT_METHOD, "visa", "4242")
    assert method.exp_month is not None and method.exp_year is not None
    (request,) = recorder.take()
    assert (request.method, request.path) == ("GET", f"/v1/customers/{CUSTOMER}")
    # One request: the card comes expanded with the customer.
    assert request.params == {"expand[0]": "invoice_settings.default_payment_method"}

    assert await gateway.default_payment_method(CUSTOMER_WITHOUT_PM) is None
    assert calls(recorder.take()) == [("GET", f"/v1/customers/{CUSTOMER_WITHOUT_PM}")]


async def test_default_payment_method_of_a_subscription_is_its_own_card(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    """Checkout (subscription mode) saves the card on the subscription, where it wins over
    the customer's default for that subscription's invoices."""

    def saved_by_checkout(exchange: Exchange, body: Any) -> Any:
        if exchange.path == f"/v1/subscriptions/{CHECKOUT_SUBSCRIPTION}":
            card = copy.deepcopy(fixtures()["payment_method"])
            card["id"] = CHECKOUT_CARD
            card["card"].update(brand="mastercard", last4="4444")
            body["default_payment_method"] = card
        return body

    recorder.rewrites.append(saved_by_checkout)
    method = await gateway.default_payment_method(CUSTOMER, subscription_id=CHECKOUT_SUBSCRIPTION)
    assert method is not None
    assert (method.id, method.brand, method.last4) == (CHECKOUT_CARD, "mastercard", "4444")
    (request,) = recorder.take()
    assert (request.method, request.path) == ("GET", f"/v1/subscriptions/{CHECKOUT_SUBSCRIPTION}")
    assert request.params == {"expand[0]": "default_payment_method"}

    # A subscription without a card of its own is charged to the customer's default.
    fallback = await gateway.default_payment_method(CUSTOMER, subscription_id=SUBSCRIPTION)
    assert fallback is not None and fallback.id == DEFAULT_PAYMENT_METHOD
    assert calls(recorder.take()) == [
        ("GET", f"/v1/subscriptions/{SUBSCRIPTION}"),
        ("GET", f"/v1/customers/{CUSTOMER}"),
    ]


async def test_attach_payment_method_to_a_subscription(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    """A new card during dunning: without it on the subscription, ``invoices.pay`` keeps
    charging the card Checkout saved there."""
    await gateway.attach_payment_method(
        CUSTOMER, "pm_card_visa", idempotency_key="c-1:pm:2", subscription_id=SUBSCRIPTION
    )
    attach, default, subscription = recorder.take()
    assert [attach.path, default.path] == [
        "/v1/payment_methods/pm_card_visa/attach",
        f"/v1/customers/{CUSTOMER}",
    ]
    assert (subscription.method, subscription.path) == (
        "POST",
        f"/v1/subscriptions/{SUBSCRIPTION}",
    )
    assert subscription.params == {"default_payment_method": "pm_card_visa"}
    assert subscription.idempotency_key == "c-1:pm:2:subscription"


# -- subscriptions ----------------------------------------------------------------------


async def test_create_subscription(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.create_subscription(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        idempotency_key="c-1:convert:1",
        coupon="WELCOME10",
    )
    lookup, customer, create = recorder.take()
    assert (lookup.method, lookup.path) == ("GET", "/v1/prices")
    assert lookup.params["lookup_keys[0]"] == "plan_pro_month"
    assert lookup.params["active"] == "true"
    assert (customer.method, customer.path) == ("GET", f"/v1/customers/{CUSTOMER}")
    assert (create.method, create.path) == ("POST", "/v1/subscriptions")
    assert create.idempotency_key == "c-1:convert:1"
    assert create.params == {
        "customer": CUSTOMER,
        "items[0][price]": price_id("plan_pro_month"),
        "items[0][quantity]": "1",
        "payment_behavior": "error_if_incomplete",
        "metadata[customer_id]": "c-1",
        "expand[0]": "latest_invoice",
        "expand[1]": "schedule",
        "discounts[0][coupon]": "WELCOME10",
    }
    assert info.id.startswith("sub_")
    assert info.current_period_start < info.current_period_end
    assert info.latest_invoice is not None
    assert info.scheduled_price is None

    # The price is cached: a second subscription looks nothing up.
    await gateway.create_subscription(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        idempotency_key="c-1:convert:1",
    )
    exchanges = recorder.take()
    assert calls(exchanges) == [
        ("GET", f"/v1/customers/{CUSTOMER}"),
        ("POST", "/v1/subscriptions"),
    ]
    assert exchanges[1].idempotency_key == "c-1:convert:1"
    assert "discounts[0][coupon]" not in exchanges[1].params


async def test_create_subscription_without_payment_method(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    with pytest.raises(PaymentMethodRequired):
        await gateway.create_subscription(
            provider_customer_id=CUSTOMER_WITHOUT_PM,
            customer_id="c-9",
            price=STARTER_MONTH,
            idempotency_key="c-9:convert:1",
        )
    assert posts(recorder.take()) == []


async def test_unknown_price_is_rejected(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    # Raw stripe-mock: its fixture price has no lookup key, so nothing matches.
    with pytest.raises(PaymentRequestRejected) as caught:
        await gateway.create_subscription(
            provider_customer_id=CUSTOMER,
            customer_id="c-1",
            price=PRO_YEAR,
            idempotency_key="c-1:convert:2",
        )
    assert caught.value.code == "price_not_found"
    assert posts(recorder.take()) == []


async def test_get_subscription(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.get_subscription(SUBSCRIPTION)
    assert info.id == SUBSCRIPTION
    assert info.price == STARTER_MONTH
    assert info.current_period_end == datetime.fromtimestamp(PERIOD_END, UTC)
    assert info.scheduled_price is None
    (request,) = recorder.take()
    assert (request.method, request.path) == ("GET", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert request.params == {"expand[0]": "latest_invoice", "expand[1]": "schedule"}

    # With a schedule whose next phase switches to Pro.
    pending = await gateway.get_subscription(SCHEDULED_SUBSCRIPTION)
    assert pending.price == STARTER_MONTH
    assert pending.scheduled_price == PRO_MONTH
    # The next phase names its price by id: looked up once, then cached.
    assert calls(recorder.take()) == [
        ("GET", f"/v1/subscriptions/{SCHEDULED_SUBSCRIPTION}"),
        ("GET", f"/v1/prices/{price_id('plan_pro_month')}"),
    ]
    await gateway.get_subscription(SCHEDULED_SUBSCRIPTION)
    assert len(recorder.take()) == 1


@pytest.mark.parametrize("proration", ["always_invoice", "none"])
async def test_change_price(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld, proration: Any
) -> None:
    await gateway.change_price(
        SUBSCRIPTION, PRO_MONTH, proration=proration, idempotency_key="c-1:change:7"
    )
    _lookup, retrieve, update = recorder.take()
    assert (retrieve.method, retrieve.path) == ("GET", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert (update.method, update.path) == ("POST", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert update.idempotency_key == "c-1:change:7"
    expected = {
        "items[0][id]": PLAN_ITEM,
        "items[0][price]": price_id("plan_pro_month"),
        "proration_behavior": proration,
        "expand[0]": "latest_invoice",
        "expand[1]": "schedule",
    }
    if proration == "always_invoice":
        expected["payment_behavior"] = "error_if_incomplete"
    assert update.params == expected


async def test_change_price_replaces_a_scheduled_change(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.change_price(
        SCHEDULED_SUBSCRIPTION, PRO_YEAR, proration="always_invoice", idempotency_key="k:9"
    )
    assert info.scheduled_price is None
    exchanges = recorder.take()
    assert [(e.method, e.path, e.idempotency_key) for e in posts(exchanges)] == [
        ("POST", f"/v1/subscription_schedules/{PENDING_SCHEDULE}/release", "k:9:release"),
        ("POST", f"/v1/subscriptions/{SCHEDULED_SUBSCRIPTION}", "k:9"),
    ]


async def test_change_price_needs_a_plan_item(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    # A price the gateway knows, on a subscription whose items carry no plan lookup key
    # (stripe-mock's raw fixture): refused before anything is changed.
    world = FixtureWorld()
    recorder.rewrites.append(
        lambda exchange, body: world(exchange, body) if exchange.path == "/v1/prices" else None
    )
    with pytest.raises(PaymentRequestRejected) as caught:
        await gateway.change_price(
            SUBSCRIPTION, PRO_MONTH, proration="always_invoice", idempotency_key="k:1"
        )
    assert caught.value.code == "no_plan_item"
    assert posts(recorder.take()) == []


async def test_schedule_price_change(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.schedule_price_change(SUBSCRIPTION, PRO_MONTH, idempotency_key="k:down")
    assert info.price == STARTER_MONTH
    assert info.scheduled_price == PRO_MONTH
    exchanges = recorder.take()
    create, update = posts(exchanges)
    assert (create.path, create.idempotency_key) == (
        "/v1/subscription_schedules",
        "k:down:schedule",
    )
    assert create.params == {"from_subscription": SUBSCRIPTION}
    assert re.fullmatch(r"/v1/subscription_schedules/sub_sched_\w+", update.path)
    assert update.idempotency_key == "k:down:phases"
    assert update.params == {
        "phases[0][items][0][price]": price_id("plan_starter_month"),
        "phases[0][items][0][quantity]": "1",
        "phases[0][start_date]": str(PERIOD_START),
        "phases[0][end_date]": str(PERIOD_END),
        "phases[0][proration_behavior]": "none",
        "phases[1][items][0][price]": price_id("plan_pro_month"),
        "phases[1][items][0][quantity]": "1",
        "phases[1][duration][interval]": "month",
        "phases[1][duration][interval_count]": "1",
        "phases[1][proration_behavior]": "none",
        "end_behavior": "release",
        "proration_behavior": "none",
    }
    # Retried: the same keys again.
    await gateway.schedule_price_change(SUBSCRIPTION, PRO_MONTH, idempotency_key="k:down")
    assert [e.idempotency_key for e in posts(recorder.take())] == [
        "k:down:schedule",
        "k:down:phases",
    ]


async def test_schedule_price_change_reuses_a_live_schedule(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.schedule_price_change(
        SCHEDULED_SUBSCRIPTION, PRO_YEAR, idempotency_key="k:again"
    )
    assert info.scheduled_price == PRO_YEAR
    (update,) = posts(recorder.take())
    assert update.path == f"/v1/subscription_schedules/{PENDING_SCHEDULE}"
    assert update.params["phases[1][items][0][price]"] == price_id("plan_pro_year")
    assert update.params["phases[1][duration][interval]"] == "year"


async def test_cancel_scheduled_change(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.cancel_scheduled_change(SCHEDULED_SUBSCRIPTION, idempotency_key="k:keep")
    assert info.scheduled_price is None
    (release,) = posts(recorder.take())
    assert release.path == f"/v1/subscription_schedules/{PENDING_SCHEDULE}/release"
    assert release.idempotency_key == "k:keep:release"

    # Nothing scheduled: nothing to release.
    await gateway.cancel_scheduled_change(SUBSCRIPTION, idempotency_key="k:keep")
    assert posts(recorder.take()) == []


async def test_cancel_subscription(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    at_end = await gateway.cancel_subscription(
        SUBSCRIPTION, at_period_end=True, idempotency_key="k:cancel"
    )
    assert at_end.cancel_at_period_end  # reflected by stripe-mock
    (update,) = posts(recorder.take())
    assert update.path == f"/v1/subscriptions/{SUBSCRIPTION}"
    assert update.params["cancel_at_period_end"] == "true"
    assert update.idempotency_key == "k:cancel"

    await gateway.cancel_subscription(SUBSCRIPTION, at_period_end=False, idempotency_key="k:now")
    (cancel,) = recorder.take()
    assert (cancel.method, cancel.path) == ("DELETE", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert cancel.idempotency_key == "k:now"

    # At period end with a pending change: the schedule is released first.
    await gateway.cancel_subscription(
        SCHEDULED_SUBSCRIPTION, at_period_end=True, idempotency_key="k:c2"
    )
    assert [e.idempotency_key for e in posts(recorder.take())] == ["k:c2:release", "k:c2"]


async def test_cancel_subscription_twice(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    def canceled(exchange: Exchange, body: Any) -> Any:
        if exchange.method == "GET" and exchange.path.startswith("/v1/subscriptions/"):
            body["status"] = "canceled"
        return body

    recorder.rewrites.append(canceled)
    recorder.fail_next(
        "DELETE",
        f"/v1/subscriptions/{SUBSCRIPTION}",
        400,
        type="invalid_request_error",
        code="resource_missing",
        message="No such subscription",
    )
    info = await gateway.cancel_subscription(
        SUBSCRIPTION, at_period_end=False, idempotency_key="k:now"
    )
    assert info.status == "canceled"


@pytest.mark.parametrize(
    ("scheduled", "withdrawal"),
    [
        # The engine's own cancel (the flag; flexible mode also sets cancel_at).
        (
            {"cancel_at_period_end": True, "cancel_at": PERIOD_END},
            {"cancel_at_period_end": "false"},
        ),
        # The Customer Portal in flexible billing mode: cancel_at only, the flag false.
        ({"cancel_at_period_end": False, "cancel_at": PERIOD_END}, {"cancel_at": ""}),
    ],
)
async def test_reactivate_withdraws_either_kind_of_scheduled_cancel(
    gateway: StripeGateway,
    recorder: RecordingHTTPClient,
    world: FixtureWorld,
    scheduled: dict[str, Any],
    withdrawal: dict[str, str],
) -> None:
    def cancel_scheduled(exchange: Exchange, body: Any) -> Any:
        if exchange.method == "GET" and exchange.path == f"/v1/subscriptions/{SUBSCRIPTION}":
            body.update(scheduled)
        return body

    recorder.rewrites.append(cancel_scheduled)
    before = await gateway.get_subscription(SUBSCRIPTION)
    assert before.cancel_at_period_end
    assert before.cancel_at == datetime.fromtimestamp(PERIOD_END, UTC)
    recorder.take()

    reactivated = await gateway.reactivate_subscription(SUBSCRIPTION, idempotency_key="k:r")
    assert not reactivated.cancel_at_period_end
    assert reactivated.cancel_at is None
    retrieve, update = recorder.take()
    assert (retrieve.method, retrieve.path) == ("GET", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert (update.method, update.path) == ("POST", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert update.params == {**withdrawal, "expand[0]": "latest_invoice", "expand[1]": "schedule"}
    assert update.idempotency_key == "k:r"


async def test_reactivate_with_nothing_scheduled_changes_nothing(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.reactivate_subscription(SUBSCRIPTION, idempotency_key="k:r")
    assert not info.cancel_at_period_end
    assert posts(recorder.take()) == []


async def test_pause_and_resume(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    resumes_at = datetime(2027, 2, 1, tzinfo=UTC)
    paused = await gateway.pause_subscription(
        SUBSCRIPTION, resumes_at=resumes_at, idempotency_key="k:p"
    )
    assert paused.paused
    assert paused.pause_resumes_at == resumes_at
    await gateway.pause_subscription(SUBSCRIPTION, resumes_at=None, idempotency_key="k:p2")
    resumed = await gateway.resume_subscription(SUBSCRIPTION, idempotency_key="k:u")
    assert not resumed.paused
    pause, pause_open, resume = recorder.take()
    assert pause.params["pause_collection[behavior]"] == "void"
    assert pause.params["pause_collection[resumes_at]"] == str(int(resumes_at.timestamp()))
    assert pause.idempotency_key == "k:p"
    assert "pause_collection[resumes_at]" not in pause_open.params
    # An empty value unsets pause_collection.
    assert resume.params["pause_collection"] == ""
    assert resume.idempotency_key == "k:u"
    assert all(e.path == f"/v1/subscriptions/{SUBSCRIPTION}" for e in (pause, resume))


async def test_apply_coupon_sets_the_subscription_discount(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    await gateway.apply_coupon(SUBSCRIPTION, coupon="SAVE30", idempotency_key="k:save")
    (update,) = recorder.take()
    assert (update.method, update.path) == ("POST", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert update.params["discounts[0][coupon]"] == "SAVE30"
    assert update.idempotency_key == "k:save"


# -- add-ons ------------------------------------------------------------------------------


async def test_add_subscription_item_creates_the_item(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    info = await gateway.add_subscription_item(
        SUBSCRIPTION, EXTRA_CHATBOT, 2, idempotency_key="c-1:addon:1"
    )
    lookup, retrieve, create, refresh = recorder.take()
    assert (lookup.method, lookup.path) == ("GET", "/v1/prices")
    assert lookup.params["lookup_keys[0]"] == EXTRA_CHATBOT
    assert (retrieve.method, retrieve.path) == ("GET", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert (create.method, create.path) == ("POST", "/v1/subscription_items")
    assert create.idempotency_key == "c-1:addon:1"
    assert create.params == {
        "subscription": SUBSCRIPTION,
        "price": price_id(EXTRA_CHATBOT),
        "quantity": "2",
        "proration_behavior": "always_invoice",
        "payment_behavior": "error_if_incomplete",
        f"metadata[{ADD_REQUEST_METADATA}]": "c-1:addon:1",
    }
    # The subscription is read again, with the proration invoice it made.
    assert (refresh.method, refresh.path) == ("GET", f"/v1/subscriptions/{SUBSCRIPTION}")
    assert refresh.params == {"expand[0]": "latest_invoice", "expand[1]": "schedule"}
    assert info.price == STARTER_MONTH
    assert [(i.id, i.price_lookup_key, i.quantity) for i in info.items] == [
        (PLAN_ITEM, STARTER_MONTH.lookup_key, 1),
        (addon_item_id(EXTRA_CHATBOT), EXTRA_CHATBOT, 2),
    ]
    assert info.latest_invoice is not None

    # Retried after it went through (the answer was lost): nothing is added twice.
    again = await gateway.add_subscription_item(
        SUBSCRIPTION, EXTRA_CHATBOT, 2, idempotency_key="c-1:addon:1"
    )
    assert posts(recorder.take()) == []
    assert again.items == info.items


async def test_add_subscription_item_raises_the_quantity(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    world.addon_items[EXTRA_CHATBOT] = (2, {ADD_REQUEST_METADATA: "c-1:addon:1"})
    info = await gateway.add_subscription_item(
        SUBSCRIPTION, EXTRA_CHATBOT, 1, idempotency_key="c-1:addon:2"
    )
    (update,) = posts(recorder.take())
    assert update.path == f"/v1/subscription_items/{addon_item_id(EXTRA_CHATBOT)}"
    assert update.idempotency_key == "c-1:addon:2"
    assert update.params == {
        "quantity": "3",
        "proration_behavior": "always_invoice",
        "payment_behavior": "error_if_incomplete",
        f"metadata[{ADD_REQUEST_METADATA}]": "c-1:addon:2",
    }
    assert [(i.price_lookup_key, i.quantity) for i in info.items] == [
        (STARTER_MONTH.lookup_key, 1),
        (EXTRA_CHATBOT, 3),
    ]
    # Another add raises it again, from the quantity the subscription has now.
    await gateway.add_subscription_item(
        SUBSCRIPTION, EXTRA_CHATBOT, 2, idempotency_key="c-1:addon:3"
    )
    (update,) = posts(recorder.take())
    assert update.params["quantity"] == "5"


async def test_add_subscription_item_declined(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.fail_next(
        "POST",
        "/v1/subscription_items",
        402,
        type="card_error",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    )
    with pytest.raises(CardDeclined) as declined:
        await gateway.add_subscription_item(
            SUBSCRIPTION, EXTRA_CHATBOT, 1, idempotency_key="c-1:addon:4"
        )
    assert (declined.value.code, declined.value.decline_code) == (
        "card_declined",
        "insufficient_funds",
    )
    exchanges = recorder.take()
    # Stripe changed nothing (error_if_incomplete): nothing more is asked or undone.
    assert calls(exchanges)[-1] == ("POST", "/v1/subscription_items")
    assert len(posts(exchanges)) == 1
    assert world.addon_items == {}


@pytest.mark.parametrize(
    ("lookup_key", "quantity"),
    [
        (MESSAGE_PACK, 1),  # a one-time price
        (addon_lookup_key("extra_chatbot", YEAR), 1),  # not the plan's interval
        (PRO_MONTH.lookup_key, 1),  # not an add-on
        (EXTRA_CHATBOT, 0),
    ],
)
async def test_add_subscription_item_refuses_what_cannot_be_added(
    gateway: StripeGateway,
    recorder: RecordingHTTPClient,
    world: FixtureWorld,
    lookup_key: str,
    quantity: int,
) -> None:
    with pytest.raises(PaymentRequestRejected):
        await gateway.add_subscription_item(
            SUBSCRIPTION, lookup_key, quantity, idempotency_key="c-1:addon:5"
        )
    assert posts(recorder.take()) == []


# -- invoices -------------------------------------------------------------------------


async def test_preview_change_of_a_subscription(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    preview = await gateway.preview_change(
        provider_customer_id=CUSTOMER,
        subscription_id=SUBSCRIPTION,
        price=PRO_MONTH,
        proration="always_invoice",
    )
    assert preview.currency
    assert preview.amount_due_now_cents >= 0
    assert preview.next_invoice_amount_cents is not None
    exchanges = recorder.take()
    now, upcoming = [e for e in exchanges if e.path == "/v1/invoices/create_preview"]
    expected = {
        "subscription": SUBSCRIPTION,
        "subscription_details[items][0][id]": PLAN_ITEM,
        "subscription_details[items][0][price]": price_id("plan_pro_month"),
    }
    assert now.params == {**expected, "subscription_details[proration_behavior]": "always_invoice"}
    assert upcoming.params == {**expected, "subscription_details[proration_behavior]": "none"}
    # Previews change nothing: no caller key, and never the same key twice (a fixed key
    # would replay a stale proration).
    assert now.idempotency_key != upcoming.idempotency_key

    # A downgrade at period end charges nothing now: one preview, of the next invoice.
    later = await gateway.preview_change(
        provider_customer_id=CUSTOMER,
        subscription_id=SUBSCRIPTION,
        price=STARTER_MONTH,
        proration="none",
    )
    assert later.amount_due_now_cents == 0
    assert [e.path for e in recorder.take()].count("/v1/invoices/create_preview") == 1


async def test_preview_of_a_new_subscription(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    preview = await gateway.preview_change(
        provider_customer_id=CUSTOMER, subscription_id=None, price=PRO_YEAR, proration="none"
    )
    assert preview.amount_due_now_cents == preview.next_invoice_amount_cents
    (request,) = [e for e in recorder.take() if e.method == "POST"]
    assert request.path == "/v1/invoices/create_preview"
    assert request.params == {
        "customer": CUSTOMER,
        "subscription_details[items][0][price]": price_id("plan_pro_year"),
        "subscription_details[items][0][quantity]": "1",
    }


async def test_list_invoices(gateway: StripeGateway, recorder: RecordingHTTPClient) -> None:
    invoices = await gateway.list_invoices(CUSTOMER, limit=5)
    assert invoices
    assert all(invoice.id.startswith("in_") for invoice in invoices)
    (request,) = recorder.take()
    assert (request.method, request.path) == ("GET", "/v1/invoices")
    assert request.params == {"customer": CUSTOMER, "limit": "5"}


def renewal_invoice(status: str, **error: str) -> Any:
    """The invoice of a renewal whose payment is ``status``: its line names the plan price
    by id, its latest payment's PaymentIntent (expanded) holds the outcome."""

    def rewrite(exchange: Exchange, body: Any) -> Any:
        if exchange.method == "GET" and exchange.path.startswith("/v1/invoices"):
            invoices = body["data"] if exchange.path == "/v1/invoices" else [body]
            for invoice in invoices:
                for line in invoice["lines"]["data"]:
                    line["pricing"] = {
                        "type": "price_details",
                        "price_details": {
                            "price": price_id(STARTER_MONTH.lookup_key),
                            "product": "lc_plan_starter",
                        },
                        "unit_amount_decimal": "2900",
                    }
                for payment in (invoice.get("payments") or {}).get("data") or []:
                    intent = payment["payment"]["payment_intent"]
                    assert isinstance(intent, dict), "the PaymentIntent is expanded"
                    intent.update(id="pi_renewal", status=status, last_payment_error=error or None)
        return body

    return rewrite


async def test_get_invoice_reads_the_latest_payment(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.rewrites.append(
        renewal_invoice(
            "requires_payment_method",
            type="card_error",
            code="card_declined",
            decline_code="insufficient_funds",
        )
    )
    invoice = await gateway.get_invoice("in_123")
    assert invoice.decline_code == "insufficient_funds"
    assert invoice.payment_intent == "pi_renewal"
    assert not invoice.requires_action
    (line,) = invoice.lines
    assert line.price_id == price_id(STARTER_MONTH.lookup_key)
    assert line.price_lookup_key == STARTER_MONTH.lookup_key
    retrieve, price = recorder.take()
    assert (retrieve.method, retrieve.path) == ("GET", "/v1/invoices/in_123")
    assert retrieve.params == {"expand[0]": "payments.data.payment.payment_intent"}
    # Stripe's expansion stops short of a line's price: looked up by id, then cached.
    assert (price.method, price.path) == ("GET", f"/v1/prices/{price_id('plan_starter_month')}")
    await gateway.get_invoice("in_123")
    assert len(recorder.take()) == 1


async def test_get_invoice_waiting_for_authentication(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.rewrites.append(renewal_invoice("requires_action"))
    invoice = await gateway.get_invoice("in_123")
    assert invoice.requires_action
    assert invoice.decline_code is None
    assert invoice.payment_intent == "pi_renewal"


async def test_listed_invoices_name_their_lines_prices(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.rewrites.append(renewal_invoice("succeeded"))
    invoices = await gateway.list_invoices(CUSTOMER, limit=5)
    assert invoices
    assert {line.price_lookup_key for i in invoices for line in i.lines} == {
        STARTER_MONTH.lookup_key
    }
    assert (
        calls(recorder.take()).count(("GET", f"/v1/prices/{price_id('plan_starter_month')}")) == 1
    )


async def test_invoice_for_payment_intent(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    def paid_by(exchange: Exchange, body: Any) -> Any:
        if exchange.path == "/v1/invoice_payments":
            body["data"][0]["invoice"] = "in_refunded"
        return body

    recorder.rewrites.append(paid_by)
    assert await gateway.invoice_for_payment_intent("pi_123") == "in_refunded"
    (request,) = recorder.take()
    assert (request.method, request.path) == ("GET", "/v1/invoice_payments")
    assert request.params == {
        "payment[type]": "payment_intent",
        "payment[payment_intent]": "pi_123",
        "limit": "1",
    }
    # A PaymentIntent that paid no invoice (a one-off outside invoicing).
    recorder.rewrites.append(lambda exchange, body: {**body, "data": []})
    assert await gateway.invoice_for_payment_intent("pi_456") is None


async def test_pay_invoice(gateway: StripeGateway, recorder: RecordingHTTPClient) -> None:
    invoice = await gateway.pay_invoice("in_123", idempotency_key="k:dunning:2")
    assert invoice.id
    (request,) = recorder.take()
    assert (request.method, request.path) == ("POST", "/v1/invoices/in_123/pay")
    assert request.idempotency_key == "k:dunning:2"


async def test_pay_invoice_already_paid(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    recorder.fail_next(
        "POST",
        "/v1/invoices/in_123/pay",
        400,
        type="invalid_request_error",
        code="invoice_not_open",
        message="Invoice is already paid",
    )
    recorder.rewrites.append(lambda exchange, body: {**body, "status": "paid"})
    invoice = await gateway.pay_invoice("in_123", idempotency_key="k:dunning:3")
    assert invoice.status == "paid"
    assert calls(recorder.take()) == [
        ("POST", "/v1/invoices/in_123/pay"),
        ("GET", "/v1/invoices/in_123"),
    ]


async def test_charge_one_off(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    invoice = await gateway.charge_one_off(CUSTOMER, MESSAGE_PACK, 3, idempotency_key="c-1:pack:1")
    assert invoice.status == "paid"
    exchanges = recorder.take()
    lookup, create, item, finalize, pay = exchanges
    assert (lookup.method, lookup.path) == ("GET", "/v1/prices")
    assert lookup.params["lookup_keys[0]"] == MESSAGE_PACK
    assert (create.method, create.path) == ("POST", "/v1/invoices")
    assert create.params == {
        "customer": CUSTOMER,
        "collection_method": "charge_automatically",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
    }
    invoice_id = create.body["id"]
    assert (item.method, item.path) == ("POST", "/v1/invoiceitems")
    assert item.params == {
        "customer": CUSTOMER,
        "invoice": invoice_id,
        "pricing[price]": price_id(MESSAGE_PACK),
        "quantity": "3",
    }
    assert (finalize.method, finalize.path) == ("POST", f"/v1/invoices/{invoice_id}/finalize")
    assert finalize.params == {"auto_advance": "false"}
    assert (pay.method, pay.path) == ("POST", f"/v1/invoices/{invoice_id}/pay")
    assert pay.params == {}
    assert [e.idempotency_key for e in exchanges[1:]] == [
        "c-1:pack:1:invoice",
        "c-1:pack:1:item",
        "c-1:pack:1:finalize",
        "c-1:pack:1:pay",
    ]

    # Retried: the same sub-keys again, so Stripe replays each step.
    await gateway.charge_one_off(CUSTOMER, MESSAGE_PACK, 3, idempotency_key="c-1:pack:1")
    assert [e.idempotency_key for e in posts(recorder.take())] == [
        "c-1:pack:1:invoice",
        "c-1:pack:1:item",
        "c-1:pack:1:finalize",
        "c-1:pack:1:pay",
    ]


async def test_charge_one_off_to_the_subscriptions_card(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    """A customer converted in Checkout has its card on the subscription only: the pack is
    paid with that card, named in the pay request."""
    await gateway.charge_one_off(
        CUSTOMER, MESSAGE_PACK, 1, idempotency_key="c-1:pack:3", payment_method="pm_sub_card"
    )
    pay = recorder.take()[-1]
    assert pay.path.endswith("/pay") and pay.params == {"payment_method": "pm_sub_card"}


async def test_charge_one_off_declined_voids_the_invoice(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.fail_next(
        "POST",
        r"/v1/invoices/\w+/pay",
        402,
        type="card_error",
        code="card_declined",
        decline_code="generic_decline",
        message="Your card was declined.",
    )
    with pytest.raises(CardDeclined) as declined:
        await gateway.charge_one_off(CUSTOMER, MESSAGE_PACK, 1, idempotency_key="c-1:pack:2")
    assert declined.value.decline_code == "generic_decline"
    create, _item, _finalize, pay, void = posts(recorder.take())
    invoice_id = create.body["id"]
    assert pay.status == 200  # stripe-mock accepted it; the decline is scripted
    assert (void.path, void.idempotency_key) == (
        f"/v1/invoices/{invoice_id}/void",
        "c-1:pack:2:void",
    )
    assert void.params == {}


async def test_charge_one_off_without_payment_method_voids_the_invoice(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    recorder.fail_next(
        "POST",
        r"/v1/invoices/\w+/pay",
        400,
        type="invalid_request_error",
        message="This customer has no attached payment source or default payment method.",
    )
    with pytest.raises(PaymentMethodRequired):
        await gateway.charge_one_off(
            CUSTOMER_WITHOUT_PM, MESSAGE_PACK, 1, idempotency_key="c-9:pack:1"
        )
    assert [e.path.rsplit("/", 1)[1] for e in posts(recorder.take())] == [
        "invoices",
        "invoiceitems",
        "finalize",
        "pay",
        "void",
    ]


async def test_charge_one_off_paid_by_credit_is_not_paid_again(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    def covered_by_credit(exchange: Exchange, body: Any) -> Any:
        if exchange.path.endswith("/finalize"):
            return {**body, "status": "paid", "amount_due": 0}
        return None

    recorder.rewrites.append(covered_by_credit)
    invoice = await gateway.charge_one_off(CUSTOMER, MESSAGE_PACK, 1, idempotency_key="c-1:pack:3")
    assert invoice.status == "paid"
    assert [e.path.rsplit("/", 1)[1] for e in posts(recorder.take())] == [
        "invoices",
        "invoiceitems",
        "finalize",
    ]


@pytest.mark.parametrize(
    ("lookup_key", "quantity"), [(EXTRA_CHATBOT, 1), (MESSAGE_PACK, 0), (MESSAGE_PACK, -2)]
)
async def test_charge_one_off_refuses_what_is_not_a_one_off(
    gateway: StripeGateway,
    recorder: RecordingHTTPClient,
    world: FixtureWorld,
    lookup_key: str,
    quantity: int,
) -> None:
    with pytest.raises(PaymentRequestRejected):
        await gateway.charge_one_off(CUSTOMER, lookup_key, quantity, idempotency_key="c-1:pack:4")
    assert posts(recorder.take()) == []


# -- hosted pages -----------------------------------------------------------------------


async def test_create_checkout_session(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    url = await gateway.create_checkout_session(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        success_url="https://app.example.com/billing/done",
        cancel_url="https://app.example.com/billing",
        idempotency_key="k:checkout:1",
        coupon="WELCOME10",
    )
    assert url.startswith("https://")
    (request,) = posts(recorder.take())
    assert request.path == "/v1/checkout/sessions"
    assert request.idempotency_key == "k:checkout:1"
    assert request.params == {
        "mode": "subscription",
        "customer": CUSTOMER,
        "client_reference_id": "c-1",
        "line_items[0][price]": price_id("plan_pro_month"),
        "line_items[0][quantity]": "1",
        "success_url": "https://app.example.com/billing/done",
        "cancel_url": "https://app.example.com/billing",
        "metadata[customer_id]": "c-1",
        "subscription_data[metadata][customer_id]": "c-1",
        "discounts[0][coupon]": "WELCOME10",
    }


def engine_portal(exchange: Exchange, body: Any) -> Any:
    """Stripe holds the engine's portal configuration (besides the Dashboard default)."""
    if exchange.method == "GET" and exchange.path == "/v1/billing_portal/configurations":
        default = body["data"][0]
        ours = {
            **copy.deepcopy(default),
            "id": ENGINE_PORTAL,
            "is_default": False,
            "metadata": {"lifecycle_engine": "portal"},
        }
        body["data"] = [default, ours]
    return body


async def test_create_portal_session_uses_the_engine_configuration(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    recorder.rewrites.append(engine_portal)
    url = await gateway.create_portal_session(
        provider_customer_id=CUSTOMER, return_url="https://app.example.com/billing"
    )
    assert url.startswith("https://")
    lookup, request = recorder.take()
    assert (lookup.method, lookup.path) == ("GET", "/v1/billing_portal/configurations")
    assert lookup.params == {"limit": "100", "active": "true"}
    assert (request.method, request.path) == ("POST", "/v1/billing_portal/sessions")
    assert request.params == {
        "customer": CUSTOMER,
        "return_url": "https://app.example.com/billing",
        "configuration": ENGINE_PORTAL,
    }
    # Looked up once: the configuration is updated in place, its id stays.
    await gateway.create_portal_session(
        provider_customer_id=CUSTOMER, return_url="https://app.example.com/billing"
    )
    (again,) = recorder.take()
    assert again.params["configuration"] == ENGINE_PORTAL


async def test_create_portal_session_without_the_engine_configuration(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    # Raw stripe-mock: only the Dashboard default, which the engine does not use.
    with pytest.raises(PaymentRequestRejected) as caught:
        await gateway.create_portal_session(
            provider_customer_id=CUSTOMER, return_url="https://app.example.com/billing"
        )
    assert caught.value.code == "portal_not_configured"
    assert "sync-catalog" in str(caught.value)
    assert posts(recorder.take()) == []


async def test_price_cache_expires(
    stripe_mock: str, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    # A price replaced by sync-catalog is found again without restarting the worker.
    gateway = StripeGateway(
        "sk_test_123", api_base=stripe_mock, http_client=recorder, price_cache_seconds=0
    )
    for _ in range(2):
        await gateway.create_checkout_session(
            provider_customer_id=CUSTOMER,
            customer_id="c-1",
            price=PRO_MONTH,
            success_url="https://app.example.com/done",
            cancel_url="https://app.example.com/billing",
            idempotency_key="k:checkout:2",
        )
    assert calls(recorder.take()).count(("GET", "/v1/prices")) == 2


# -- requests ---------------------------------------------------------------------------


def test_idempotency_keys_fit_stripes_limit() -> None:
    short = "c-1:convert:1"
    assert idempotency_key(short) == short
    exact = "k" * 255
    assert idempotency_key(exact) == exact
    long_a = "checkout:https://app.example.com/billing/done?" + "a" * 400
    long_b = long_a[:-1] + "b"
    assert len(idempotency_key(long_a)) == 255
    assert idempotency_key(long_a) == idempotency_key(long_a)
    assert idempotency_key(long_a) != idempotency_key(long_b)
    assert idempotency_key(long_a).startswith("checkout:https://app.example.com/billing/done?")


async def test_long_caller_keys_are_digested(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    """A key built from a long return URL: Stripe would refuse it with a 400."""
    long_key = "checkout:https://app.example.com/billing/done?" + "x" * 400
    for key in (long_key, long_key, long_key + "y"):
        await gateway.create_checkout_session(
            provider_customer_id=CUSTOMER,
            customer_id="c-1",
            price=PRO_MONTH,
            success_url="https://app.example.com/billing/done",
            cancel_url="https://app.example.com/billing",
            idempotency_key=key,
        )
    await gateway.attach_payment_method(CUSTOMER, "pm_card_visa", idempotency_key=long_key)
    first, retry, other, attach, default = [e.idempotency_key or "" for e in posts(recorder.take())]
    assert all(len(k) <= 255 for k in (first, retry, other, attach, default))
    assert first == retry != other
    # Sub-keys stay apart: the step is part of what is digested.
    assert len({first, attach, default}) == 3


async def test_every_request_names_the_engine_api_version(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    """The SDK would send its own pin; the parser reads the shapes of STRIPE_API_VERSION."""
    await gateway.get_subscription(SUBSCRIPTION)
    await gateway.attach_payment_method(CUSTOMER, "pm_card_visa", idempotency_key="k:v")
    exchanges = recorder.take()
    assert {e.api_version for e in exchanges} == {STRIPE_API_VERSION}
