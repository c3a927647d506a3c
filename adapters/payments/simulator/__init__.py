"""The embedded payment simulator: Stripe's behaviour, state in the app database."""

from adapters.payments.simulator.cards import SIM_CARDS
from adapters.payments.simulator.gateway import SimulatedGateway
from adapters.payments.simulator.prices import resolve_coupon, resolve_price

__all__ = ["SIM_CARDS", "SimulatedGateway", "resolve_coupon", "resolve_price"]
