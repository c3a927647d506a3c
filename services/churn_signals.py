"""Telling customers' workflows their new churn risk band (the ``ChurnRisk`` search
attribute an admin filters on in the Temporal Web UI), and sending the proactive offer of
``[save_flow]`` to those turning high-risk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from activities.analytics import TellRisks
from domain.retention import OfferSource, SaveFlow
from services.customer_workflows import signal_customers
from services.offers import make_offers
from workflows.messages import ChurnRiskScored, MakeOffer

HIGH = "high"
# How long a proactive offer can be taken.
OFFER_VALID_FOR = timedelta(days=30)


def risk_teller(client: Client, save_flow: SaveFlow | None = None) -> TellRisks:
    async def tell(changes: Sequence[tuple[str, str]]) -> int:
        """Signal each (customer, band); answers how many workflows heard it. Anything but
        a closed workflow fails the run, which is retried whole (setting a band twice
        changes nothing; an offer is sent once per id, and once per ``proactive_every``)."""
        told = await signal_customers(
            client, "churn_risk", [(cid, ChurnRiskScored(risk=risk)) for cid, risk in changes]
        )
        offer = proactive_offer(save_flow, datetime.now(UTC))
        if offer is not None:
            await make_offers(client, [(cid, offer) for cid, risk in changes if risk == HIGH])
        return len(told)

    return tell


def proactive_offer(save_flow: SaveFlow | None, now: datetime) -> MakeOffer | None:
    """The day's offer to customers turning high-risk, if ``[save_flow]`` has one. Its id
    is the day's: a run retried the same day sends nothing twice, and the workflow keeps
    quiet for ``proactive_every`` whatever the id."""
    if save_flow is None or not save_flow.proactive_coupon or not save_flow.proactive_offer:
        return None
    return MakeOffer(
        offer_id=f"churn:{now.date().isoformat()}",
        source=OfferSource.CHURN_PREVENTION.value,
        headline=save_flow.proactive_offer,
        coupon=save_flow.proactive_coupon,
        expires_at=now + OFFER_VALID_FOR,
        quiet_days=max(1, save_flow.proactive_every.days),
    )
