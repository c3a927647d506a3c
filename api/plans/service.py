"""The catalog as the API shows it: monthly and annual prices and the annual saving."""

from __future__ import annotations

from api.context import AppContext
from api.errors import FieldError, Problem, not_found
from api.plans.schemas import AddonView, CatalogView, PlanView
from core.clock import utcnow
from domain.catalog import Catalog, Plan
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


async def plans_page(
    context: AppContext, *, visitor_id: str | None, customer_id: str | None
) -> CatalogView:
    """The list catalog, or the one a visitor or a customer is shown (see the route)."""
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
        return catalog_view(catalog)
    if visitor_id is not None:
        return catalog_view(
            await plans_for_visitor(context.config, context.sessions, visitor_id, now)
        )
    return catalog_view(context.config.catalog)
