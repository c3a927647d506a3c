"""Request and response bodies of sign-up and the customer view."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BaseModel, EmailStr, Field, StrictStr

from api.schemas import RequestBody
from domain.locales import SUPPORTED_LANGUAGES, normalize_locale
from domain.money import currency_code

_LOCALE_HELP = (
    "The language (and optional region) of the customer's emails, e.g. 'de' or 'pt-BR'; "
    f"languages: {', '.join(SUPPORTED_LANGUAGES)}"
)


# Babel parses it; the canonical spelling (``pt-BR``) is what the customer row keeps.
LocaleCode = Annotated[
    StrictStr, Field(max_length=35, description=_LOCALE_HELP), AfterValidator(normalize_locale)
]


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. 'DE' or 'US'")
    return code


CountryCode = Annotated[
    StrictStr,
    Field(max_length=8, description="ISO 3166-1 alpha-2, e.g. 'IN'"),
    AfterValidator(_country),
]
CurrencyCode = Annotated[
    StrictStr,
    Field(max_length=8, description="ISO 4217, e.g. 'eur'; one the catalog is sold in"),
    AfterValidator(currency_code),
]


class CustomerCreate(RequestBody):
    external_id: str = Field(min_length=1, max_length=255, description="Your id for the customer")
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)
    locale: LocaleCode | None = None
    currency: CurrencyCode | None = Field(
        default=None, description="Default: the country's currency if sold, else the catalog's"
    )
    country: CountryCode | None = Field(default=None, description="The billing country")


class LocaleRequest(RequestBody):
    locale: LocaleCode


class CurrencyRequest(RequestBody):
    currency: CurrencyCode


class CountryRequest(RequestBody):
    country: CountryCode


class RegionRequest(RequestBody):
    region: str | None = Field(
        max_length=64,
        description="A configured region's id, 'none' for list prices, or null to follow the "
        "billing country again",
    )


class CustomerView(BaseModel):
    id: str
    external_id: str
    email: str | None
    name: str | None
    locale: str | None = Field(description="The emails' locale; none means English")
    currency: str | None = Field(
        default=None,
        description="What it pays in (ISO 4217), fixed by its first subscription; none: the "
        "catalog's currency (customers from before currencies)",
    )
    country: str | None = Field(default=None, description="Its billing country (ISO 3166-1)")
    region: str | None = Field(
        default=None, description="The region whose prices it pays (its country's or an admin's)"
    )
    region_override: str | None = Field(
        default=None, description="An admin's region ('none': list prices); null: the country's"
    )
    status: str
    plan: str
    interval: str | None
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    scheduled_change: dict[str, Any] | None
    created_at: datetime
