"""``[tax]``: whether tax is charged, the selling legal entity (``[tax.seller]``, printed on
every invoice) and which currencies' prices include tax (``domain.tax.settings``).

    [tax]
    enabled = true
    behavior = "exclusive"
    behavior_by_currency = { eur = "inclusive", gbp = "inclusive" }

    [tax.seller]
    name = "ChatbotCloud Ltd"
    address = ["1 Grand Canal Square", "Dublin D02 P820", "Ireland"]
    country = "IE"
    tax_ids = [{ type = "eu_vat", value = "IE6388047V" }]
    invoice_prefix = "CHAT"
"""

from __future__ import annotations

import re

import pycountry
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.money import currency_code
from domain.tax.calculation import TaxBehavior
from domain.tax.settings import LegalEntity, TaxSettings
from domain.tax.tax_ids import InvalidTaxId, validate_tax_id

# Stripe's invoice prefix: 3-12 upper-case letters or digits.
_PREFIX = re.compile(r"^[A-Z0-9]{3,12}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TaxId(_Strict):
    type: str
    value: str


class _Seller(_Strict):
    name: str = Field(min_length=1)
    address: list[str] = Field(min_length=1)
    country: str
    tax_ids: list[_TaxId] = []
    invoice_prefix: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    @field_validator("invoice_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not _PREFIX.match(value):
            raise ValueError(
                f"{value!r}: Stripe's invoice prefix is 3 to 12 upper-case letters or digits"
            )
        return value

    @field_validator("tax_ids")
    @classmethod
    def _valid_ids(cls, values: list[_TaxId]) -> list[_TaxId]:
        for given in values:
            try:
                validate_tax_id(given.type, given.value)
            except InvalidTaxId as exc:
                raise ValueError(str(exc)) from None
        return values


class TaxSection(_Strict):
    enabled: bool = False
    behavior: TaxBehavior = TaxBehavior.EXCLUSIVE
    behavior_by_currency: dict[str, TaxBehavior] = {}
    seller: _Seller | None = None

    @field_validator("behavior_by_currency")
    @classmethod
    def _currencies(cls, values: dict[str, TaxBehavior]) -> dict[str, TaxBehavior]:
        return {currency_code(code): behavior for code, behavior in values.items()}

    @model_validator(mode="after")
    def _seller_when_enabled(self) -> TaxSection:
        if self.enabled and self.seller is None:
            raise ValueError(
                "tax.seller: charging tax needs the selling entity (name, address, country)"
            )
        return self

    def to_domain(self) -> TaxSettings:
        seller = (
            LegalEntity(
                name=self.seller.name,
                address_lines=tuple(self.seller.address),
                country=self.seller.country,
                tax_ids=tuple(validate_tax_id(t.type, t.value) for t in self.seller.tax_ids),
                invoice_prefix=self.seller.invoice_prefix,
            )
            if self.seller is not None
            else None
        )
        return TaxSettings(
            enabled=self.enabled,
            seller=seller,
            behavior=self.behavior,
            behavior_by_currency=dict(self.behavior_by_currency),
        )
