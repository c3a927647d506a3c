"""A trial that changes its currency and then converts in Checkout is billed in the new
currency (Checkout charges the customer's currency of the moment); the workflow's MRR is
the price in that currency, not the sign-up currency's, while its terms (made at sign-up)
are still in the old one."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from db.engine import SessionFactory
from tests.factories.billing import customer_row, invoices_of
from tests.factories.checkout import open_checkout, sign_up_in
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.records import ledger
from tests.factories.responses import ok
from tests.factories.settings import auth
from tests.factories.webhooks import view_of

WAIT = 30.0
# lifecycle.toml: starter is 29 USD a month, 4,400 JPY (a zero-decimal currency).
STARTER_USD, STARTER_JPY = 2900, 4400
# Pro is 99 USD and 8,299 INR (829,900 paise); starter 2,499 INR.
PRO_USD, PRO_INR, STARTER_INR = 9900, 829900, 249900


async def test_checkout_after_a_currency_change_records_the_mrr_in_the_new_currency(
    http: httpx.AsyncClient, sessions: SessionFactory, dev_server_env: WorkflowEnvironment
) -> None:
    customer_id = await sign_up_in(http, email_prefix="fxtrial")
    assert (await view_of(http, customer_id))["currency"] == "usd"
    changed = await http.put(
        f"/v1/customers/{customer_id}/currency", json={"currency": "jpy"}, headers=auth()
    )
    assert ok(changed)["currency"] == "jpy"
    checkout = await open_checkout(http, customer_id)
    await checkout.completed(http, "pm_card_visa")
    await eventually(
        lambda: http.get(f"/v1/customers/{customer_id}", headers=auth()),
        lambda r: r.json()["status"] == "active",
        timeout=WAIT,
    )
    assert [
        (i["currency"], i["amount_paid_cents"]) for i in await invoices_of(http, customer_id)
    ] == [("jpy", STARTER_JPY)]
    row = await eventually(
        lambda: customer_row(sessions, customer_id),
        lambda c: c.mrr_cents in (STARTER_JPY, STARTER_USD),
        timeout=WAIT,
    )
    assert (row.currency, row.mrr_cents) == ("jpy", STARTER_JPY)
    converted = [r for r in await ledger(sessions, customer_id) if r.kind == "trial_converted"]
    assert [r.mrr_delta_cents for r in converted] == [STARTER_JPY]
    await record_customer_history(
        dev_server_env.client, customer_id, "checkout_after_trial_currency_change"
    )


async def test_a_downgrade_after_such_a_checkout_compares_prices_in_the_billed_currency(
    http: httpx.AsyncClient, sessions: SessionFactory, dev_server_env: WorkflowEnvironment
) -> None:
    """Pro bought in INR, then starter: a downgrade, at the period's end. Compared with the
    sign-up (USD) catalog's pro (9,900 cents), starter in paise (249,900) looked like an
    upgrade and was applied at once, with a prorated charge."""
    customer_id = await sign_up_in(http, email_prefix="fxdowngrade")
    changed = await http.put(
        f"/v1/customers/{customer_id}/currency", json={"currency": "inr"}, headers=auth()
    )
    assert ok(changed)["currency"] == "inr"
    checkout = await open_checkout(http, customer_id, plan="pro")
    await checkout.completed(http, "pm_card_visa")
    await eventually(
        lambda: customer_row(sessions, customer_id),
        lambda c: c.status == "active" and c.mrr_cents == PRO_INR,
        timeout=WAIT,
    )
    downgraded = ok(
        await http.post(
            f"/v1/customers/{customer_id}/subscription",
            json={"plan": "starter", "interval": "month"},
            headers=auth(),
        )
    )
    assert downgraded["plan"] == "pro"
    assert downgraded["scheduled_change"] is not None
    assert downgraded["scheduled_change"]["plan"] == "starter"
    assert [
        (i["currency"], i["amount_paid_cents"]) for i in await invoices_of(http, customer_id)
    ] == [("inr", PRO_INR)]
    await record_customer_history(
        dev_server_env.client, customer_id, "downgrade_after_trial_currency_change"
    )
