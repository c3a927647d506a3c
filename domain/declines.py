"""Card declines the issuer will not reverse on a retry (Stripe's decline codes).

Retrying such a card is pointless and card networks count it against the merchant (Visa and
Mastercard limit retries of these codes), so dunning waits for a new card instead, and still
ends with the policy's final action when none comes. Every other code (``insufficient_funds``,
``generic_decline``, ``try_again_later``, ``authentication_required``, ...) may pass later.
"""

from __future__ import annotations

HARD_DECLINES = frozenset(
    {
        "card_not_supported",
        "currency_not_supported",
        "expired_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "service_not_allowed",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)


def is_hard_decline(decline_code: str | None) -> bool:
    return decline_code in HARD_DECLINES
