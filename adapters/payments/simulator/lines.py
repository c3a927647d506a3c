"""What a subscription invoices: full periods, prorated price and quantity changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.payments.base import PaymentRequestRejected, ProrationBehavior
from adapters.payments.simulator import render
from adapters.payments.simulator.core import Json, SimulatorCore, new_id
from adapters.payments.simulator.models import SimSubscription
from adapters.payments.simulator.prices import SimPrice
from domain.lifecycle import BillingInterval
from domain.payments import ADDON_PRICE_PREFIX
from domain.proration import (
    prorate_change,
    prorate_cycle_reset,
    remaining_time_description,
    unused_time_description,
)


@dataclass
class Change:
    """The invoice a price change makes now (no lines: nothing to invoice)."""

    lines: list[Json]
    new_period: tuple[datetime, datetime] | None
    next_amount_cents: int
    next_at: datetime


def interval_of(price: SimPrice) -> BillingInterval:
    if price.interval is None:
        raise PaymentRequestRejected(
            f"Price {price.lookup_key} is not recurring", code="parameter_invalid_string"
        )
    return price.interval


def require_quantity(quantity: int) -> None:
    if quantity < 1:
        raise PaymentRequestRejected(
            f"Invalid quantity {quantity}: it must be a positive integer",
            code="parameter_invalid_integer",
        )


def quantity_name(price: SimPrice, quantity: int) -> str:
    """How Stripe names an item in proration lines: ``Extra chatbot``, ``2 \u00d7 Extra
    chatbot``."""
    if quantity == 1:
        return price.product_name
    return f"{quantity} {render.TIMES} {price.product_name}"


class LinesMixin(SimulatorCore):
    def _full_line(
        self,
        invoice_id: str,
        sub: SimSubscription | None,
        item_id: str | None,
        p: SimPrice,
        start: datetime,
        end: datetime,
        quantity: int = 1,
    ) -> Json:
        return render.invoice_line(
            line_id=new_id("il"),
            invoice_id=invoice_id,
            p=p,
            amount_cents=p.amount_cents * quantity,
            description=render.price_description(p, quantity),
            period_start=start,
            period_end=end,
            proration=False,
            subscription_id=sub.id if sub else None,
            subscription_item_id=item_id,
            quantity=quantity,
        )

    def _period_lines(
        self, invoice_id: str, sub: SimSubscription, start: datetime, end: datetime
    ) -> list[Json]:
        """A full period of every recurring item, as a renewal invoices it."""
        lines = [
            self._full_line(
                invoice_id,
                sub,
                sub.plan_item_id,
                self._price(sub.price_lookup_key, sub.currency),
                start,
                end,
            )
        ]
        for item in sub.items or []:
            p = self._price(str(item["price"]), sub.currency)
            if p.interval is not None:
                quantity = int(item.get("quantity") or 1)
                lines.append(self._full_line(invoice_id, sub, item["id"], p, start, end, quantity))
        return lines

    def _recurring_total(self, sub: SimSubscription, plan_price: SimPrice) -> int:
        total = plan_price.amount_cents
        for item in sub.items or []:
            p = self._price(str(item["price"]), sub.currency)
            if p.interval is not None:
                total += p.amount_cents * int(item.get("quantity") or 1)
        return total

    def _addon_price(self, sub: SimSubscription, lookup_key: str, quantity: int) -> SimPrice:
        """The recurring add-on price ``lookup_key``, if it can be added to ``sub``."""
        require_quantity(quantity)
        if not lookup_key.startswith(ADDON_PRICE_PREFIX):
            raise PaymentRequestRejected(
                f"Price {lookup_key} is not an add-on price", code="parameter_invalid_string"
            )
        addon = self._price(lookup_key, sub.currency)
        if addon.interval is None:
            raise PaymentRequestRejected(
                f"Price {lookup_key} is a one-time price: a subscription item takes a "
                "recurring price",
                code="parameter_invalid_string",
            )
        plan = self._price(sub.price_lookup_key, sub.currency)
        if addon.interval != plan.interval:
            # The simulator bills one period per subscription (no mixed intervals).
            raise PaymentRequestRejected(
                f"Price {lookup_key} bills per {addon.interval.value}, the subscription per "
                f"{interval_of(plan).value}: every item must share the plan's interval",
                code="parameter_invalid_string",
            )
        return addon

    def _quantity_change_lines(
        self,
        invoice_id: str,
        sub: SimSubscription,
        item_id: str,
        p: SimPrice,
        old_quantity: int,
        new_quantity: int,
        now: datetime,
    ) -> list[Json]:
        """The proration lines of an item going from ``old_quantity`` (0: a new item) to
        ``new_quantity`` at ``now``, by the second like a price change."""
        end = sub.current_period_end
        result = prorate_change(
            p.amount_cents * old_quantity,
            p.amount_cents * new_quantity,
            sub.current_period_start,
            end,
            now,
        )

        def line(amount: int, description: str, quantity: int) -> Json:
            return render.invoice_line(
                line_id=new_id("il"),
                invoice_id=invoice_id,
                p=p,
                amount_cents=amount,
                description=description,
                period_start=now,
                period_end=end,
                proration=True,
                subscription_id=sub.id,
                subscription_item_id=item_id,
                quantity=quantity,
            )

        lines = []
        if old_quantity:
            lines.append(
                line(
                    result.credit_cents,
                    unused_time_description(quantity_name(p, old_quantity), now),
                    old_quantity,
                )
            )
        lines.append(
            line(
                result.charge_cents,
                remaining_time_description(quantity_name(p, new_quantity), now),
                new_quantity,
            )
        )
        return lines

    def _plan_change(
        self,
        sub: SimSubscription,
        new: SimPrice,
        proration: ProrationBehavior,
        now: datetime,
        invoice_id: str,
    ) -> Change:
        """The lines changing the plan price to ``new`` at ``now`` invoices, and the period
        after it. Same interval: prorated by the second (``always_invoice``) or nothing
        (``none``). Another interval: the cycle restarts now with a full new period, less
        the unused old time unless ``none``."""
        old = self._price(sub.price_lookup_key, sub.currency)
        start, end = sub.current_period_start, sub.current_period_end
        if new.lookup_key == old.lookup_key:
            return Change([], None, self._recurring_total(sub, old), end)
        item = sub.plan_item_id

        def proration_line(p: SimPrice, amount: int, description: str, line_end: datetime) -> Json:
            return render.invoice_line(
                line_id=new_id("il"),
                invoice_id=invoice_id,
                p=p,
                amount_cents=amount,
                description=description,
                period_start=now,
                period_end=line_end,
                proration=True,
                subscription_id=sub.id,
                subscription_item_id=item,
            )

        if new.interval == old.interval:
            if proration == "none":
                return Change([], None, self._recurring_total(sub, new), end)
            result = prorate_change(old.amount_cents, new.amount_cents, start, end, now)
            lines = [
                proration_line(
                    old, result.credit_cents, unused_time_description(old.product_name, now), end
                ),
                proration_line(
                    new,
                    result.charge_cents,
                    remaining_time_description(new.product_name, now),
                    end,
                ),
            ]
            return Change(lines, None, self._recurring_total(sub, new), end)
        result = prorate_cycle_reset(
            old.amount_cents, new.amount_cents, start, end, now, interval_of(new)
        )
        lines = []
        if proration != "none" and result.credit_cents:
            lines.append(
                proration_line(
                    old, result.credit_cents, unused_time_description(old.product_name, now), end
                )
            )
        lines.append(
            self._full_line(invoice_id, sub, item, new, result.period_start, result.period_end)
        )
        return Change(
            lines,
            (result.period_start, result.period_end),
            self._recurring_total(sub, new),
            result.period_end,
        )
