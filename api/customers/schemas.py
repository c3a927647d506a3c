"""Request and response bodies of sign-up and the customer view."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, EmailStr, Field, StrictStr

from api.schemas import RequestBody
from domain.locales import SUPPORTED_LANGUAGES, normalize_locale

_LOCALE_HELP = (
    "The language (and optional region) of the customer's emails, e.g. 'de' or 'pt-BR'; "
    f"languages: {', '.join(SUPPORTED_LANGUAGES)}"
)


# Babel parses it; the canonical spelling (``pt-BR``) is what the customer row keeps.
LocaleCode = Annotated[
    StrictStr, Field(max_length=35, description=_LOCALE_HELP), AfterValidator(normalize_locale)
]


class CustomerCreate(RequestBody):
    external_id: str = Field(min_length=1, max_length=255, description="Your id for the customer")
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)
    locale: LocaleCode | None = None


class LocaleRequest(RequestBody):
    locale: LocaleCode


class CustomerView(BaseModel):
    id: str
    external_id: str
    email: str | None
    name: str | None
    locale: str | None = Field(description="The emails' locale; none means English")
    status: str
    plan: str
    interval: str | None
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    scheduled_change: dict[str, Any] | None
    created_at: datetime
