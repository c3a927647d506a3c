"""The payment activities' side of the money-movement freeze (services/freeze.py).

The worker's billing activities get their gateway through ``FreezeGuardedGateway``: a call
that moves money first reads the flag and, while it is on, fails with a retryable error
instead of reaching the provider. Temporal retries the activity; a timed step then stalls
and is retried on the workflow's backoff (workflows/customer/stalls.py) with the same
idempotency key, so the charge happens once, after the freeze is lifted, and no workflow
code changes. Reads, cancellations, pauses and coupons pass (they move no money).
"""

from __future__ import annotations

from typing import Any, cast

from temporalio.exceptions import ApplicationError

from adapters.payments.base import PaymentGateway
from db.engine import SessionFactory
from db.kill_switches import MONEY_MOVEMENT, is_on

MONEY_MOVEMENT_FROZEN = "MoneyMovementFrozen"
# The gateway's calls that charge, or start a charge (a Checkout session takes a card and
# charges it); refunds and one-off charges by name, for the operations to come.
MONEY_METHODS = frozenset(
    {
        "create_subscription",
        "change_price",
        "resume_subscription",
        "pay_invoice",
        "add_subscription_item",
        "charge_one_off",
        "create_checkout_session",
    }
)


def moves_money(name: str) -> bool:
    return name in MONEY_METHODS or "refund" in name or name.startswith("charge")


class FreezeGuardedGateway:
    """Delegates everything to ``inner``; money-moving calls wait for the freeze to end."""

    def __init__(self, inner: PaymentGateway, sessions: SessionFactory) -> None:
        self._inner = inner
        self._sessions = sessions

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not moves_money(name):
            return target

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            async with self._sessions() as session:
                frozen = await is_on(session, MONEY_MOVEMENT)
            if frozen:
                raise ApplicationError(
                    f"money movements are frozen ({name} waits for `lifecycle freeze off`)",
                    type=MONEY_MOVEMENT_FROZEN,
                    non_retryable=False,
                )
            return await target(*args, **kwargs)

        return guarded


def freeze_guarded(gateway: PaymentGateway, sessions: SessionFactory) -> PaymentGateway:
    return cast(PaymentGateway, FreezeGuardedGateway(gateway, sessions))
