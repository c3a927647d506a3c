"""A consistent world on top of stripe-mock's fixtures, for the gateway's contract tests.

stripe-mock answers with fixture objects whatever was asked: a price without a lookup key,
a subscription whose period ends before it starts, and a schedule on every subscription it
expands. ``FixtureWorld`` adjusts those *responses* into the world the engine expects (one
customer on Starter monthly paying with ``pm_card_visa``, one subscription with a pending
change to Pro, add-on items when a test puts them in ``addon_items``); requests reach
stripe-mock untouched.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from tests.factories.stripe_mock import Exchange, walk

STARTER_MONTH = PriceRef("starter", BillingInterval.MONTH)
PRO_MONTH = PriceRef("pro", BillingInterval.MONTH)
PRO_YEAR = PriceRef("pro", BillingInterval.YEAR)

PERIOD_START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
PERIOD_END = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
NEXT_PERIOD_END = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())

CUSTOMER = "cus_engine_1"
CUSTOMER_WITHOUT_PM = "cus_without_pm"
SUBSCRIPTION = "sub_engine_1"
SCHEDULED_SUBSCRIPTION = "sub_with_pending_change"
PENDING_SCHEDULE = "sub_sched_pending"
PLAN_ITEM = "si_plan_item"
DEFAULT_PAYMENT_METHOD = "pm_card_visa"


def price_id(lookup_key: str) -> str:
    return f"price_{lookup_key}"


def addon_item_id(lookup_key: str) -> str:
    return f"si_{lookup_key}"


def lookup_key_of(price: str) -> str | None:
    key = price.removeprefix("price_")
    return key if key.startswith(("plan_", "addon_")) else None


class FixtureWorld:
    """Makes stripe-mock's fixtures consistent with one engine customer."""

    def __init__(self) -> None:
        self.released: set[str] = set()
        self._price_template: dict[str, Any] | None = None
        # Add-on items every subscription carries besides its plan item: lookup key ->
        # (quantity, metadata). Their ids are ``addon_item_id(lookup_key)``.
        self.addon_items: dict[str, tuple[int, dict[str, str]]] = {}

    def price(self, lookup_key: str, template: dict[str, Any]) -> dict[str, Any]:
        price = copy.deepcopy(template)
        price.update(id=price_id(lookup_key), lookup_key=lookup_key, active=True)
        interval = lookup_key.rpartition("_")[2]
        if interval in ("month", "year"):
            price["type"] = "recurring"
            price["recurring"] = dict(price.get("recurring") or {}, interval=interval)
        else:
            price.update(type="one_time", recurring=None)
        return price

    def __call__(self, exchange: Exchange, body: Any) -> Any:
        if exchange.method == "POST" and exchange.path.endswith("/release"):
            self.released.add(exchange.path.split("/")[3])
        if exchange.method == "POST" and exchange.path.startswith("/v1/subscription_items"):
            self._item_written(exchange)
        if exchange.method == "POST" and exchange.path.startswith("/v1/invoices/"):
            # The fixture invoice stays a draft whatever happens to it.
            action = exchange.path.rsplit("/", 1)[1]
            status = {"finalize": "open", "pay": "paid", "void": "void"}.get(action)
            if status is not None:
                body["status"] = status
        if exchange.method == "GET" and exchange.path == "/v1/prices":
            template = body["data"][0]
            keys = [v for k, v in exchange.params.items() if k.startswith("lookup_keys[")]
            body["data"] = [self.price(key, template) for key in keys]
            return body
        if exchange.method == "GET" and exchange.path.startswith("/v1/prices/"):
            key = lookup_key_of(body["id"])
            return self.price(key, body) if key else body
        walk(body, self._visit)
        return body

    def _item_written(self, exchange: Exchange) -> None:
        """An add-on item created or updated: later subscriptions carry it so."""
        params = exchange.params
        metadata = {
            k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")
        }
        if exchange.path == "/v1/subscription_items":
            key = lookup_key_of(params["price"])
            if key is not None:
                self.addon_items[key] = (int(params.get("quantity") or 1), metadata)
            return
        item_id = exchange.path.rsplit("/", 1)[1]
        for key, (quantity, known) in list(self.addon_items.items()):
            if addon_item_id(key) == item_id:
                self.addon_items[key] = (
                    int(params.get("quantity") or quantity),
                    {**known, **metadata},
                )

    def _visit(self, obj: dict[str, Any]) -> None:
        kind = obj.get("object")
        if kind == "subscription":
            self._subscription(obj)
        elif kind == "subscription_schedule":
            self._schedule(obj)
        elif kind == "customer":
            settings = obj.get("invoice_settings")
            if isinstance(settings, dict):
                method = settings.get("default_payment_method")
                if obj.get("id") == CUSTOMER_WITHOUT_PM:
                    settings["default_payment_method"] = None
                elif isinstance(method, dict):
                    # Expanded (``expand=invoice_settings.default_payment_method``).
                    method["id"] = DEFAULT_PAYMENT_METHOD
                else:
                    settings["default_payment_method"] = DEFAULT_PAYMENT_METHOD

    def _subscription(self, sub: dict[str, Any]) -> None:
        items = (sub.get("items") or {}).get("data") or []
        for item in items:
            item["id"] = PLAN_ITEM
            item["current_period_start"] = PERIOD_START
            item["current_period_end"] = PERIOD_END
            price = item["price"]
            price.update(id=price_id(STARTER_MONTH.lookup_key), lookup_key=STARTER_MONTH.lookup_key)
        if items:
            plan_item = items[0]
            for key, (quantity, metadata) in self.addon_items.items():
                addon = copy.deepcopy(plan_item)
                addon.update(
                    id=addon_item_id(key),
                    price=self.price(key, plan_item["price"]),
                    quantity=quantity,
                    metadata=dict(metadata),
                )
                items.append(addon)
        if sub.get("id") == SCHEDULED_SUBSCRIPTION and PENDING_SCHEDULE not in self.released:
            schedule = sub.get("schedule")
            if isinstance(schedule, dict):
                schedule["id"] = PENDING_SCHEDULE
            else:
                sub["schedule"] = PENDING_SCHEDULE
        else:
            # stripe-mock expands a fixture schedule on every subscription.
            sub["schedule"] = None

    def _schedule(self, schedule: dict[str, Any]) -> None:
        phase = copy.deepcopy(schedule["phases"][0])
        phase.update(start_date=PERIOD_START, end_date=PERIOD_END)
        phase["items"] = [{**phase["items"][0], "price": price_id(STARTER_MONTH.lookup_key)}]
        phases = [phase]
        if schedule.get("id") == PENDING_SCHEDULE:
            upcoming = copy.deepcopy(phase)
            upcoming.update(start_date=PERIOD_END, end_date=NEXT_PERIOD_END)
            upcoming["items"] = [{**phase["items"][0], "price": price_id(PRO_MONTH.lookup_key)}]
            phases.append(upcoming)
        schedule.update(
            phases=phases,
            status="active",
            current_phase={"start_date": PERIOD_START, "end_date": PERIOD_END},
        )
