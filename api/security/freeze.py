"""The API's side of the money-movement freeze (services/freeze.py): the commands that
move money answer 503 while it is on.

Added to the routers that hold such commands (``include_router(..., dependencies=...)``
in api/app.py); it authenticates first (the same cached dependency the route uses), so an
anonymous caller learns nothing of the freeze, then checks the flag only on the commands
listed here. A new money-moving route goes in ``MONEY_ROUTES`` (or declares
``Depends(money_may_move)`` itself).
"""

from __future__ import annotations

from fastapi import Request, Security

from api.auth import Principal, authenticate
from api.errors import Problem
from services.freeze import freeze_state

# (method, route template): converting or changing a plan (charges the proration now),
# add-ons, Checkout (takes a card and charges it), resuming a paused subscription, a new
# card (pays the open invoice of dunning), an experiment's release to today's price.
MONEY_ROUTES = frozenset(
    {
        ("POST", "/v1/customers/{customer_id}/subscription"),
        ("POST", "/v1/customers/{customer_id}/addons"),
        ("POST", "/v1/customers/{customer_id}/checkout-session"),
        ("POST", "/v1/customers/{customer_id}/resume"),
        ("PUT", "/v1/customers/{customer_id}/payment-method"),
        ("POST", "/v1/admin/experiments/{experiment_id}/customers/{customer_id}/migrate"),
    }
)
RETRY_AFTER_SECONDS = 300


def _moves_money(request: Request) -> bool:
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return False
    if (request.method, template) in MONEY_ROUTES:
        return True
    # Refunds and admin charges, whichever router declares them.
    return template.startswith("/v1/admin/") and ("refund" in template or "charge" in template)


async def money_may_move(request: Request, _principal: Principal = Security(authenticate)) -> None:
    if not _moves_money(request):
        return
    state = await freeze_state(request.app.state.context.sessions)
    if state.active:
        raise Problem(
            503,
            # The reason stays with admins: it may name the incident.
            "money movements are frozen by an operator; retry later",
            type="money-movement-frozen",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            extra={"frozen_since": state.changed_at.isoformat() if state.changed_at else None},
        )
