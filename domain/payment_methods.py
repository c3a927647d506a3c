"""Which payment methods a Checkout offers a customer, by its currency and billing country.

Stripe's dynamic payment methods choose them in production (the Dashboard's payment method
settings and each method's eligibility rules); this is the same rule written down, so the
simulator's Checkout offers what Stripe would and the engine can say what to expect. Each
method accepts one currency only, and a local method only where it is local:

- ``card``: every currency and country.
- ``sepa_debit``: EUR, customers in the SEPA scheme's countries.
- ``ideal``: EUR, the Netherlands. ``bancontact``: EUR, Belgium. In subscription mode
  Checkout saves either as a SEPA Direct Debit mandate for the renewals.
- ``upi``: INR, India (renewals by UPI AutoPay e-mandate).
- ``boleto`` and ``pix``: BRL, Brazil.

Some methods settle days after the customer completes Checkout (``DELAYED``): the session
completes ``unpaid``, the subscription stays ``incomplete``, and
``checkout.session.async_payment_succeeded`` or ``..._failed`` follows. A boleto is a
voucher the customer pays at a bank or in an app within days; a SEPA debit is collected
by the bank. Pix, UPI, iDEAL and Bancontact confirm while the customer is on the page.
"""

from __future__ import annotations

from dataclasses import dataclass

# The SEPA scheme's countries (European Payments Council): the EU, the rest of the EEA,
# and the non-EEA members Stripe accepts mandates from.
SEPA_COUNTRIES = frozenset(
    {
        # The European Union.
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        # The rest of the EEA.
        "IS", "LI", "NO",
        # Outside the EEA.
        "CH", "GB", "MC", "SM", "AD", "VA",
    }
)  # fmt: skip


@dataclass(frozen=True)
class MethodRule:
    """A payment method and where Stripe offers it: its one currency (None: any) and the
    customers' countries (None: any)."""

    type: str
    currency: str | None = None
    countries: frozenset[str] | None = None
    # Settles days after Checkout completes (Stripe's "delayed notification" methods).
    delayed: bool = False

    def offered(self, currency: str, country: str | None) -> bool:
        if self.currency is not None and currency != self.currency:
            return False
        # A local method needs to know the customer is where it is local.
        return self.countries is None or (country is not None and country in self.countries)


# In the order a Checkout page lists them: the card first, then the local methods.
RULES: tuple[MethodRule, ...] = (
    MethodRule("card"),
    MethodRule("sepa_debit", "eur", SEPA_COUNTRIES, delayed=True),
    MethodRule("ideal", "eur", frozenset({"NL"})),
    MethodRule("bancontact", "eur", frozenset({"BE"})),
    MethodRule("upi", "inr", frozenset({"IN"})),
    MethodRule("boleto", "brl", frozenset({"BR"}), delayed=True),
    MethodRule("pix", "brl", frozenset({"BR"})),
)

DELAYED = frozenset(rule.type for rule in RULES if rule.delayed)
KNOWN = frozenset(rule.type for rule in RULES)


def checkout_methods(currency: str, country: str | None) -> tuple[str, ...]:
    """The payment method types a Checkout in ``currency`` offers a customer billed in
    ``country`` (ISO 3166-1 alpha-2; None: unknown, so only methods valid anywhere)."""
    wanted = currency.lower()
    where = country.upper() if country else None
    return tuple(rule.type for rule in RULES if rule.offered(wanted, where))
