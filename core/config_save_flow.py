"""``[save_flow]``: the offers shown to a customer who asks to cancel, and the proactive
offer the daily churn run sends to customers turning high-risk."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.durations import parse_duration
from domain.retention import MAX_PAUSE_DAYS, MAX_TRIAL_DAYS, SaveFlow


class SaveFlowSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each offer is optional: leave a line out to stop offering it.
    pause_days: int | None = Field(default=None, ge=1, le=MAX_PAUSE_DAYS)
    coupon: str | None = None
    coupon_offer: str | None = Field(default=None, min_length=1, max_length=200)
    extend_trial_days: int | None = Field(default=None, ge=1, le=MAX_TRIAL_DAYS)
    downgrade: bool = False
    proactive_coupon: str | None = None
    proactive_offer: str | None = Field(default=None, min_length=1, max_length=200)
    proactive_every: str = "90d"

    @field_validator("proactive_every")
    @classmethod
    def _every(cls, value: str) -> str:
        parse_duration(value)
        return value

    def coupons(self) -> dict[str, str]:
        """The coupons it names, by key, to check against ``[coupons]``."""
        named = {"coupon": self.coupon, "proactive_coupon": self.proactive_coupon}
        return {key: coupon for key, coupon in named.items() if coupon is not None}

    def to_domain(self) -> SaveFlow:
        return SaveFlow(
            pause_days=self.pause_days,
            coupon=self.coupon,
            coupon_offer=self.coupon_offer,
            extend_trial_days=self.extend_trial_days,
            downgrade=self.downgrade,
            proactive_coupon=self.proactive_coupon,
            proactive_offer=self.proactive_offer,
            proactive_every=parse_duration(self.proactive_every),
        )
