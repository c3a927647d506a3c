"""The catalog as the API shows it: monthly and annual prices and the annual saving."""

from __future__ import annotations

from api.plans.schemas import AddonView, CatalogView, PlanView
from domain.catalog import Catalog, Plan


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
        annual_saving_percent=catalog.annual_discount_percent if saving is not None else None,
        limits=dict(plan.limits),
        features=list(plan.features),
    )


def catalog_view(catalog: Catalog) -> CatalogView:
    return CatalogView(
        currency=catalog.currency,
        annual_discount_percent=catalog.annual_discount_percent,
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
