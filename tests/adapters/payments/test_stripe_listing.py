"""The Stripe gateway's reconciliation listings against stripe-mock: every page is walked
(``starting_after`` the last id of the page before), canceled subscriptions included."""

from __future__ import annotations

from typing import Any

from adapters.payments.stripe_gateway import StripeGateway
from tests.factories.stripe_mock import Exchange, RecordingHTTPClient


def two_pages(path: str) -> Any:
    """The first page of ``path`` says there is more; the page after it does not."""

    def rewrite(exchange: Exchange, body: Any) -> Any:
        if exchange.method == "GET" and exchange.path == path:
            body["has_more"] = "starting_after" not in exchange.params
        return body

    return rewrite


async def test_list_all_invoices_walks_every_page(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    recorder.rewrites.append(two_pages("/v1/invoices"))
    invoices = await gateway.list_all_invoices()
    first, second = recorder.take()
    assert (first.method, first.path, first.params) == ("GET", "/v1/invoices", {"limit": "100"})
    assert second.path == "/v1/invoices"
    assert second.params == {"limit": "100", "starting_after": invoices[len(invoices) // 2 - 1].id}
    assert len(invoices) == 2 * len(first.body["data"])
    assert all(invoice.id.startswith("in_") for invoice in invoices)


async def test_list_all_subscriptions_includes_ended_ones_on_every_page(
    gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    recorder.rewrites.append(two_pages("/v1/subscriptions"))
    subscriptions = await gateway.list_all_subscriptions()
    first, second = recorder.take()
    assert first.params == {"limit": "100", "status": "all"}
    assert second.params["status"] == "all" and "starting_after" in second.params
    assert len(subscriptions) == 2 * len(first.body["data"])
    assert all(sub.id.startswith("sub_") for sub in subscriptions)
