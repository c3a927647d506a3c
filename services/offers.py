"""Sending offers through customers' workflows (campaigns, churn prevention): each workflow
sends the email and the notice and writes the ledger row itself, once per offer id."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client

from services.customer_workflows import signal_customers
from workflows.messages import MakeOffer


async def make_offers(client: Client, offers: Sequence[tuple[str, MakeOffer]]) -> list[str]:
    """Signal each (customer, offer); answers the customers whose workflow heard it. The
    caller repeats the whole batch on an error: a repeated offer id changes nothing."""
    return await signal_customers(client, "make_offer", offers)
