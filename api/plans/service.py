"""The catalog as the API shows it: monthly and annual prices and the annual saving."""

from __future__ import annotations

import pycountry

from api.context import AppContext
from api.errors import FieldError, Problem, not_found
from api.plans.schemas import AddonView, CatalogView, PlanView
from core.clock import utcnow
from domain.catalog import Catalog, Plan
from domain.money import currency_code
from domain.regions import region_for, signup_currency
from services.experiments import plans_for_customer, plans_for_visitor


def plan_view(catalog: Catalog, plan: Plan) -> PlanView:
    saving = catalog.annual_saving_cents(plan)
    return PlanView(
        id=plan.id,
        name=plan.name,
        self_serve=plan.self_serve,
        currency=catalog.currency,
        monthly_price_cents=plan.monthly_price_cents,
        annual_price_cents=catalog.annual_price_cents(plan),
        annual_saving_cents=saving,
        annual_saving_percent=catalog.plan_discount_percent if saving is not None else None,
        limits=dict(plan.limits),
        features=list(plan.features),
    )


def catalog_view(catalog: Catalog) -> CatalogView:
    return CatalogView(
        currency=catalog.currency,
        currencies=list(catalog.currencies or (catalog.currency,)),
        annual_discount_percent=catalog.plan_discount_percent,
        plans=[plan_view(catalog, plan) for plan in catalog.plans.values()],
        addons=[
            AddonView(
                id=a.id,
                name=a.name,
                kind=a.kind,
                price_cents=a.price_cents,
                metric=a.metric,
                amount=a.amount,
            )
            for a in catalog.addons.values()
        ],
    )


def _in_currency(catalog: Catalog, currency: str | None) -> Catalog:
    if currency is None:
        return catalog
    try:
        return catalog.in_currency(currency_code(currency))
    except (KeyError, ValueError):
        sold = ", ".join(catalog.currencies or (catalog.currency,))
        raise Problem(
            422,
            f"currency: the catalog is not sold in {currency!r} (currencies: {sold})",
            type="validation-error",
            errors=[FieldError("currency", f"not one of the catalog's currencies: {sold}")],
        ) from None


def _for_country(
    context: AppContext, catalog: Catalog, country: str, currency: str | None
) -> CatalogView:
    """``catalog`` as a visitor from ``country`` is sold it: its region's prices (a region
    wins over an experiment's, as for customers) in ``currency`` or the region's or
    country's own."""
    code = country.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise Problem(
            422,
            f"country: {country!r} is not an ISO 3166-1 alpha-2 country code",
            type="validation-error",
            errors=[FieldError("country", "an ISO 3166-1 alpha-2 code, e.g. 'IN'")],
        )
    region = region_for(context.config.regions, code)
    if region is not None:
        catalog = context.config.catalog
    if currency is None:
        currency = signup_currency(catalog, currency=None, country=code, region=region)
    local = _in_currency(catalog, currency)
    if region is not None:
        local = local.in_book(region.book)
    view = catalog_view(local)
    return view.model_copy(update={"country": code, "region": region.id if region else None})


async def plans_page(
    context: AppContext,
    *,
    visitor_id: str | None,
    customer_id: str | None,
    currency: str | None = None,
    country: str | None = None,
) -> CatalogView:
    """The list catalog, or the one a visitor or a customer is shown (see the route), in
    ``currency`` when given (a customer's own currency otherwise), at ``country``'s
    regional prices when given."""
    if visitor_id is not None and customer_id is not None:
        raise Problem(
            422,
            "customer_id: give either visitor_id or customer_id",
            type="validation-error",
            errors=[FieldError("customer_id", "not together with visitor_id")],
        )
    now = utcnow()
    if customer_id is not None:
        catalog = await plans_for_customer(context.config, context.sessions, customer_id, now)
        if catalog is None:
            raise not_found("customer", customer_id)
        if country is not None:
            raise Problem(
                422,
                "country: a customer's prices follow its own country (PUT its country)",
                type="validation-error",
                errors=[FieldError("country", "not together with customer_id")],
            )
        if currency is not None and currency.lower() != catalog.currency:
            raise Problem(
                422,
                f"currency: the customer pays in {catalog.currency}",
                type="validation-error",
                errors=[FieldError("currency", "a customer's prices are in its own currency")],
            )
        return catalog_view(catalog)
    catalog = context.config.catalog
    if visitor_id is not None:
        catalog = await plans_for_visitor(context.config, context.sessions, visitor_id, now)
    if country is not None:
        return _for_country(context, catalog, country, currency)
    return catalog_view(_in_currency(catalog, currency))
