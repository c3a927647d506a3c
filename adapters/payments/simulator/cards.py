"""Stripe's test payment methods and how each behaves in the simulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")


AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)

# What a Checkout session made before the methods were chosen per customer offered.
LEGACY_CHECKOUT_METHODS = ("card", "sepa_debit")

# How a payment method behaves beyond declining (``SimPaymentMethod.behavior``).
REQUIRES_AUTHENTICATION = "authentication_required"
DELAYED = "delayed"


@dataclass(frozen=True)
class SimCard:
    brand: str
    last4: str
    # Refused when attached (Stripe checks the card) and on every charge.
    decline: Decline | None = None
    # Attaches fine, but every charge fails.
    charge_decline: Decline | None = None
    # card, a bank debit (sepa_debit) or a local method (``domain.payment_methods``).
    type: str = "card"
    # REQUIRES_AUTHENTICATION: every off-session payment waits for 3-D Secure; DELAYED:
    # a payment stays processing until it settles (``settle_async_payment``).
    behavior: str | None = None

    @property
    def declines_on_attach(self) -> bool:
        return self.decline is not None

    @property
    def declines_on_charge(self) -> Decline | None:
        return self.decline or self.charge_decline


SIM_CARDS: dict[str, SimCard] = {
    "pm_card_visa": SimCard("visa", "4242"),
    "pm_card_mastercard": SimCard("mastercard", "4444"),
    "pm_card_amex": SimCard("amex", "8431"),
    "pm_card_chargeDeclined": SimCard("visa", "0002", decline=GENERIC_DECLINE),
    "pm_card_chargeDeclinedInsufficientFunds": SimCard(
        "visa",
        "9995",
        decline=Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    "pm_card_chargeDeclinedExpiredCard": SimCard(
        "visa", "0069", decline=Decline("expired_card", "expired_card", "Your card has expired.")
    ),
    "pm_card_chargeDeclinedProcessingError": SimCard(
        "visa",
        "0119",
        decline=Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
    "pm_card_chargeCustomerFail": SimCard("visa", "0341", charge_decline=GENERIC_DECLINE),
    # 4000 0027 6000 3184: authentication on every payment, so renewals need the customer.
    "pm_card_authenticationRequired": SimCard("visa", "3184", behavior=REQUIRES_AUTHENTICATION),
    # A SEPA Direct Debit mandate (IBAN DE89 3704 0044 0532 0130 00): accepted at once,
    # paid or failed days later.
    "pm_sepaDebit": SimCard("sepa_debit", "3000", type="sepa_debit", behavior=DELAYED),
    # Local methods (``domain.payment_methods``), each offered only where it is local. The
    # customer confirms iDEAL, Bancontact, UPI and Pix on the page; a boleto is a voucher
    # paid days later. (Stripe saves iDEAL and Bancontact as a SEPA Direct Debit mandate
    # for the renewals; the simulator charges them as they are.)
    "pm_ideal": SimCard("ideal", "", type="ideal"),
    "pm_bancontact": SimCard("bancontact", "", type="bancontact"),
    "pm_upi": SimCard("upi", "", type="upi"),
    "pm_boleto": SimCard("boleto", "", type="boleto", behavior=DELAYED),
    "pm_pix": SimCard("pix", "", type="pix"),
}


def local_method_details(type_: str, source: str) -> dict[str, object] | None:
    """The type's own object on a local payment method as Stripe renders it (None for a
    card or a SEPA debit, rendered with the payment method)."""
    fingerprint = f"fp_{source}"
    details: dict[str, dict[str, object]] = {
        "ideal": {"bank": "ing", "bic": "INGBNL2A"},
        "bancontact": {},
        "upi": {"vpa": "payer@upi"},
        # A CPF (Brazil's individual taxpayer number), Stripe's test value.
        "boleto": {"tax_id": "00000000000"},
        "pix": {"fingerprint": fingerprint},
    }
    return details.get(type_)
