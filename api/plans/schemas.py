"""Response bodies of the public catalog."""

from __future__ import annotations

from pydantic import BaseModel


class PlanView(BaseModel):
    id: str
    name: str
    self_serve: bool
    currency: str
    # None for sales-led plans priced per contract.
    monthly_price_cents: int | None
    annual_price_cents: int | None
    annual_saving_cents: int | None
    annual_saving_percent: int | None
    limits: dict[str, int | None]
    features: list[str]


class AddonView(BaseModel):
    id: str
    name: str
    kind: str
    price_cents: int
    metric: str | None
    amount: int


class CatalogView(BaseModel):
    # Every amount below is in this currency's minor unit (cents; yen for jpy).
    currency: str
    # The currencies the catalog is sold in (``?currency=`` shows it in another).
    currencies: list[str] = []
    # ``?country=``: the country and the region whose prices these are (none: list prices).
    country: str | None = None
    region: str | None = None
    annual_discount_percent: int
    plans: list[PlanView]
    addons: list[AddonView]
