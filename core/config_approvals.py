"""``[approvals]``: which sensitive admin actions need a second admin key's approval
(maker-checker, ``domain.approvals``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.approvals import Approvals


class ApprovalsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    erasure: bool = False
    limit_overrides_above_plan: bool = False
    # A trial extension of more days than this needs approval (an extension is 1-90 days);
    # leave out for never.
    trial_extensions_beyond_days: int | None = Field(default=None, ge=0, le=90)
    coupon_grants: bool = False

    def to_domain(self) -> Approvals:
        return Approvals(
            erasure=self.erasure,
            limit_overrides_above_plan=self.limit_overrides_above_plan,
            trial_extensions_beyond_days=self.trial_extensions_beyond_days,
            coupon_grants=self.coupon_grants,
        )
