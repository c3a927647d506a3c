"""The Customer Portal configuration that follows the engine's rules.

Without one, portal sessions use the account's Dashboard default, which may upgrade without
charging, downgrade at once or cancel immediately, none of which the engine expects. The
engine's own configuration is found by its metadata, created by ``lifecycle stripe
sync-catalog`` and updated there in place; the gateway passes its id to every session.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from adapters.payments.stripe.errors import idempotency_key, stripe_errors

if TYPE_CHECKING:
    from stripe import StripeClient
    from stripe.params.billing_portal import (
        ConfigurationCreateParamsFeatures,
        ConfigurationListParams,
        ConfigurationUpdateParamsFeatures,
    )

PORTAL_METADATA_KEY = "lifecycle_engine"
PORTAL_METADATA_VALUE = "portal"
# A digest of the features last written: the configuration as read back omits its
# products unless asked, so this is what tells a changed catalog from an unchanged one.
PORTAL_DIGEST_KEY = "lifecycle_digest"
PORTAL_NAME = "Lifecycle engine"

PortalOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class PortalProduct:
    """A plan's product and its recurring prices (every interval) a customer may switch to."""

    product: str
    prices: tuple[str, ...]


def portal_features(products: Sequence[PortalProduct]) -> ConfigurationCreateParamsFeatures:
    return {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "products": [{"product": p.product, "prices": list(p.prices)} for p in products],
            # An upgrade is invoiced and charged at once, with the proration (as the engine's
            # own upgrades)...
            "proration_behavior": "always_invoice",
            # ...while a cheaper plan or a shorter interval waits for the period end (the
            # engine's downgrades), carried by a subscription schedule.
            "schedule_at_period_end": {
                "conditions": [{"type": "decreasing_item_amount"}, {"type": "shortening_interval"}]
            },
        },
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        "payment_method_update": {"enabled": True},
        "invoice_history": {"enabled": True},
        # The engine owns the customer's profile and pushes it to Stripe; edits made in the
        # portal would be overwritten.
        "customer_update": {"enabled": False},
    }


def _digest(features: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(features, sort_keys=True).encode()).hexdigest()[:16]


def _observed(features: Mapping[str, Any]) -> dict[str, Any]:
    """The rules a configuration (or the parameters creating one) states, in one shape."""
    update = features.get("subscription_update") or {}
    cancel = features.get("subscription_cancel") or {}
    products = update.get("products")
    conditions = (update.get("schedule_at_period_end") or {}).get("conditions") or []
    return {
        "update": bool(update.get("enabled")),
        "allowed": sorted(update.get("default_allowed_updates") or []),
        # Absent unless expanded: compared only when present (the digest covers the rest).
        "products": None
        if products is None
        else sorted((p["product"], tuple(sorted(p.get("prices") or []))) for p in products),
        "proration": update.get("proration_behavior"),
        "at_period_end": sorted(str(c.get("type")) for c in conditions),
        "cancel": bool(cancel.get("enabled")),
        "cancel_mode": cancel.get("mode"),
        "payment_method": bool((features.get("payment_method_update") or {}).get("enabled")),
        "invoices": bool((features.get("invoice_history") or {}).get("enabled")),
        "profile": bool((features.get("customer_update") or {}).get("enabled")),
    }


def is_engine_configuration(configuration: Mapping[str, Any]) -> bool:
    metadata = configuration.get("metadata") or {}
    return metadata.get(PORTAL_METADATA_KEY) == PORTAL_METADATA_VALUE


async def find_portal_configuration(
    client: StripeClient, *, active_only: bool
) -> dict[str, Any] | None:
    """The engine's configuration (its metadata says so), the newest if several."""
    found: list[dict[str, Any]] = []
    starting_after: str | None = None
    while True:
        params: ConfigurationListParams = {"limit": 100}
        if active_only:
            params["active"] = True
        if starting_after is not None:
            params["starting_after"] = starting_after
        with stripe_errors("list portal configurations"):
            page = await client.v1.billing_portal.configurations.list_async(params)
        configurations = [c.to_dict() for c in page.data]
        found.extend(c for c in configurations if is_engine_configuration(c))
        if not page.has_more or not configurations:
            break
        starting_after = str(configurations[-1]["id"])
    found.sort(key=lambda c: (bool(c.get("active")), int(c.get("created") or 0)))
    return found[-1] if found else None


async def sync_portal_configuration(
    client: StripeClient, products: Sequence[PortalProduct]
) -> tuple[str, PortalOutcome]:
    """Create the engine's configuration, or bring the existing one back to these rules."""
    features = portal_features(products)
    digest = _digest(features)
    metadata = {PORTAL_METADATA_KEY: PORTAL_METADATA_VALUE, PORTAL_DIGEST_KEY: digest}
    current = await find_portal_configuration(client, active_only=False)
    if current is None:
        with stripe_errors("create portal configuration"):
            created = await client.v1.billing_portal.configurations.create_async(
                {"name": PORTAL_NAME, "features": features, "metadata": metadata},
                {"idempotency_key": idempotency_key(f"catalog:portal:create:{digest}")},
            )
        return str(created.id), "created"
    configuration_id = str(current["id"])
    wanted = _observed(cast("Mapping[str, Any]", features))
    observed = _observed(current.get("features") or {})
    if observed["products"] is None:
        wanted["products"] = None
    if (
        current.get("active")
        and (current.get("metadata") or {}).get(PORTAL_DIGEST_KEY) == digest
        and observed == wanted
    ):
        return configuration_id, "unchanged"
    with stripe_errors("update portal configuration"):
        await client.v1.billing_portal.configurations.update_async(
            configuration_id,
            {
                "active": True,
                "features": cast("ConfigurationUpdateParamsFeatures", features),
                "metadata": metadata,
            },
            # Keyed by the state it changes: a retry replays, a later change is new.
            {
                "idempotency_key": idempotency_key(
                    f"catalog:portal:{configuration_id}:"
                    f"{current.get('updated') or current.get('created')}:{digest}"
                )
            },
        )
    return configuration_id, "updated"
