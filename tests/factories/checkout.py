"""A trial converting through the simulator's Checkout over the API: signed up where its
local methods apply (a SEPA debit in Germany, a boleto in Brazil), its Checkout page, the
method chosen there and, for a method that settles later, the settlement (the test clock's
admin endpoint)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories.customers import unique_email
from tests.factories.settings import ADMIN_KEY, auth

RETURN_URL = "https://app.test/"


async def sign_up_in(
    http: httpx.AsyncClient,
    *,
    country: str | None = None,
    currency: str | None = None,
    locale: str | None = None,
    email_prefix: str = "local",
) -> str:
    """A trial signed up with these (None: left to the engine); its id."""
    extra: dict[str, Any] = {
        k: v
        for k, v in (("country", country), ("currency", currency), ("locale", locale))
        if v is not None
    }
    response = await http.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email(email_prefix), **extra},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@dataclass(frozen=True)
class CheckoutPage:
    customer_id: str
    # The simulator's page: /v1/simulator/checkout/<session id>.
    path: str

    @property
    def session_id(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    async def offered(self, http: httpx.AsyncClient) -> set[str]:
        """The test payment methods the page offers (``pm_...``)."""
        page = await http.get(self.path)
        assert page.status_code == 200, page.text
        return set(re.findall(r"<option>(pm_\w+)</option>", page.text))

    async def complete(self, http: httpx.AsyncClient, payment_method: str) -> httpx.Response:
        """The customer confirms ``payment_method`` on the page (the answer, not checked:
        a refusal is a result too)."""
        return await http.post(f"{self.path}/complete", json={"payment_method": payment_method})

    async def completed(self, http: httpx.AsyncClient, payment_method: str) -> list[str]:
        """Confirmed, and the events the provider sent."""
        response = await self.complete(http, payment_method)
        assert response.status_code == 200, response.text
        events: list[str] = response.json()["events"]
        return events

    async def settle(self, http: httpx.AsyncClient, *, succeeded: bool) -> list[str]:
        """A delayed payment (a SEPA debit, a boleto) collected or returned; the events."""
        response = await http.post(
            f"/v1/admin/test-clock/checkout/{self.session_id}/settle",
            json={"succeeded": succeeded},
            headers=auth(ADMIN_KEY),
        )
        assert response.status_code == 200, response.text
        events: list[str] = response.json()["events"]
        return events


async def open_checkout(
    http: httpx.AsyncClient, customer_id: str, *, plan: str = "starter", interval: str = "month"
) -> CheckoutPage:
    created = await http.post(
        f"/v1/customers/{customer_id}/checkout-session",
        json={"plan": plan, "interval": interval, "return_url": RETURN_URL},
        headers=auth(),
    )
    assert created.status_code == 200, created.text
    return CheckoutPage(customer_id, httpx.URL(created.json()["url"]).path)


async def trial_at_checkout(
    http: httpx.AsyncClient,
    *,
    country: str | None = None,
    currency: str | None = None,
    locale: str | None = None,
    email_prefix: str = "local",
) -> CheckoutPage:
    """A new trial (see ``sign_up_in``) on its Checkout page for the starter plan, monthly."""
    customer_id = await sign_up_in(
        http, country=country, currency=currency, locale=locale, email_prefix=email_prefix
    )
    return await open_checkout(http, customer_id)
